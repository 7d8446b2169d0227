import type { StepStatus, WorkflowStatus } from "./constants.js";
import type { RecordedError } from "./serialization.js";

/** The step currently claimed by a worker: its lease lets duplicates stand aside. */
export interface RunningClaim {
  step: number;
  name: string;
  /** The SQS message id of the delivery that holds the claim. */
  token: string;
  /**
   * A random secret of the claiming delivery. It never travels on the queue until
   * the claim's step is recorded; then the continuation names it (`supersedes`)
   * to take the dead claim over without a read. A message cannot forge it.
   */
  key?: string;
  /** Epoch ms after which the holder is presumed dead (its Lambda deadline). */
  until: number;
  startedAt: number;
  attempt: number;
  /** The generation the claim belongs to: a resumed workflow waits for an older claim to end. */
  generation: number;
}

/** A workflow as the store keeps it. Values are serialized strings (see serialization.ts). */
export interface WorkflowRecord {
  workflowId: string;
  name: string;
  status: WorkflowStatus;
  input: string;
  output?: string;
  error?: RecordedError;
  createdAt: number;
  updatedAt: number;
  applicationVersion?: string;
  forkedFrom?: { workflowId: string; startStep: number };
  /** The workflow that started this one as its child (ctx.startWorkflow, ctx.invoke). */
  parentWorkflowId?: string;
  /**
   * Set when a cancel of an ancestor cancelled this workflow: the id of the parent
   * whose cancel reached it. A resume of that parent resumes this workflow too;
   * a workflow cancelled on its own is left cancelled.
   */
  cancelledWith?: string;
  /** The queue the workflow was started (or resumed, or forked) on; see `queued`. */
  queueName?: string;
  /** Its place in the queue's order (priority queues): lower first. */
  priority?: number;
  deduplicationId?: string;
  /** The queue partition whose limits apply (partitioned queues). */
  partitionKey?: string;
  /** When it entered its queue (epoch ms): with the priority, its place in line. */
  enqueuedAt?: number;
  /** Waiting in its queue: set on entering it, removed when admitted or when a resume lets it bypass the queue. */
  queued?: boolean;
  cancelRequested: boolean;
  /** Bumped by resume: messages of an older generation run nothing. */
  generation: number;
  /** Bumped by every write: the optimistic-concurrency check of claims and resumes. */
  version: number;
  running?: RunningClaim;
  /** A retry of `retryStep` may not start before `retryAt` (epoch ms). */
  retryStep?: number;
  retryAt?: number;
  /** Why the workflow went to MAX_RECOVERY_ATTEMPTS_EXCEEDED. */
  recoveryReason?: string;
  /** The last error a delivery of this workflow's messages failed with (it goes into recoveryReason). */
  lastFailure?: string;
  /** Epoch seconds after which DynamoDB may delete a finished workflow (TTL). */
  expiresAt?: number;
}

/**
 * The durable operations a workflow performs, each recorded at its functionId:
 * steps and sleeps; child workflows (start, the wait for a child's result, and
 * invoke, which is both); messages (send, recv) and events (setEvent, getEvent).
 */
export const STEP_KINDS = ["step", "sleep", "start", "getResult", "invoke", "send", "recv", "setEvent", "getEvent"] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export interface StepRecord {
  workflowId: string;
  functionId: number;
  name: string;
  kind: StepKind;
  status: Exclude<StepStatus, "PENDING">;
  output?: string;
  error?: RecordedError;
  attempts: number;
  startedAt: number;
  completedAt: number;
  /** For a sleep: when it ends (epoch ms). */
  wakeAt?: number;
  /** Set on steps a fork copied from its original instead of running. */
  copiedFrom?: string;
  /** For start, invoke and getResult: the child workflow's id. */
  childWorkflowId?: string;
  /** For send: the receiving workflow; for getEvent: the workflow whose event it read. */
  targetWorkflowId?: string;
  /** For send and recv: the message topic (absent: the default topic). */
  topic?: string;
  /** For recv and getEvent: nothing arrived before the timeout (the recorded result is undefined). */
  timedOut?: boolean;
  /** For setEvent: the value set, serialized (a fork sets the events of the steps it copies). */
  eventValue?: string;
}

