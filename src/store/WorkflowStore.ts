import type { WorkflowStatus } from "../constants.js";
import type { RecordedError } from "../serialization.js";
import type {
  MailMessage,
  QueueEntry,
  QueuePlace,
  ReceivedMessage,
  RecordEffects,
  RunningClaim,
  StepRecord,
  WaitChannel,
  Waiter,
  WorkflowRecord,
  WorkflowState,
} from "../types.js";
import type { QueueStore } from "./QueueStore.js";

/** How a workflow ends when a write finishes it. */
export type Completion =
  | { status: typeof WorkflowStatus.SUCCESS; output: string }
  | { status: typeof WorkflowStatus.ERROR; error: RecordedError };

export interface ListWorkflowsQuery {
  name?: string;
  /** Only the children this workflow started. */
  parentWorkflowId?: string;
  status?: WorkflowStatus;
  /** Inclusive lower bound on createdAt (epoch ms). */
  startTime?: number;
  /** Inclusive upper bound on createdAt (epoch ms). */
  endTime?: number;
  limit?: number;
  nextToken?: string;
  sortDesc?: boolean;
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

/** "effectFailed": nothing was written because an effect's condition failed (the message to consume is gone, the receiver does not exist). */
export type RecordResult = "recorded" | "stepExists" | "workflowChanged" | "effectFailed";

export type CreateChildResult = { created: true } | { created: false; existing: WorkflowRecord } | { parentInactive: true };

export interface EagerClaimArgs {
  workflowId: string;
  generation: number;
  claim: RunningClaim;
  /** The key of a claim the message's sender knew to be dead (its step recorded). */
  supersedes?: string;
  now: number;
}

export interface RecordStepArgs {
  workflowId: string;
  expectedVersion: number;
  step: StepRecord;
  completion?: Completion;
  /** The workflow is still ENQUEUED (no claim moved it): make it PENDING. */
  markPending?: boolean;
  /** Writes that must land with the record, or not at all. */
  effects?: RecordEffects;
  now: number;
}

export interface ResumeOptions {
  deleteStep?: number;
  nextStep: number;
  /**
   * Put the resumed workflow in this queue's line (its record `queued`, with these
   * fields) in the same transaction; without it, a workflow that was waiting in a
   * queue stops waiting there (it bypasses the queue).
   */
  queue?: { place: QueuePlace; entry: QueueEntry };
  now: number;
}

export interface ReleaseClaimArgs {
  workflowId: string;
  /** Only the claim this token holds is released. */
  token: string;
  /** Schedule the next attempt of `step` no earlier than `at`. */
  retry?: { step: number; at: number };
  /** The claim's step never ran under it: give back the attempt the claim counted. */
  refundStep?: number;
  now: number;
}

/**
 * Everything the engine, worker and client need from storage. Every state change
 * is a conditional write; a failed condition comes back as a value, never as an
 * SDK error, and the implementation never leaks attribute maps.
 */
export interface WorkflowStore extends QueueStore {
  /**
   * Create a workflow (and, for forks, its copied steps, any number of any size
   * within the per-value limit). Returns the existing record if the id is taken.
   * The id is taken only once the whole workflow is written: interrupted before,
   * a create leaves nothing a later create with that id would see.
   */
  createWorkflow(
    workflow: WorkflowRecord,
    steps?: readonly StepRecord[],
  ): Promise<{ created: true } | { created: false; existing: WorkflowRecord }>;

  getWorkflow(workflowId: string): Promise<WorkflowRecord | undefined>;

  /** The workflow and all its recorded steps, read consistently. */
  loadState(workflowId: string): Promise<WorkflowState | undefined>;

  countSteps(workflowId: string): Promise<number>;

  listSteps(workflowId: string, options?: { limit?: number; nextToken?: string }): Promise<Page<StepRecord>>;

  listWorkflows(query: ListWorkflowsQuery): Promise<Page<WorkflowRecord>>;

  /**
   * Claim a step for one delivery, if the workflow is unchanged since `read`
   * (so a cancel or resume that landed meanwhile wins). Moves ENQUEUED to PENDING.
   * Returns the workflow as written, or undefined if it had changed.
   */
  claimStep(read: WorkflowRecord, claim: RunningClaim, now: number): Promise<WorkflowRecord | undefined>;

