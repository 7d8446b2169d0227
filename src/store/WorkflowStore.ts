import type { WorkflowStatus } from "../constants.js";
import type { RecordedError } from "../serialization.js";
import type { RunningClaim, StepRecord, WorkflowRecord, WorkflowState } from "../types.js";

/** How a workflow ends when a write finishes it. */
export type Completion =
  | { status: typeof WorkflowStatus.SUCCESS; output: string }
  | { status: typeof WorkflowStatus.ERROR; error: RecordedError };

export interface ListWorkflowsQuery {
  name?: string;
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

export type RecordResult = "recorded" | "stepExists" | "workflowChanged";

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
export interface WorkflowStore {
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

  /** Record a step alone (after a cancel: the result is kept, the workflow is not advanced). */
  putStepIfAbsent(step: StepRecord): Promise<boolean>;

  /** Finish a workflow without recording a step, if it is still at `expectedVersion`. */
  completeWorkflow(args: { workflowId: string; expectedVersion: number; completion: Completion; now: number }): Promise<boolean>;

  /** Drop the claim held by `token`, optionally scheduling the next attempt no earlier than `retryAt`. */
  releaseClaim(args: ReleaseClaimArgs): Promise<boolean>;

  /** Move a cancellable workflow to CANCELLED; returns the record after the call (unchanged if not cancellable). */
  cancelWorkflow(workflowId: string, now: number): Promise<WorkflowRecord | undefined>;

  /**
   * Restart a workflow as a new generation if it is still at `read.version`;
   * `deleteStep` removes the record of that (failed) step and of every step
   * recorded after it, so they run again; `nextStep` (the step that runs first)
   * starts its attempt count afresh. Interrupted, it leaves the workflow
   * resumable with `deleteStep` still recorded, so a retry finishes the job.
   */
  resumeWorkflow(read: WorkflowRecord, options: { deleteStep?: number; nextStep: number; now: number }): Promise<WorkflowRecord | undefined>;

  /** Note why a delivery failed (best effort; no version change, so it races nothing). */
  recordFailure(args: { workflowId: string; generation: number; error: string }): Promise<void>;

  /** A message of this generation went to the dead-letter queue. */
  markRecoveryExceeded(args: { workflowId: string; generation: number; reason: string; now: number }): Promise<boolean>;
}
