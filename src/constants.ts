/** Workflow statuses, as DBOS names them. */
export const WorkflowStatus = {
  ENQUEUED: "ENQUEUED",
  PENDING: "PENDING",
  SUCCESS: "SUCCESS",
  ERROR: "ERROR",
  CANCELLED: "CANCELLED",
  MAX_RECOVERY_ATTEMPTS_EXCEEDED: "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
} as const;
export type WorkflowStatus = (typeof WorkflowStatus)[keyof typeof WorkflowStatus];

/** Statuses a workflow never leaves by itself (only an explicit resume does). */
export const FINISHED_STATUSES: readonly WorkflowStatus[] = [
  WorkflowStatus.SUCCESS,
  WorkflowStatus.ERROR,
  WorkflowStatus.CANCELLED,
  WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
];

/** Statuses from which resumeWorkflow may restart a workflow. */
export const RESUMABLE_STATUSES: readonly WorkflowStatus[] = [
  WorkflowStatus.CANCELLED,
  WorkflowStatus.ERROR,
  WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
  WorkflowStatus.ENQUEUED,
];

/** Statuses that cancelWorkflow moves to CANCELLED (the others are left as they are). */
export const CANCELLABLE_STATUSES: readonly WorkflowStatus[] = [
  WorkflowStatus.ENQUEUED,
  WorkflowStatus.PENDING,
  WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
];

export const StepStatus = {
  PENDING: "PENDING",
  SUCCESS: "SUCCESS",
  ERROR: "ERROR",
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch take at most ten entries. */
export const SQS_BATCH_LIMIT = 10;

/** SQS refuses DelaySeconds above 15 minutes; longer waits are chained. */
export const MAX_SQS_DELAY_SECONDS = 900;

/** DynamoDB's item limit is 400 KB; keep headroom for the other attributes. */
export const MAX_ITEM_BYTES = 400 * 1024;
export const MAX_VALUE_BYTES = 350 * 1024;

/** Time the worker keeps back before Lambda's deadline so a step's outcome can still be recorded (a claim's lease ends there). */
export const DEADLINE_BUFFER_MS = 2_000;
/** Time a control function keeps back to answer a wait (result, cancel with wait, event) that ran out: one read, no writes. */
export const CONTROL_DEADLINE_BUFFER_MS = 1_000;

/** How long client.getEvent (and the event control operation, and `cairn event`) waits for an event to be set, by default. */
export const GET_EVENT_TIMEOUT_MS = 60_000;

export const DEFAULT_RETRY = { maxAttempts: 1, intervalMs: 1_000, backoffRate: 2 } as const;