  /**
   * Claim a step without having read the workflow, so the claim can go out
   * together with the read: succeeds only if the workflow runs in `generation`,
   * is not cancelled, and the claim in place (if any) is provably dead: it is
   * the earlier one whose key the message `supersedes`, or a lapsed claim on this very step, or
   * none while a retry of this step is scheduled. Never displaces a live claim,
   * whatever the message says. The returned record carries no input. Undefined
   * when the condition failed.
   */
  claimStepEagerly(args: EagerClaimArgs): Promise<WorkflowRecord | undefined>;

  /**
   * Record a step's outcome and advance the workflow in one transaction, if the
   * workflow is still at `expectedVersion`; `completion` finishes the workflow.
   * "workflowChanged": nothing was written (cancelled or resumed meanwhile).
   */
  recordStep(args: RecordStepArgs): Promise<RecordResult>;

  /**
   * Move an ENQUEUED workflow to PENDING without a claim, if it is still at
   * `read.version` (a workflow whose first operation waits makes no claim).
   */
  markPending(read: WorkflowRecord, now: number): Promise<boolean>;

  /** Record a step alone (after a cancel: the result is kept, the workflow is not advanced). */
  putStepIfAbsent(step: StepRecord): Promise<boolean>;

  /** Finish a workflow without recording a step, if it is still at `expectedVersion`. */
  completeWorkflow(args: { workflowId: string; expectedVersion: number; completion: Completion; now: number }): Promise<boolean>;

  /** Drop the claim held by `token`, optionally scheduling the next attempt no earlier than `retryAt`. */
  releaseClaim(args: ReleaseClaimArgs): Promise<boolean>;

  /**
   * Move a cancellable workflow to CANCELLED; returns the record after the call
   * (unchanged if not cancellable). `cancelledWith`: the ancestor whose cancel
   * this is, so that its resume brings this workflow back too.
   */
  cancelWorkflow(workflowId: string, now: number, options?: { cancelledWith?: string }): Promise<WorkflowRecord | undefined>;

  /**
   * Restart a workflow as a new generation if it is still at `read.version`;
   * `deleteStep` removes the record of that (failed) step and of every step
   * recorded after it, so they run again; `nextStep` (the step that runs first)
   * starts its attempt count afresh. Interrupted, it leaves the workflow
   * resumable with `deleteStep` still recorded, so a retry finishes the job.
   */
  resumeWorkflow(read: WorkflowRecord, options: ResumeOptions): Promise<WorkflowRecord | undefined>;

  /** Note why a delivery failed (best effort; no version change, so it races nothing). */
  recordFailure(args: { workflowId: string; generation: number; error: string }): Promise<void>;

  /** A message of this generation went to the dead-letter queue. */
  markRecoveryExceeded(args: { workflowId: string; generation: number; reason: string; now: number }): Promise<boolean>;

  /**
   * Create a child workflow and register it with its parent, atomically, only
   * while the parent runs in `parent.generation` and is not cancelled (so a
   * cancel never misses a child: see childrenOf). Returns the existing record if
   * the id is taken.
   */
  createChildWorkflow(child: WorkflowRecord, parent: { workflowId: string; generation: number }): Promise<CreateChildResult>;

  /** The ids of the children a workflow started, read consistently. */
  childrenOf(workflowId: string): Promise<string[]>;

  /** The oldest message of a topic in a workflow's mailbox (send order per topic), read consistently. */
  oldestMessage(workflowId: string, topic: string | undefined): Promise<ReceivedMessage | undefined>;

  /**
   * Put a message into a workflow's mailbox from outside a workflow. With an
   * `idempotencyKey` (the message's id), a second delivery of it is a "duplicate"
   * and writes nothing. "notFound": no such workflow, nothing written.
   */
  deliverMessage(message: MailMessage, options?: { idempotent?: boolean }): Promise<"delivered" | "duplicate" | "notFound">;

  /** Set a workflow's events (a fork's, copied with the steps that set them); later ones of a key win. */
  putEvents(workflowId: string, events: readonly { key: string; value: string; setAt: number }[]): Promise<void>;

  /** The latest value a workflow set for an event key. */
  getEvent(workflowId: string, key: string): Promise<{ value: string; setAt: number } | undefined>;

  /**
   * Register a blocked workflow with the workflow `target` that will wake it.
   * Returns the registration in force: an earlier one for the same step and
   * generation keeps its `until`, so a wait's timeout is fixed once.
   */
  putWaiter(target: string, channel: WaitChannel, waiter: Waiter): Promise<Waiter>;

  /** The workflows registered as waiting on `channel` of `target`, read consistently. */
  waitersOf(target: string, channel: WaitChannel): Promise<Waiter[]>;
}
