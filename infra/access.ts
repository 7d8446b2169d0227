import type { OperationName } from "../src/control/operations.js";

/**
 * What each Cairn function may do, in one reviewable place. Every action is
 * named (no wildcards) and every grant names its table, index or queue ARN.
 */

/** Reading a workflow and its steps, and listing through the indexes (which hold keys only, so listings fetch items with BatchGetItem). */
export const TABLE_READ_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"] as const;

/** Guarded writes: create (Put), transitions (Update), and resume's removal of a failed step (Delete). */
export const TABLE_WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"] as const;

/** Using a customer-managed key of the table or queues (named actions, no `kms:GenerateDataKey*`). */
export const KEY_DECRYPT_ACTIONS = ["kms:Decrypt", "kms:DescribeKey"] as const;
export const KEY_ENCRYPT_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"] as const;

export interface OperationAccess {
  /** Table actions on the table itself. */
  readonly table: readonly string[];
  /** Whether the operation queries the listing indexes. */
  readonly indexes: boolean;
  /** Whether it sends work messages (sqs:SendMessage on the work queue). */
  readonly sendsWork: boolean;
}

const READ: OperationAccess = { table: TABLE_READ_ACTIONS, indexes: false, sendsWork: false };
const WRITE = [...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS];

/**
 * The control functions' access. `status`, `result`, `list` and `steps` only
 * read; `start`, `resume` and `fork` write and enqueue the workflow's next
 * step; `cancel` writes but sends nothing (pending messages are dropped when
 * they surface).
 */
export const OPERATION_ACCESS: Readonly<Record<OperationName, OperationAccess>> = {
  status: READ,
  result: READ,
  steps: READ,
  list: { ...READ, indexes: true },
  start: { table: WRITE, indexes: false, sendsWork: true },
  resume: { table: WRITE, indexes: false, sendsWork: true },
  fork: { table: WRITE, indexes: false, sendsWork: true },
  cancel: { table: WRITE, indexes: false, sendsWork: false },
};

/** The worker reads a workflow's state, claims and records steps, and completes workflows; it deletes nothing. */
export const WORKER_TABLE_ACTIONS = [...TABLE_READ_ACTIONS, "dynamodb:PutItem", "dynamodb:UpdateItem"] as const;

/** The worker enqueues continuations (sleeps, retries, next steps) and extends a long step's visibility. */
export const WORKER_QUEUE_ACTIONS = ["sqs:SendMessage", "sqs:ChangeMessageVisibility"] as const;

/**
 * The dead-letter handler reads the workflow's last failure (one query) and marks it
 * MAX_RECOVERY_ATTEMPTS_EXCEEDED with that reason (one conditional update).
 */
export const DEAD_LETTER_TABLE_ACTIONS = ["dynamodb:Query", "dynamodb:UpdateItem"] as const;
