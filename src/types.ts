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

export type StepKind = "step" | "sleep";

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
