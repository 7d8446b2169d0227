import { FINISHED_STATUSES, StepStatus, WorkflowStatus } from "../../src/constants.js";
import type { QueueDefinition } from "../../src/queues/defineQueue.js";
import type { WorkflowStore } from "../../src/store/WorkflowStore.js";
import type { QueueEntry, QueuePlace, StepRecord, WorkflowRecord } from "../../src/types.js";
import { isPayload, type Journal, type MessageSent, type Payload } from "./journal.js";

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
  /**
   * Step bodies of a cancelled tree (the workflow cancelled, or a descendant its
   * cascade cancelled) that started after `cancel(..., { wait: true })` returned
   * idle, the workflow not resumed since.
   */
  stepsAfterIdleCancel: number;
  /** A parent in SUCCESS whose awaited child is not SUCCESS, or ended with another output than the parent got. */
  childMismatches: number;
  /**
   * Messages delivered that are neither received nor still in their receiver's
   * mailbox; or, for a receiver that finished SUCCESS with every recv of a topic
   * answered and no more messages sent on it than it asked for, not received.
   */
  messagesLost: number;
  /** A recv that timed out although a message of its topic had been waiting in the mailbox for a while. */
  messagesMissed: number;
  /** A message received by two recvs (of any workflows), or received without having been sent. */
  messagesReceivedTwice: number;
  /** A receiver got a sender's messages of one topic out of send order, or skipped one. */
  messagesOutOfOrder: number;
  /** A client message sent several times with one idempotency key and received more than once. */
  clientDuplicates: number;
  /** An event whose latest value (client.getEvent) is not the last one its workflow set, or a ctx.getEvent that read a value never set. */
  eventMismatches: number;
  /**
   * Events of a fork whose last setEvent is a copy of the original's (before the
   * fork's start step), and whose value the fork does not have. DBOS copies those
   * events with the steps; Cairn's fork copies only the step records. Counted
   * apart, and not failing the run, until it is decided whether a fork inherits
   * its original's events (see the chaos report that found it).
   */
  forkEventsNotCopied: number;
  /**
   * Samples (one per queue place and look) in which a queue, or a partition of a
   * partitioned queue, had more workflows holding a slot of their current
   * generation (admitted and not finished: PENDING, or admitted and not yet
   * started) than its concurrency. Workflows resumed without a queue run past it
   * and hold none: they do not count.
   */
  queueLimitExceeded: number;
  /** Windows of `periodMs` with more than `limit` admissions into a rate-limited queue (place). */
  rateLimitExceeded: number;
  /**
   * An admission that passed over a workflow waiting before it (lower priority
   * number, or same priority and enqueued earlier), whose entry was in the line
   * before the admission pass read it and which nobody cancelled or resumed meanwhile.
   */
  priorityInversions: number;
  /**
   * A workflow seen PENDING while still marked waiting in a line, or PENDING in a
   * generation that entered a queue's line without holding that queue's slot.
   */
  runWithoutAdmission: number;
  /**
   * A start with a deduplication id that was refused although its holder was
   * finished or resumed throughout (or naming another workflow than the holder), or that
   * went through although its holder was ENQUEUED or PENDING in its first run throughout; or a
   * deduplication id still held once everything had finished.
   */
  dedupMismatches: number;
  /** Slots and waiting entries left in the queues once everything finished (and admission passes ran). */
  queueSlotsLeft: number;
  /** Workflows whose record, at the end, names another queue place or priority than the line it last entered. */
  queueRecordMismatches: number;
  /** Human-readable detail of each violation (first few). */
  details: string[];
}

/** The latest value of one event of one workflow, read with client.getEvent after quiescence. */
export interface EventRead {
  workflowId: string;
  key: string;
  value: unknown;
}

export interface InvariantInput<P> {
  journal: Journal;
  plans: Map<string, P>;
  records: Map<string, WorkflowRecord | undefined>;
  steps: Map<string, StepRecord[]>;
  forks: { original: string; fork: string; startStep: number }[];
  /** The messages left in each workflow's mailbox at the end. */
  mailboxes: Map<string, Payload[]>;
  eventsRead: EventRead[];
  queueLeftovers: number;
  expectedOutput: (plan: P) => unknown;
  /** Whether an ERROR is one the plan allows (retries can also be used up by crashes, which count as attempts). */
  canFail: (plan: P, record: WorkflowRecord) => boolean;
  decode: (text: string | undefined) => unknown;
  /** The queue checks' input (omitted: no queues in the run). */
  queues?: QueueCheckInput;
}

