import { WorkflowStatus } from "../../src/constants.js";
import { deserialize } from "../../src/serialization.js";
import type { WorkflowStore } from "../../src/store/WorkflowStore.js";
import type { QueueEntry, QueuePlace, QueueSlot, QueueState } from "../../src/types.js";

/** A step body started (workflow code calls this first thing in every body). */
export interface BodyStart {
  workflowId: string;
  functionId: number;
  at: number;
  /** Whether a cancel of the workflow had been recorded (and not resumed since) when the body started. */
  cancelledBefore: boolean;
}

/** A step record written (or, for `deleted`, removed by a resume). */
export interface StepWrite {
  workflowId: string;
  functionId: number;
  at: number;
  kind: "recorded" | "copied" | "deleted";
  /** The operation's kind (step, sleep, start, send, recv...), for recordings. */
  op?: string;
}

export interface ControlEvent {
  type: "cancel" | "resume" | "fork";
  workflowId: string;
  startedAt: number;
  endedAt: number;
  ok: boolean;
  /** cancel: the status the call left; fork: the new id and start step. */
  status?: string;
  forkId?: string;
  startStep?: number;
  /** cancel with wait: whether it returned idle, and the descendants its cascade cancelled. */
  idle?: boolean;
  cancelledDescendants?: string[];
}

/** What every chaos message carries: a unique id, its sender and its place in the sender's order. */
export interface Payload {
  /** Unique per message: `${senderId}>${functionId}` from a workflow, `client:...` or `filler:...` from the harness. */
  mid: string;
  /** The sending workflow, or `client:<receiver>` / `filler:<receiver>` for messages from outside. */
  from: string;
  topic: string;
  /** For client messages: the idempotency key and which of the concurrent copies this is. */
  key?: string;
  copy?: number;
}

/** A message that landed in a mailbox: a workflow's recorded send, or a client send that delivered. */
export interface MessageSent {
  mid: string;
  from: string;
  to: string;
  topic: string;
  /** The send's functionId (workflow senders), for ordering. */
  functionId?: number;
  /** When the write that delivered it returned (it landed before). */
  at: number;
  via: "workflow" | "client";
}

/** A recv recorded (journaled when its record, and the consumption of its message, landed). */
export interface MessageReceived {
  workflowId: string;
  functionId: number;
  topic: string;
  /** Undefined when the recv timed out. */
  payload?: Payload;
  timedOut: boolean;
  at: number;
}

/** A setEvent recorded, with the value written alongside it (the step record does not carry it). */
export interface EventSet {
  workflowId: string;
  functionId: number;
  key: string;
  value: unknown;
  at: number;
}

/** A cancel or resume applied to one workflow by the store (a cascade applies one per member). */
export interface StateChange {
  workflowId: string;
  /** When the call started (resumes) or returned (cancels). */
  at: number;
  /** cancels: the ancestor whose cascade this is, if any. */
  cancelledWith?: string;
}

/** A client message sent several times at once with one idempotency key. */
export interface ClientSend {
  to: string;
  topic: string;
  key: string;
  mid: string;
  copies: number;
  /** Calls that returned without an error. */
  ok: number;
}

/** A workflow's entry put into a queue's line (a start, a resume or a fork on a queue), once the write landed. */
export interface QueueEnter {
  workflowId: string;
  place: QueuePlace;
  entry: QueueEntry;
  via: "start" | "resume" | "fork";
  /** When the call that put it started, and when it returned (the entry was there by then). */
  startedAt: number;
  endedAt: number;
}

/** One admission pass's transaction that landed (see Admitter): what it read, admitted, freed and dropped. */
export interface QueueAdmission {
  place: QueuePlace;
  /** The queue's version the pass read (passes that land are serialized by it). */
  version: number;
  /** When the pass started reading the queue (undefined if the read was not seen). */
  readAt?: number;
  /** The admitter's clock for the admissions (what the rate limit counts). */
  now: number;
  /** When the transaction returned. */
  at: number;
  /** The entries the pass read, in line order. */
  read: QueueEntry[];
  admitted: QueueEntry[];
  dropped: QueueEntry[];
  freed: QueueSlot[];
}

