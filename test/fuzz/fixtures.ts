import { setTimeout as sleep } from "node:timers/promises";
import { StepStatus, WorkflowStatus } from "../../src/index.js";
import { serialize } from "../../src/serialization.js";
import type { WorkflowRecord } from "../../src/types.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { BodyJournal, BULKY_OUTPUT_CHARS } from "./workflows.js";

/** The workflows a round of cases aims at, each in a state that holds still while the cases run. */
export interface RoundFixtures {
  /** Running: step 1 recorded, step 2's body held at its start (a live claim). */
  running: string;
  /** SUCCESS, four steps. */
  done: string;
  /** ERROR: step 2 failed. */
  failed: string;
  /** PENDING, asleep for an hour after step 1 (its next message is delayed). */
  sleeping: string;
  /** CANCELLED while asleep. */
  cancelled: string;
  /** MAX_RECOVERY_ATTEMPTS_EXCEEDED (marked as a dead letter would), asleep. */
  deadLettered: string;
}

/** Workflows made once per run: their answers are large. */
export interface GlobalFixtures {
  /** SUCCESS with 19 steps of 340 KB: its steps answer is 6.5 MB. */
  bulky: string;
  /** SUCCESS workflows with ~300 KB inputs and outputs: a listing of them is many MB. */
  bigInputs: string[];
}

const TERMINAL: readonly string[] = [WorkflowStatus.SUCCESS, WorkflowStatus.ERROR, WorkflowStatus.CANCELLED, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED];

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`fuzz fixture: timed out waiting for ${what}`);
    await sleep(20);
  }
}

export async function waitTerminal(rt: LocalRuntime, workflowId: string, timeoutMs = 30_000): Promise<string> {
  return until(
    `${workflowId} to finish`,
    async () => {
      const wf = await rt.store.getWorkflow(workflowId);
      return wf && TERMINAL.includes(wf.status) ? wf.status : undefined;
    },
    timeoutMs,
  );
}

async function waitAsleep(rt: LocalRuntime, workflowId: string): Promise<void> {
  await until(`${workflowId} to sleep`, async () => ((await rt.store.countSteps(workflowId)) >= 2 ? true : undefined));
}

export async function makeRoundFixtures(rt: LocalRuntime, journal: BodyJournal, prefix: string): Promise<RoundFixtures> {
  const f: RoundFixtures = {
    running: `${prefix}running`,
    done: `${prefix}done`,
    failed: `${prefix}failed`,
    sleeping: `${prefix}sleeping`,
    cancelled: `${prefix}cancelled`,
    deadLettered: `${prefix}dead`,
  };
  const gate = journal.hold(f.running, 2);
  await Promise.all([
    rt.client.startWorkflow("fuzz.steps", { fixture: "running" }, { workflowId: f.running }).then(() => gate.reached),
    rt.client.startWorkflow("fuzz.steps", { fixture: "done" }, { workflowId: f.done }).then(() => waitTerminal(rt, f.done)),
    rt.client.startWorkflow("fuzz.fails", null, { workflowId: f.failed }).then(() => waitTerminal(rt, f.failed)),
    rt.client.startWorkflow("fuzz.sleeper", null, { workflowId: f.sleeping }).then(() => waitAsleep(rt, f.sleeping)),
    rt.client.startWorkflow("fuzz.sleeper", null, { workflowId: f.cancelled }).then(async () => {
      await waitAsleep(rt, f.cancelled);
      await rt.client.cancelWorkflow(f.cancelled);
    }),
    rt.client.startWorkflow("fuzz.sleeper", null, { workflowId: f.deadLettered }).then(async () => {
      await waitAsleep(rt, f.deadLettered);
      const wf = await rt.store.getWorkflow(f.deadLettered);
      await rt.store.markRecoveryExceeded({
        workflowId: f.deadLettered,
        generation: wf!.generation,
        reason: "fuzz fixture: marked as a dead letter would",
        now: Date.now(),
      });
    }),
  ]);
  return f;
}

export async function makeGlobalFixtures(rt: LocalRuntime, prefix: string, options: { bigInputs: number }): Promise<GlobalFixtures> {
  const g: GlobalFixtures = {
    bulky: `${prefix}bulky`,
    bigInputs: Array.from({ length: options.bigInputs }, (_, i) => `${prefix}big-input-${i}`),
  };
  // Written straight to the store, as the worker would have recorded them: running 19 steps that
  // each replay a growing 6.5 MB history would take most of a small run's time.
  const now = Date.now();
  const finished = (workflowId: string, name: string, input: unknown, output: unknown): WorkflowRecord => ({
    workflowId,
    name,
    status: WorkflowStatus.SUCCESS,
    input: serialize(input, "fixture input"),
    output: serialize(output, "fixture output"),
    createdAt: now,
    updatedAt: now,
    cancelRequested: false,
    generation: 0,
    version: 1,
  });
  await rt.store.createWorkflow(finished(g.bulky, "fuzz.bulky", { steps: 19 }, 19));
  for (let i = 1; i <= 19; i++) {
    const output = String(i % 10).repeat(BULKY_OUTPUT_CHARS);
    await rt.store.putStepIfAbsent({
      workflowId: g.bulky,
      functionId: i,
      name: `bulk${i}`,
      kind: "step",
      status: StepStatus.SUCCESS,
      output: serialize(output, "fixture step"),
      attempts: 1,
      startedAt: now,
      completedAt: now,
    });
  }
  await Promise.all(
    g.bigInputs.map(async (id, i) => {
      const blob = { i, blob: String(i % 10).repeat(300_000) };
      await rt.store.createWorkflow(finished(id, "fuzz.echo", blob, blob));
      await rt.store.putStepIfAbsent({ workflowId: id, functionId: 1, name: "echo", kind: "step", status: StepStatus.SUCCESS, output: "null", attempts: 1, startedAt: now, completedAt: now });
    }),
  );
  return g;
}