export interface QueueCheckInput {
  definitions: readonly QueueDefinition[];
  meter: QueueMeter;
  /** Slots and entries of every queue place at the end. */
  leftovers: { place: QueuePlace; waiting: number; slots: number }[];
}

const TERMINAL: readonly string[] = [WorkflowStatus.SUCCESS, WorkflowStatus.ERROR, WorkflowStatus.CANCELLED, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED];

/** How long a message must have waited in a mailbox before a recv of its topic timing out counts as missing it (the recv's look precedes its record). */
const MISSED_SLACK_MS = 2_000;

export function checkInvariants<P>(input: InvariantInput<P>): Violations {
  const { journal } = input;
  const details: string[] = [];
  const note = (text: string) => {
    if (details.length < 30) details.push(text);
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
  /** Whether the store resumed the workflow (itself, or in a cascade) between `from` and `to`. */
  const resumedBetween = (workflowId: string, from: number, to: number): boolean =>
    journal.resumesApplied.some((r) => r.workflowId === workflowId && r.at >= from && r.at < to);

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
      note(`wrong result: ${id} ended in ERROR (${record.error?.name}: ${record.error?.message}) but its plan cannot fail so`);
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
    const resumesBefore = journal.resumesApplied.filter((r) => r.workflowId === b.workflowId && r.at < b.at).length;
    const k = `${b.workflowId}@${resumesBefore}`;
    afterCancel.set(k, (afterCancel.get(k) ?? 0) + 1);
  }
  for (const [k, n] of afterCancel) {
    if (n > 1) {
      stepsAfterCancel += n - 1;
      note(`after cancel: ${n} step bodies started in ${k}`);
    }
  }

  // Once cancel(..., { wait: true }) returned idle, nothing of the tree it cancelled runs a step until resumed.
  let stepsAfterIdleCancel = 0;
  for (const e of journal.events) {
    if (e.type !== "cancel" || !e.ok || e.idle !== true) continue;
    // The workflow, unless it had ended before (its descendants are cancelled all the same).
    const members = new Set([...(e.status === WorkflowStatus.CANCELLED ? [e.workflowId] : []), ...(e.cancelledDescendants ?? [])]);
    for (const b of journal.bodies) {
      if (!members.has(b.workflowId) || b.at <= e.endedAt || resumedBetween(b.workflowId, e.startedAt, b.at)) continue;
      stepsAfterIdleCancel++;
      note(`after idle cancel: ${b.workflowId} step ${b.functionId} started ${b.at - e.endedAt} ms after the cancel of ${e.workflowId} returned idle`);
    }
    // Operations other than steps take no claim, so the wait does not cover them: noted, not counted.
    for (const w of journal.writes) {
      if (w.kind !== "recorded" || w.op === "step" || !members.has(w.workflowId) || w.at <= e.endedAt || resumedBetween(w.workflowId, e.startedAt, w.at)) continue;
      note(`(info) ${w.op} ${w.workflowId}#${w.functionId} recorded ${w.at - e.endedAt} ms after the cancel of ${e.workflowId} returned idle`);
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

  // A parent that finished SUCCESS got each awaited child's output, and that child ended SUCCESS with it.
  // (A parent that caught its child's error may finish SUCCESS too; then the child must have failed, or
  // been cancelled on its own: a cascade from above is undone by the resume that brings the parent back.)
  let childMismatches = 0;
  for (const [id, steps] of input.steps) {
    if (input.records.get(id)?.status !== WorkflowStatus.SUCCESS) continue;
    for (const s of steps) {
      if ((s.kind !== "getResult" && s.kind !== "invoke") || s.childWorkflowId === undefined) continue;
      const child = input.records.get(s.childWorkflowId);
      if (s.status === StepStatus.ERROR) {
        if (s.error?.name === "WorkflowCancelledError" && !cancelledApart(journal, s.childWorkflowId, id)) {
          childMismatches++;
          note(`child mismatch: ${id} step ${s.functionId} (${s.kind}) got WorkflowCancelledError from ${s.childWorkflowId}, which only a cancel of ${id} itself cancelled (it is ${child?.status} now)`);
        }
        continue;
      }
      if (child?.status !== WorkflowStatus.SUCCESS || child.output !== s.output) {
        childMismatches++;
        note(
          `child mismatch: ${id} step ${s.functionId} (${s.kind}, ${s.status}) got ${s.output ?? s.error?.name} from ${s.childWorkflowId}, which is ${child?.status ?? "unknown"} with ${child?.output}`,
        );
      }
    }
  }

  const messages = checkMessages(input, note);
  const events = checkEvents(input, note);
  const queues = checkQueues(journal, input.queues, input.records, note);

  return {
    lost,
    stepsRecordedTwice,
    stepsAfterCancel,
    reRunAfterResume,
    forkMismatches,
    wrongResults,
    queueLeftovers: input.queueLeftovers,
    stepsAfterIdleCancel,
    childMismatches,
    ...messages,
    ...events,
    ...queues,
    details,
  };
}

/**
 * Whether a cancel that did not cancel `waiter` cancelled `child` (a cancel of
 * the child itself, or a cascade from an ancestor the waiter does not share, as
 * when a fork waits for a child it reused from its original). A waiter may then
 * get WorkflowCancelledError from the child; from a cancel that reached the
 * waiter too, it may not: the resume that brings the waiter back brings back
 * the child first.
 */
export function cancelledApart(journal: Journal, child: string, waiter: string): boolean {
  return journal.events.some((e) => {
    if (e.type !== "cancel" || !e.ok) return false;
    const members = [...(e.status === WorkflowStatus.CANCELLED ? [e.workflowId] : []), ...(e.cancelledDescendants ?? [])];
    return members.includes(child) && !members.includes(waiter);
  });
}

/**
 * The message invariants. Every message carries a unique `mid`; the journal
 * knows every one delivered (a workflow's recorded send, a client send that
 * delivered) and every recv recorded (with the message its record holds), and
 * the mailboxes hold what is left at the end.
 */
function checkMessages<P>(
  input: InvariantInput<P>,
  note: (text: string) => void,
): Pick<Violations, "messagesLost" | "messagesMissed" | "messagesReceivedTwice" | "messagesOutOfOrder" | "clientDuplicates"> {
  const { journal } = input;
  const received = journal.received.filter((r) => r.payload !== undefined);
  const byMid = new Map<string, typeof received>();
  for (const r of received) byMid.set(r.payload!.mid, [...(byMid.get(r.payload!.mid) ?? []), r]);
  const sentByMid = new Map<string, MessageSent>();
  for (const s of journal.sent) {
    // A client message is delivered once per idempotency key: its copies share a mid.
    if (!sentByMid.has(s.mid)) sentByMid.set(s.mid, s);
  }
  const left = new Map<string, Set<string>>();
  for (const [id, payloads] of input.mailboxes) left.set(id, new Set(payloads.map((p) => p.mid)));

  // Received at most once, and only what was sent; a client key at most once.
  let messagesReceivedTwice = 0;
  let clientDuplicates = 0;
  for (const [mid, list] of byMid) {
    if (list.length > 1) {
      if (mid.startsWith("client:")) clientDuplicates++;
      else messagesReceivedTwice++;
      note(`received ${list.length} times: ${mid} by ${list.map((r) => `${r.workflowId}#${r.functionId}`).join(", ")}`);
    }
    if (!sentByMid.has(mid)) {
      messagesReceivedTwice++;
      note(`received but never sent: ${mid} by ${list[0]!.workflowId}#${list[0]!.functionId}`);
    }
  }
  // The final records say the same: no two recv records (copies of a fork aside) hold one message.
  const inRecords = new Map<string, string[]>();
  for (const [id, steps] of input.steps) {
    for (const s of steps) {
      if (s.kind !== "recv" || s.copiedFrom !== undefined || s.timedOut) continue;
      const payload = input.decode(s.output);
      if (isPayload(payload)) inRecords.set(payload.mid, [...(inRecords.get(payload.mid) ?? []), `${id}#${s.functionId}`]);
    }
  }
  for (const [mid, where] of inRecords) {
    if (where.length > 1 && (byMid.get(mid)?.length ?? 0) <= 1) {
      if (mid.startsWith("client:")) clientDuplicates++;
      else messagesReceivedTwice++;
      note(`two recv records hold ${mid}: ${where.join(", ")}`);
    }
  }
  for (const c of journal.clientSends) {
    if (c.ok !== c.copies) note(`(info) client send of ${c.key} to ${c.to}: ${c.copies - c.ok} of ${c.copies} calls failed`);
  }

  // Nothing lost: every message delivered is received or still waits in its receiver's mailbox.
  let messagesLost = 0;
  for (const [mid, s] of sentByMid) {
    if (byMid.has(mid) || left.get(s.to)?.has(mid)) continue;
    messagesLost++;
    note(`message lost: ${mid} from ${s.from} to ${s.to} (topic ${s.topic}) is neither received nor in the mailbox`);
  }
  // A receiver that finished SUCCESS, all of whose recvs of a topic got a message, and to which no more
  // messages of that topic were sent than it asked for, received every one of them.
  for (const [id, steps] of input.steps) {
    if (input.records.get(id)?.status !== WorkflowStatus.SUCCESS) continue;
    const recvs = steps.filter((s) => s.kind === "recv" && s.copiedFrom === undefined);
    for (const topic of new Set(recvs.map((s) => s.topic ?? ""))) {
      const asked = recvs.filter((s) => (s.topic ?? "") === topic);
      if (asked.some((s) => s.timedOut)) continue;
      const sentHere = [...sentByMid.values()].filter((s) => s.to === id && s.topic === topic);
      if (sentHere.length > asked.length) continue;
      for (const s of sentHere) {
        if ((byMid.get(s.mid) ?? []).some((r) => r.workflowId === id)) continue;
        messagesLost++;
        note(`message lost: ${s.mid} to ${id} (topic ${topic}) not received, though ${id} finished after ${asked.length} recvs of ${sentHere.length} messages`);
      }
    }
  }

  // No recv times out while a message of its topic waits in the mailbox (only the receiver takes from it).
  let messagesMissed = 0;
  for (const r of journal.received) {
    if (!r.timedOut) continue;
    const waiting = journal.sent.find((s) => {
      if (s.to !== r.workflowId || s.topic !== r.topic || s.at > r.at - MISSED_SLACK_MS) return false;
      const taken = (byMid.get(s.mid) ?? []).filter((x) => x.workflowId === r.workflowId);
      return !taken.some((x) => x.at <= r.at);
    });
    if (waiting) {
      messagesMissed++;
      note(`missed: ${r.workflowId} recv #${r.functionId} (topic ${r.topic}) timed out although ${waiting.mid} had been in its mailbox for ${r.at - waiting.at} ms`);
    }
  }

  // Per receiver, topic and sender, the messages received are the first ones sent, in send order.
  let messagesOutOfOrder = 0;
  const sentSeq = new Map<string, string[]>();
  const order = (s: MessageSent) => s.functionId ?? s.at;
  for (const s of [...sentByMid.values()].sort((a, b) => order(a) - order(b) || a.at - b.at)) {
    const k = `${s.to}|${s.topic}|${s.from}`;
    sentSeq.set(k, [...(sentSeq.get(k) ?? []), s.mid]);
  }
  const gotSeq = new Map<string, string[]>();
  for (const r of [...received].sort((a, b) => a.at - b.at)) {
    const k = `${r.workflowId}|${r.topic}|${r.payload!.from}`;
    gotSeq.set(k, [...(gotSeq.get(k) ?? []), r.payload!.mid]);
  }
  for (const [k, got] of gotSeq) {
    const expected = (sentSeq.get(k) ?? []).slice(0, got.length);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      messagesOutOfOrder++;
      note(`out of order: ${k} received ${got.join(",")} but sent ${(sentSeq.get(k) ?? []).join(",")}`);
    }
  }

  return { messagesLost, messagesMissed, messagesReceivedTwice, messagesOutOfOrder, clientDuplicates };
}

/** The latest value of each event is the last one set; a ctx.getEvent reads only values that were set. */
function checkEvents<P>(input: InvariantInput<P>, note: (text: string) => void): Pick<Violations, "eventMismatches" | "forkEventsNotCopied"> {
  const { journal } = input;
  let mismatches = 0;
  let forkEventsNotCopied = 0;
  const valueOf = (workflowId: string, functionId: number) =>
    journal.eventSets.filter((e) => e.workflowId === workflowId && e.functionId === functionId).at(-1);
  for (const read of input.eventsRead) {
    const sets = (input.steps.get(read.workflowId) ?? []).filter((s) => s.kind === "setEvent" && s.name === read.key && s.status === StepStatus.SUCCESS);
    const last = sets.reduce<StepRecord | undefined>((a, s) => (!a || s.functionId > a.functionId ? s : a), undefined);
    if (!last) continue;
    // A fork's copied setEvent stands for the original's (DBOS copies a fork's events up to its start step).
    const from = last.copiedFrom ?? read.workflowId;
    const expected = valueOf(from, last.functionId);
    if (!expected) {
      note(`(info) event ${read.workflowId}/${read.key}: no journaled value for step ${last.functionId} of ${from}`);
      continue;
    }
    if (JSON.stringify(read.value) !== JSON.stringify(expected.value)) {
      if (last.copiedFrom !== undefined) {
        forkEventsNotCopied++;
        note(
          `fork event not copied: ${read.workflowId}/${read.key} is ${JSON.stringify(read.value)}, but its last setEvent is step ${last.functionId} copied from ${last.copiedFrom}, which set ${JSON.stringify(expected.value)}`,
        );
        continue;
      }
      mismatches++;
      note(
        `event mismatch: ${read.workflowId}/${read.key} is ${JSON.stringify(read.value)}, but its last setEvent (step ${last.functionId}${last.copiedFrom ? `, copied from ${last.copiedFrom}` : ""}) set ${JSON.stringify(expected.value)}`,
      );
    }
  }
  for (const [id, steps] of input.steps) {
    for (const s of steps) {
      if (s.kind !== "getEvent" || s.timedOut || s.status !== StepStatus.SUCCESS || s.copiedFrom !== undefined) continue;
      const value = JSON.stringify(input.decode(s.output));
      const set = journal.eventSets.filter((e) => e.workflowId === s.targetWorkflowId && e.key === s.name).map((e) => JSON.stringify(e.value));
      if (!set.includes(value)) {
        mismatches++;
        note(`event mismatch: ${id} step ${s.functionId} read ${s.targetWorkflowId}/${s.name} = ${value}, a value never set`);
      }
    }
  }
  return { eventMismatches: mismatches, forkEventsNotCopied };
}

const placeKey = (place: QueuePlace): string => (place.partitionKey === undefined ? place.queueName : `${place.queueName}[${place.partitionKey}]`);
const samePlace = (a: QueuePlace, b: QueuePlace): boolean => a.queueName === b.queueName && a.partitionKey === b.partitionKey;
const ACTIVE: readonly string[] = [WorkflowStatus.ENQUEUED, WorkflowStatus.PENDING];

/**
 * Samples the queues' state throughout a run, reading the store directly (no
 * faults, no journal): each look reads a place's slots, then the records of
 * its slots' workflows, of its line and of every workflow that ever entered it.
 * The slots are read first: a workflow whose record (read after) is in the
 * slot's generation and not finished held the slot all along, so counting those
 * never overcounts, however the reads interleave with admissions.
 */
export class QueueMeter {
  samples = 0;
  /** Looks at one place that saw more than its concurrency. */
  exceeded = 0;
  runWithoutAdmission = 0;
  /** Per place: most workflows holding a slot, most of them PENDING, most PENDING that bypassed the queue (info). */
  readonly most = new Map<string, { holding: number; pending: number; bypassing: number; waiting: number }>();
  /** Per place, the latest look's counts. */
  readonly latest = new Map<string, { holding: number; pending: number; bypassing: number; waiting: number }>();
  /** Workflows seen waiting in a line at the latest look (steering aims at them). */
  waiting = new Set<string>();
  readonly notes: string[] = [];

  constructor(
    private readonly store: Pick<WorkflowStore, "readQueue" | "getWorkflows">,
    private readonly journal: Journal,
    private readonly places: () => { place: QueuePlace; concurrency?: number }[],
  ) {}

  private note(text: string): void {
    if (this.notes.length < 20) this.notes.push(text);
  }

  /** Sample every place until `stop()` is called; returns the stop function and the loop's promise. */
  run(everyMs: number): { stop: () => Promise<void> } {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const began = Date.now();
        try {
          await this.sample();
        } catch (err) {
          this.note(`(info) queue sample failed: ${String(err)}`);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - began))));
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await loop;
      },
    };
  }

  async sample(): Promise<void> {
    const waiting = new Set<string>();
    await Promise.all(this.places().map(async ({ place, concurrency }) => this.look(place, concurrency, waiting)));
    this.waiting = waiting;
    this.samples++;
  }

  private async look(place: QueuePlace, concurrency: number | undefined, waiting: Set<string>): Promise<void> {
    const state = await this.store.readQueue(place, 50);
    const entered = this.journal.queueEnters.filter((e) => samePlace(e.place, place));
    const ids = [...new Set([...state.slots.map((s) => s.workflowId), ...state.entries.map((e) => e.workflowId), ...entered.map((e) => e.workflowId)])];
    const records = await this.store.getWorkflows(ids);
    const holding = state.slots.filter((s) => {
      const wf = records.get(s.workflowId);
      return wf !== undefined && wf.generation === s.generation && !FINISHED_STATUSES.includes(wf.status);
    });
    const pending = holding.filter((s) => records.get(s.workflowId)?.status === WorkflowStatus.PENDING);
    const slotGen = new Map(state.slots.map((s) => [s.workflowId, s.generation]));
    // Entered this place's line in their current generation, PENDING, and without this generation's slot: suspects (checked again below).
    const enteredGen = new Set(entered.map((e) => `${e.workflowId}@${e.entry.generation}`));
    const suspects: WorkflowRecord[] = [];
    let bypassing = 0;
    for (const wf of records.values()) {
      if (wf.queued === true && wf.status === WorkflowStatus.ENQUEUED && ids.includes(wf.workflowId)) {
        if (state.entries.some((e) => e.workflowId === wf.workflowId)) waiting.add(wf.workflowId);
      }
      if (wf.status !== WorkflowStatus.PENDING) continue;
      if (wf.queued === true) {
        // Counted at the place its record names only (it may have entered others before).
        if (wf.queueName !== place.queueName || wf.partitionKey !== place.partitionKey) continue;
        this.runWithoutAdmission++;
        this.note(`run without admission: ${wf.workflowId} is PENDING in generation ${wf.generation} but still marked queued (${placeKey(place)})`);
        continue;
      }
      if (slotGen.get(wf.workflowId) === wf.generation) continue;
      if (enteredGen.has(`${wf.workflowId}@${wf.generation}`)) suspects.push(wf);
      else if (wf.queueName === place.queueName && wf.partitionKey === place.partitionKey) bypassing++;
    }
    if (suspects.length > 0) {
      // Admitted since the slots were read? A slot of the generation stays until the workflow is seen finished.
      const again = await this.store.readQueue(place, 1);
      const fresh = await this.store.getWorkflows(suspects.map((s) => s.workflowId));
      for (const wf of suspects) {
        const now = fresh.get(wf.workflowId);
        if (now?.status !== WorkflowStatus.PENDING || now.generation !== wf.generation) continue;
        if (again.slots.some((s) => s.workflowId === wf.workflowId && s.generation === wf.generation)) continue;
        this.runWithoutAdmission++;
        this.note(`run without admission: ${wf.workflowId} entered ${placeKey(place)} in generation ${wf.generation} and is PENDING without its slot (slots: ${JSON.stringify(again.slots)})`);
      }
    }
    const key = placeKey(place);
    this.latest.set(key, { holding: holding.length, pending: pending.length, bypassing, waiting: state.entries.length });
    const most = this.most.get(key) ?? { holding: 0, pending: 0, bypassing: 0, waiting: 0 };
    this.most.set(key, {
      holding: Math.max(most.holding, holding.length),
      pending: Math.max(most.pending, pending.length),
      bypassing: Math.max(most.bypassing, bypassing),
      waiting: Math.max(most.waiting, state.entries.length),
    });
    if (concurrency !== undefined && holding.length > concurrency) {
      this.exceeded++;
      this.note(
        `queue limit exceeded: ${key} (concurrency ${concurrency}) had ${holding.length} workflows holding a slot, ${pending.length} PENDING: ` +
          holding.map((s) => `${s.workflowId}@${s.generation}=${records.get(s.workflowId)?.status}`).join(", "),
      );
    }
  }
}