/** A start with a deduplication id that another workflow of the harness holds (or held). */
export interface DedupProbe {
  queueName: string;
  deduplicationId: string;
  /** The workflow the harness believes holds the id (its latest start with it). */
  holder: string;
  /** The id the duplicate start asked for. */
  workflowId: string;
  outcome: "duplicate" | "started" | "error";
  /** DuplicateWorkflowError: the workflow it named. */
  named?: string;
  error?: string;
  /** The holder's status and generation read just before the call and just after it. */
  before?: { status: string; generation: number };
  after?: { status: string; generation: number };
  startedAt: number;
  endedAt: number;
}

/** Everything a chaos run observed, for the invariant checks at the end. */
export class Journal {
  readonly bodies: BodyStart[] = [];
  readonly writes: StepWrite[] = [];
  readonly events: ControlEvent[] = [];
  readonly sent: MessageSent[] = [];
  readonly received: MessageReceived[] = [];
  readonly eventSets: EventSet[] = [];
  readonly cancelsApplied: StateChange[] = [];
  readonly resumesApplied: StateChange[] = [];
  readonly clientSends: ClientSend[] = [];
  readonly queueEnters: QueueEnter[] = [];
  readonly admissions: QueueAdmission[] = [];
  readonly dedupProbes: DedupProbe[] = [];
  /** When each queue read (by its result) started, to date the admission pass that used it. */
  readonly queueReads = new WeakMap<QueueState, number>();
  /** Workflows whose cancel is recorded and not resumed since (cascades included). */
  readonly cancelled = new Set<string>();

  bodyStarted(workflowId: string, functionId: number): void {
    this.bodies.push({ workflowId, functionId, at: Date.now(), cancelledBefore: this.cancelled.has(workflowId) });
  }

  /** How often the body of this step has started so far (attempts, crashes, re-runs). */
  starts(workflowId: string, functionId: number): number {
    let n = 0;
    for (const b of this.bodies) if (b.workflowId === workflowId && b.functionId === functionId) n++;
    return n;
  }
}

/** Whether a value is a chaos payload (everything the chaos workflows and harness send is). */
export function isPayload(value: unknown): value is Payload {
  return typeof value === "object" && value !== null && typeof (value as Payload).mid === "string" && typeof (value as Payload).from === "string";
}

/**
 * A store that journals every step write that lands: recordings (with the
 * messages a send delivered, the message a recv consumed, the value a setEvent
 * wrote), fork copies, the failed-step deletions of resume, the messages
 * clients deliver, and each cancel and resume applied (one per member of a
 * cascade). It sits under the fault layer, so a write that was applied before
 * an injected crash is journaled too.
 */
