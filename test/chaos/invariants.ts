import { StepStatus, WorkflowStatus } from "../../src/constants.js";
import type { StepRecord, WorkflowRecord } from "../../src/types.js";
import type { Journal } from "./journal.js";

export interface Violations {
  /** Workflows neither finished nor cancelled once everything had time to settle. */
  lost: number;
  /** A step result written while an earlier one of the same step stood (across generations too). */
  stepsRecordedTwice: number;
  /** Step bodies that started after a cancel was recorded, beyond the one already in flight. */
  stepsAfterCancel: number;
  /** Step bodies that started after the step was recorded (resume or redelivery re-running it). */
  reRunAfterResume: number;
  /** Forks whose reused steps are missing, differ from the original, or were run again. */
  forkMismatches: number;
  /** SUCCESS with an output other than the plan's, or ERROR for a plan that cannot fail. */
  wrongResults: number;
  /** Messages still on the work or dead-letter queue at quiescence. */
  queueLeftovers: number;
  /** Human-readable detail of each violation (first few). */
  details: string[];
}

export interface InvariantInput<P> {
  journal: Journal;
  plans: Map<string, P>;
  records: Map<string, WorkflowRecord | undefined>;
  steps: Map<string, StepRecord[]>;
  forks: { original: string; fork: string; startStep: number }[];
  queueLeftovers: number;
  expectedOutput: (plan: P) => unknown;
  /** Whether an ERROR is one the plan allows (retries can also be used up by crashes, which count as attempts). */
  canFail: (plan: P, record: WorkflowRecord) => boolean;
  decode: (text: string | undefined) => unknown;
}

const TERMINAL: readonly string[] = [WorkflowStatus.SUCCESS, WorkflowStatus.ERROR, WorkflowStatus.CANCELLED, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED];

export function checkInvariants<P>(input: InvariantInput<P>): Violations {
  const { journal } = input;
  const details: string[] = [];
  const note = (text: string) => {
    if (details.length < 20) details.push(text);
  };
  const key = (workflowId: string, functionId: number) => `${workflowId}#${functionId}`;

  // Writes of each step, in time order.
  const writes = new Map<string, typeof journal.writes>();
  for (const w of [...journal.writes].sort((a, b) => a.at - b.at)) {
    const k = key(w.workflowId, w.functionId);
    writes.set(k, [...(writes.get(k) ?? []), w]);
  }
  /** Whether the step stood recorded at `at` (written before, not deleted since). */
  const recordedAt = (workflowId: string, functionId: number, at: number): boolean => {
    let live = false;
    for (const w of writes.get(key(workflowId, functionId)) ?? []) {
      if (w.at >= at) break;
      live = w.kind !== "deleted";
    }
    return live;
  };
  const deletedBefore = (workflowId: string, functionId: number, at: number): boolean =>
    (writes.get(key(workflowId, functionId)) ?? []).some((w) => w.kind === "deleted" && w.at < at);

  let lost = 0;
  let wrongResults = 0;
  for (const [id, plan] of input.plans) {
    const record = input.records.get(id);
    if (!record || !TERMINAL.includes(record.status)) {
      lost++;
      note(`lost: ${id} is ${record?.status ?? "missing"}`);
      continue;
    }
    if (record.status === WorkflowStatus.SUCCESS) {
      const output = input.decode(record.output);
      if (JSON.stringify(output) !== JSON.stringify(input.expectedOutput(plan))) {
        wrongResults++;
        note(`wrong result: ${id} returned ${JSON.stringify(output)}`);
      }
    } else if (record.status === WorkflowStatus.ERROR && !input.canFail(plan, record)) {
      wrongResults++;
      note(`wrong result: ${id} ended in ERROR (${record.error?.message}) but its plan cannot fail`);
    } else if (record.status === WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED) {
      lost++;
      note(`unhealed: ${id} is still MAX_RECOVERY_ATTEMPTS_EXCEEDED after its resume`);
    }
  }

  let stepsRecordedTwice = 0;
  for (const [k, list] of writes) {
    let live = false;
    for (const w of list) {
      if (w.kind === "deleted") live = false;
      else if (live) {
        stepsRecordedTwice++;
        note(`recorded twice: ${k}`);
      } else live = true;
    }
  }
  for (const [id, steps] of input.steps) {
    const ids = steps.map((s) => s.functionId);
    if (new Set(ids).size !== ids.length) {
      stepsRecordedTwice++;
      note(`two records of one step in ${id}`);
    }
  }

  let reRunAfterResume = 0;
  for (const b of journal.bodies) {
    if (recordedAt(b.workflowId, b.functionId, b.at)) {
      reRunAfterResume++;
      note(`re-run: ${b.workflowId} step ${b.functionId} started after it was recorded`);
    }
  }

  // After a recorded cancel (until the next resume), at most the one step already in flight may start.
  let stepsAfterCancel = 0;
  const afterCancel = new Map<string, number>();
  for (const b of journal.bodies) {
    if (!b.cancelledBefore) continue;
    const resumesBefore = journal.events.filter((e) => e.type === "resume" && e.workflowId === b.workflowId && e.startedAt < b.at).length;
    const k = `${b.workflowId}@${resumesBefore}`;
    afterCancel.set(k, (afterCancel.get(k) ?? 0) + 1);
  }
  for (const [k, n] of afterCancel) {
    if (n > 1) {
      stepsAfterCancel += n - 1;
      note(`after cancel: ${n} step bodies started in ${k}`);
    }
  }

  let forkMismatches = 0;
  for (const { original, fork, startStep } of input.forks) {
    const copied = (input.steps.get(fork) ?? []).filter((s) => s.functionId < startStep);
    const source = new Map((input.steps.get(original) ?? []).map((s) => [s.functionId, s]));
    let bad = copied.length !== startStep - 1;
    for (const s of copied) {
      if (s.copiedFrom === undefined && !deletedBefore(fork, s.functionId, Infinity)) bad = true;
      const from = source.get(s.functionId);
      if (s.status === StepStatus.SUCCESS && from?.status === StepStatus.SUCCESS && s.output !== from.output) bad = true;
    }
    const reRun = journal.bodies.some(
      (b) => b.workflowId === fork && b.functionId < startStep && !deletedBefore(fork, b.functionId, b.at),
    );
    if (bad || reRun) {
      forkMismatches++;
      note(`fork mismatch: ${fork} from ${original} at step ${startStep}${reRun ? " (a reused step ran again)" : ""}`);
    }
  }

  return { lost, stepsRecordedTwice, stepsAfterCancel, reRunAfterResume, forkMismatches, wrongResults, queueLeftovers: input.queueLeftovers, details };
}