/** The queue invariants: concurrency (sampled), rate limits and admission order (journaled), deduplication and what is left at the end. */
function checkQueues(
  journal: Journal,
  input: QueueCheckInput | undefined,
  records: Map<string, WorkflowRecord | undefined>,
  note: (text: string) => void,
): Pick<
  Violations,
  "queueLimitExceeded" | "rateLimitExceeded" | "priorityInversions" | "runWithoutAdmission" | "dedupMismatches" | "queueSlotsLeft" | "queueRecordMismatches"
> {
  if (!input) {
    return { queueLimitExceeded: 0, rateLimitExceeded: 0, priorityInversions: 0, runWithoutAdmission: 0, dedupMismatches: 0, queueSlotsLeft: 0, queueRecordMismatches: 0 };
  }
  for (const n of input.meter.notes) note(n);
  const byPlace = new Map<string, typeof journal.admissions>();
  for (const a of journal.admissions) byPlace.set(placeKey(a.place), [...(byPlace.get(placeKey(a.place)) ?? []), a]);

  // Rate limits: no `periodMs` window (by the admitter's clock) holds more than `limit` admissions.
  let rateLimitExceeded = 0;
  for (const [key, passes] of byPlace) {
    const rate = input.definitions.find((q) => q.name === passes[0]!.place.queueName)?.rateLimit;
    if (!rate) continue;
    const times = passes.flatMap((p) => p.admitted.map(() => p.now)).sort((a, b) => a - b);
    for (let i = 0; i + rate.limit < times.length; i++) {
      if (times[i + rate.limit]! - times[i]! < rate.periodMs) {
        rateLimitExceeded++;
        note(`rate limit exceeded: ${key} admitted ${rate.limit + 1} within ${times[i + rate.limit]! - times[i]!} ms (limit ${rate.limit} per ${rate.periodMs} ms)`);
      }
    }
  }

  // Admission order: lower priority number first, then earlier enqueue time (ties are not ordered: skipped).
  const before = (a: QueueEntry, b: QueueEntry): boolean => {
    const pa = a.priority ?? Infinity;
    const pb = b.priority ?? Infinity;
    return pa < pb || (pa === pb && a.enqueuedAt < b.enqueuedAt);
  };
  let priorityInversions = 0;
  for (const [key, passes] of byPlace) {
    const admittedIn = new Map<string, number>();
    for (const p of passes) for (const e of p.admitted) admittedIn.set(`${e.workflowId}@${e.generation}`, p.version);
    const enters = journal.queueEnters.filter((e) => placeKey(e.place) === key);
    for (const p of passes) {
      if (p.readAt === undefined) continue;
      for (const x of p.admitted) {
        for (const y of enters) {
          if (y.workflowId === x.workflowId || !before(y.entry, x) || y.endedAt >= p.readAt) continue;
          const version = admittedIn.get(`${y.workflowId}@${y.entry.generation}`);
          if (version !== undefined && version <= p.version) continue;
          // Taken out of the line by a cancel or a resume (its own, as queued workflows are roots) meanwhile: not well defined.
          const steered = journal.events.some((e) => e.workflowId === y.workflowId && e.type !== "fork" && e.startedAt <= p.at && e.endedAt >= y.startedAt);
          const reentered = journal.queueEnters.some((e) => e !== y && e.workflowId === y.workflowId && e.startedAt <= p.at && e.endedAt >= y.startedAt);
          if (steered || reentered) continue;
          priorityInversions++;
          note(
            `priority inversion: ${key} pass v${p.version} (read ${p.at - p.readAt} ms before it landed) admitted ${x.workflowId}@${x.generation} (priority ${x.priority ?? "none"}, enqueued ${x.enqueuedAt}) ` +
              `over ${y.workflowId}@${y.entry.generation} (priority ${y.entry.priority ?? "none"}, enqueued ${y.entry.enqueuedAt}, in line ${p.readAt - y.endedAt} ms before the read), ` +
              `${version === undefined ? "never admitted" : `admitted at v${version}`}${p.dropped.some((d) => d.workflowId === y.workflowId) ? ", dropped by the pass" : ""}`,
          );
        }
      }
    }
  }

  // Deduplication: refused only while the holder is ENQUEUED or PENDING, naming it; taken again once it is not.
  let dedupMismatches = 0;
  for (const d of journal.dedupProbes) {
    const what = `${d.workflowId} with deduplication id ${d.deduplicationId} on ${d.queueName} (holder ${d.holder}: ${JSON.stringify(d.before)} before, ${JSON.stringify(d.after)} after)`;
    const sameGeneration = d.before !== undefined && d.after !== undefined && d.before.generation === d.after.generation;
    // A resume gives the holder's id up (a resumed workflow holds none): only a first run holds one.
    const activeThroughout = sameGeneration && d.before!.generation === 0 && ACTIVE.includes(d.before!.status) && ACTIVE.includes(d.after!.status);
    const resumedThroughout = sameGeneration && d.before!.generation > 0;
    const finishedThroughout = sameGeneration && FINISHED_STATUSES.includes(d.before!.status as WorkflowStatus) && FINISHED_STATUSES.includes(d.after!.status as WorkflowStatus);
    if (d.outcome === "duplicate" && d.named !== d.holder) {
      dedupMismatches++;
      note(`dedup mismatch: the start of ${what} was refused naming ${d.named}`);
    } else if (d.outcome === "duplicate" && finishedThroughout) {
      dedupMismatches++;
      note(`dedup mismatch: the start of ${what} was refused although the holder had finished`);
    } else if (d.outcome === "duplicate" && resumedThroughout) {
      dedupMismatches++;
      note(`dedup mismatch: the start of ${what} was refused although the holder had been resumed (which gives its id up)`);
    } else if (d.outcome === "started" && activeThroughout) {
      dedupMismatches++;
      note(`dedup mismatch: ${what} was started although the holder was ENQUEUED or PENDING throughout`);
    } else if (d.outcome === "error") {
      note(`(info) dedup probe ${what} failed: ${d.error}`);
    }
  }

  let queueSlotsLeft = 0;
  for (const l of input.leftovers) {
    if (l.slots === 0 && l.waiting === 0) continue;
    queueSlotsLeft += l.slots + l.waiting;
    note(`queue leftovers: ${placeKey(l.place)} still has ${l.slots} slots and ${l.waiting} waiting entries at the end`);
  }
  // A record names the queue place and priority of the line it entered last (a resume past the queue changes neither).
  let queueRecordMismatches = 0;
  const lastEnter = new Map<string, (typeof journal.queueEnters)[number]>();
  for (const e of [...journal.queueEnters].sort((a, b) => a.endedAt - b.endedAt)) lastEnter.set(e.workflowId, e);
  for (const [id, e] of lastEnter) {
    const wf = records.get(id);
    if (!wf) continue;
    if (wf.queueName === e.place.queueName && wf.partitionKey === e.place.partitionKey && wf.priority === e.entry.priority) continue;
    queueRecordMismatches++;
    note(
      `queue record mismatch: ${id} last entered ${placeKey(e.place)} (priority ${e.entry.priority ?? "none"}, by ${e.via}), ` +
        `but its record names ${wf.queueName}${wf.partitionKey !== undefined ? `[${wf.partitionKey}]` : ""} (priority ${wf.priority ?? "none"})`,
    );
  }
  if (input.meter.exceeded > 0 || input.meter.runWithoutAdmission > 0) note(`(info) queue samples: ${input.meter.samples}`);
  return {
    queueRecordMismatches,
    queueLimitExceeded: input.meter.exceeded,
    rateLimitExceeded,
    priorityInversions,
    runWithoutAdmission: input.meter.runWithoutAdmission,
    dedupMismatches,
    queueSlotsLeft,
  };
}

export { placeKey };