export function journalingStore(inner: WorkflowStore, journal: Journal): WorkflowStore {
  const log = (workflowId: string, functionId: number, kind: StepWrite["kind"], op?: string) =>
    journal.writes.push({ workflowId, functionId, at: Date.now(), kind, ...(op !== undefined ? { op } : {}) });
  const journaled: Pick<
    WorkflowStore,
    "createWorkflow" | "recordStep" | "putStepIfAbsent" | "cancelWorkflow" | "resumeWorkflow" | "deliverMessage" | "enqueueWorkflow" | "putQueueEntry" | "readQueue" | "admitFromQueue"
  > = {
    createWorkflow: async (workflow, steps) => {
      const out = await inner.createWorkflow(workflow, steps);
      if (out.created) for (const s of steps ?? []) log(workflow.workflowId, s.functionId, "copied", s.kind);
      return out;
    },
    recordStep: async (args) => {
      const out = await inner.recordStep(args);
      if (out !== "recorded") return out;
      const at = Date.now();
      const { step, effects } = args;
      log(args.workflowId, step.functionId, "recorded", step.kind);
      const deliver = effects?.deliver;
      if (step.kind === "send" && deliver) {
        const payload = deserialize(deliver.payload);
        if (isPayload(payload)) {
          journal.sent.push({ mid: payload.mid, from: args.workflowId, to: deliver.workflowId, topic: deliver.topic ?? "", functionId: step.functionId, at, via: "workflow" });
        }
      }
      if (step.kind === "recv") {
        const payload = step.timedOut ? undefined : deserialize(step.output);
        journal.received.push({
          workflowId: args.workflowId,
          functionId: step.functionId,
          topic: step.topic ?? "",
          ...(isPayload(payload) ? { payload } : {}),
          timedOut: step.timedOut === true,
          at,
        });
      }
      if (step.kind === "setEvent" && effects?.setEvent) {
        journal.eventSets.push({ workflowId: args.workflowId, functionId: step.functionId, key: effects.setEvent.key, value: deserialize(effects.setEvent.value), at });
      }
      return out;
    },
    putStepIfAbsent: async (step) => {
      const out = await inner.putStepIfAbsent(step);
      if (out) log(step.workflowId, step.functionId, "recorded", step.kind);
      return out;
    },
    cancelWorkflow: async (id, now, options) => {
      const out = await inner.cancelWorkflow(id, now, options);
      if (out?.status === WorkflowStatus.CANCELLED) {
        // A cancel of an already cancelled workflow leaves it as it was: journal the first only.
        if (!journal.cancelled.has(id)) journal.cancelsApplied.push({ workflowId: id, at: Date.now(), ...(options?.cancelledWith !== undefined ? { cancelledWith: options.cancelledWith } : {}) });
        journal.cancelled.add(id);
      }
      return out;
    },
    resumeWorkflow: async (read, options) => {
      // Marked before the write lands, so bodies of the new generation never count as "after cancel".
      const wasCancelled = journal.cancelled.delete(read.workflowId);
      // The deletion takes the failed step and every step recorded after it.
      const deleted =
        options.deleteStep === undefined
          ? []
          : ((await inner.loadState(read.workflowId))?.steps ?? []).map((s) => s.functionId).filter((f) => f > options.deleteStep!);
      const at = Date.now();
      const out = await inner.resumeWorkflow(read, options);
      if (out) {
        journal.resumesApplied.push({ workflowId: read.workflowId, at });
        if (options.queue) {
          journal.queueEnters.push({ workflowId: read.workflowId, place: options.queue.place, entry: options.queue.entry, via: "resume", startedAt: at, endedAt: Date.now() });
        }
        if (options.deleteStep !== undefined) for (const f of [options.deleteStep, ...deleted]) log(read.workflowId, f, "deleted");
      } else if (wasCancelled && (await inner.getWorkflow(read.workflowId))?.status === WorkflowStatus.CANCELLED) {
        journal.cancelled.add(read.workflowId);
      }
      return out;
    },
    deliverMessage: async (message, options) => {
      const out = await inner.deliverMessage(message, options);
      if (out === "delivered") {
        const payload = deserialize(message.payload);
        if (isPayload(payload)) journal.sent.push({ mid: payload.mid, from: payload.from, to: message.workflowId, topic: message.topic ?? "", at: Date.now(), via: "client" });
      }
      return out;
    },
    enqueueWorkflow: async (workflow, entry) => {
      const startedAt = Date.now();
      const out = await inner.enqueueWorkflow(workflow, entry);
      if ("created" in out && out.created) {
        const place = { queueName: workflow.queueName!, ...(workflow.partitionKey !== undefined ? { partitionKey: workflow.partitionKey } : {}) };
        journal.queueEnters.push({ workflowId: workflow.workflowId, place, entry, via: "start", startedAt, endedAt: Date.now() });
      }
      return out;
    },
    putQueueEntry: async (place, entry) => {
      const startedAt = Date.now();
      await inner.putQueueEntry(place, entry);
      // A retried fork puts its entry again: the first one counts.
      if (!journal.queueEnters.some((e) => e.workflowId === entry.workflowId && e.entry.generation === entry.generation && e.entry.enqueuedAt === entry.enqueuedAt)) {
        journal.queueEnters.push({ workflowId: entry.workflowId, place, entry, via: "fork", startedAt, endedAt: Date.now() });
      }
    },
    readQueue: async (place, maxEntries) => {
      const startedAt = Date.now();
      const out = await inner.readQueue(place, maxEntries);
      journal.queueReads.set(out, startedAt);
      return out;
    },
    admitFromQueue: async (args) => {
      const out = await inner.admitFromQueue(args);
      if (out) {
        const readAt = journal.queueReads.get(args.state);
        journal.admissions.push({
          place: args.state.place,
          version: args.state.version,
          ...(readAt !== undefined ? { readAt } : {}),
          now: args.now,
          at: Date.now(),
          read: [...args.state.entries],
          admitted: [...args.admit],
          dropped: [...args.drop],
          freed: [...args.free],
        });
      }
      return out;
    },
  };
  // Every other method goes straight to the inner store (so the store interface can grow without this file).
  return new Proxy(inner, {
    get(target, prop) {
      if (Object.prototype.hasOwnProperty.call(journaled, prop)) return journaled[prop as keyof typeof journaled];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