/** What a step record says beyond its outcome, by kind of operation. */
export type StepDetails = Pick<StepRecord, "childWorkflowId" | "targetWorkflowId" | "topic" | "timedOut" | "eventValue">;

/** A message on its way into a workflow's mailbox. */
export interface MailMessage {
  /** The receiving workflow. */
  workflowId: string;
  /** Absent: the default topic. */
  topic?: string;
  /** The message, serialized. */
  payload: string;
  /** Epoch ms; the mailbox keeps each topic in (sentAt, messageId) order. */
  sentAt: number;
  /** Unique per message: `${senderId}:${functionId}` from a workflow, the idempotency key (or a random id) from a client. */
  messageId: string;
}

/** A message read from a mailbox; `key` names it to the store when it is consumed. */
export interface ReceivedMessage extends MailMessage {
  key: string;
}

/** What a waiting operation waits for, in the workflow that will make it happen. */
export type WaitChannel = { type: "end" } | { type: "message"; topic?: string } | { type: "event"; key: string };

/** A workflow blocked on a wait: how to wake it (a work message for `step` of `generation`). */
export interface Waiter {
  workflowId: string;
  step: number;
  generation: number;
  op: { kind: StepKind; name: string };
  /** A wait with a timeout ends at `until` (epoch ms) if nothing came; fixed by the wait's first registration. */
  until?: number;
}

/** Writes that land atomically with an operation's record: a recv's message consumed, a send's message delivered, an event set, a wait's registration removed. */
export interface RecordEffects {
  consume?: { workflowId: string; key: string };
  deliver?: MailMessage;
  setEvent?: { workflowId: string; key: string; value: string; setAt: number };
  unwait?: { target: string; channel: WaitChannel; waiterId: string };
}

/** Everything the worker needs for one step, read in one consistent query. */
export interface WorkflowState {
  workflow: WorkflowRecord;
  steps: StepRecord[];
}

/** The SQS message body that carries a workflow to its next step. */
export interface WorkMessage {
  workflowId: string;
  step: number;
  generation: number;
  /** Epoch ms before which the step must not run (sleeps and retry backoff). */
  notBefore?: number;
  /**
   * The operation the workflow called at `step`, when the sender knew it. A step
   * lets the worker claim it while it reads the workflow, saving a round trip.
   */
  op?: { kind: StepKind; name: string };
  /** The key of a claim its sender knew to be dead (its step recorded): this message may replace it without a read. */
  supersedes?: string;
}

/** The message that asks for an admission pass: of one queue partition, or (no queueName) of every queue the worker knows. */
export interface AdmitMessage {
  queueName?: string;
  partitionKey?: string;
  /** Epoch ms before which the pass is not due (rate windows). */
  notBefore?: number;
}

/** A queue, or one partition of a partitioned queue: the unit its limits apply to. */
export interface QueuePlace {
  queueName: string;
  partitionKey?: string;
}

/** A workflow waiting in a queue, and the message that starts it once admitted. */
export interface QueueEntry {
  workflowId: string;
  generation: number;
  step: number;
  priority?: number;
  enqueuedAt: number;
}

/** A workflow admitted from a queue: it holds one unit of the queue's concurrency until it finishes. */
export interface QueueSlot {
  workflowId: string;
  generation: number;
  step: number;
  admittedAt: number;
}

/** A queue partition as one consistent read sees it; admissions are conditional on `version`. */
export interface QueueState {
  place: QueuePlace;
  version: number;
  /** Times of the latest admissions (as many as the rate limit counts). */
  admissions: number[];
  /** When a delayed admission pass is scheduled (rate limits). */
  nextWakeAt?: number;
  /** The first waiting workflows, in admission order. */
  entries: QueueEntry[];
  slots: QueueSlot[];
}
