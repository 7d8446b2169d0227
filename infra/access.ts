import type { OperationName } from "../src/control/operations.js";

/**
 * What each Cairn function may do, in one reviewable place: exactly the
 * DynamoDB and SQS actions its code path makes, each on the resource it makes
 * it on. Every action is named (no wildcards) and every grant names its table,
 * index or queue ARN.
 *
 * How IAM authorizes the calls Cairn makes (Service Authorization Reference):
 * - `TransactWriteItems` is authorized item by item, as `PutItem`, `UpdateItem`,
 *   `DeleteItem` or `ConditionCheckItem`: there is no action of its own.
 * - A query of a global secondary index is authorized on the index's ARN
 *   (`<table ARN>/index/<name>`), not the table's.
 * - `SendMessageBatch` is authorized as `sqs:SendMessage`, `DeleteMessageBatch`
 *   as `sqs:DeleteMessage`.
 * - An SQS event source mapping polls with the function's role: it needs
 *   `ReceiveMessage`, `DeleteMessage` and `GetQueueAttributes` on its queue.
 * - A DynamoDB stream event source mapping also polls with the function's role:
 *   `DescribeStream`, `GetRecords`, `GetShardIterator` and `ListStreams`, granted on
 *   the stream's ARN (as the DynamoDB developer guide's policy for stream-triggered
 *   functions does), not on `*`.
 *
 * When the code of a function starts making another call, add its action here
 * (and to the expectations in test/infra/construct.test.ts); the deployed-bundle
 * test (test/infra/bundles.test.ts) fails on any call a function's policy does not allow.
 */

export type TableAction =
  | "dynamodb:Query"
  | "dynamodb:GetItem"
  | "dynamodb:BatchGetItem"
  | "dynamodb:PutItem"
  | "dynamodb:UpdateItem"
  | "dynamodb:DeleteItem"
  | "dynamodb:ConditionCheckItem";

export type StreamAction = "dynamodb:DescribeStream" | "dynamodb:GetRecords" | "dynamodb:GetShardIterator" | "dynamodb:ListStreams";

export type QueueAction =
  | "sqs:SendMessage"
  | "sqs:ChangeMessageVisibility"
  | "sqs:ReceiveMessage"
  | "sqs:DeleteMessage"
  | "sqs:GetQueueAttributes";

export interface FunctionAccess {
  /** Actions on the table itself. */
  readonly table: readonly TableAction[];
  /** Actions on the listing indexes (each named by its ARN). */
  readonly indexes: readonly TableAction[];
  /** Actions on the work queue. */
  readonly workQueue: readonly QueueAction[];
  /** Actions on the dead-letter queue. */
  readonly deadLetterQueue: readonly QueueAction[];
  /** Actions on the table's stream. */
  readonly stream: readonly StreamAction[];
}

/** The calls of Lambda's SQS event source mapping, made with the role of the function it invokes. */
export const EVENT_SOURCE_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"] as const satisfies readonly QueueAction[];

/** The calls of Lambda's DynamoDB stream event source mapping, made with the role of the function it invokes. */
export const STREAM_EVENT_SOURCE_ACTIONS = [
  "dynamodb:DescribeStream",
  "dynamodb:GetRecords",
  "dynamodb:GetShardIterator",
  "dynamodb:ListStreams",
] as const satisfies readonly StreamAction[];

/** The functions of a CairnWorkflows: the worker, the dead-letter handler, the reaper and one per control operation. */
export type CairnFunction = "worker" | "deadLetterHandler" | "reaper" | OperationName;

const NONE = [] as const;

/**
 * Per function: the store and queue methods its code path calls, and the actions they make.
 * (Control functions run `WorkflowClient` through src/control/operations.ts.)
 */
export const FUNCTION_ACCESS: Readonly<Record<CairnFunction, FunctionAccess>> = {
  /**
   * processMessage: `loadState` (Query); `claimStep`, `claimStepEagerly`, `releaseClaim`,
   * `completeWorkflow`, `recordFailure` (UpdateItem); `putStepIfAbsent` (PutItem) and
   * `recordStep` (PutItem, or TransactWriteItems of Put + Update, with the step's
   * effects: a Delete of the message it received, a ConditionCheck of the receiver +
   * Put of a message it sent, a Put of an event it set, a Delete of a waiter it no
   * longer is). Child workflows: `createChildWorkflow` (as start, with the parent's
   * registry item and a check of the parent), `childrenOf` (Query). Messages and
   * events: `oldestMessage`, `waitersOf` (Query), `getEvent` (GetItem), `putWaiter`
   * (PutItem, then GetItem of the registration in force). Sends continuations,
   * sleeps, retries and wake-ups (SendMessage / SendMessageBatch), extends a long
   * step's visibility and backs off the records it fails (ChangeMessageVisibility /
   * -Batch); its event source consumes the work queue. Admission passes of workflow
   * queues (src/queues/Admitter.ts, also on the construct's schedule): `readQueue`
   * (GetItem of the queue's record, Query of its slots and line), `queuePlaces`
   * (Query), `getWorkflows` (BatchGetItem), `admitFromQueue` (TransactWriteItems of
   * Update of the queue's record, Delete of entries and freed slots, Put of slots and of
   * the queue's place, Update of each admitted workflow), `scheduleQueueWake`
   * (UpdateItem); the admitted workflows' first messages and delayed passes (SendMessage).
   */
  worker: {
    table: [
      "dynamodb:Query",
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:ConditionCheckItem",
    ],
    indexes: NONE,
    workQueue: [...EVENT_SOURCE_ACTIONS, "sqs:ChangeMessageVisibility", "sqs:SendMessage"],
    deadLetterQueue: NONE,
    stream: NONE,
  },
  /**
   * `loadState` to check the message is the one holding the workflow back (Query),
   * `markRecoveryExceeded` (UpdateItem); a child workflow it marked wakes the parent
   * waiting for its end (`waitersOf`: Query; SendMessage on the work queue), and so
   * does a queued workflow's queue (an admission message: SendMessage). Its event
   * source consumes the dead-letter queue, and a record it fails is backed off
   * (ChangeMessageVisibilityBatch, see src/worker/failureBackoff.ts).
   */
  deadLetterHandler: {
    table: ["dynamodb:Query", "dynamodb:UpdateItem"],
    indexes: NONE,
    workQueue: ["sqs:SendMessage"],
    deadLetterQueue: [...EVENT_SOURCE_ACTIONS, "sqs:ChangeMessageVisibility"],
    stream: NONE,
  },
  /**
   * `createWorkflow`: the record (PutItem; TransactWriteItems of Puts when the input is
   * stored apart), then the partition settled (src/store/stepCopies.ts: a Query of its
   * keys, and DeleteItem of items an interrupted fork or an expired incarnation of the id left); an id already
   * taken: `getWorkflow`, and `countSteps` before re-sending the first message (Query).
   * The first message (SendMessage). On a queue, `enqueueWorkflow`: TransactWriteItems of
   * Puts (the record, its input, its queue entry, its deduplication id), a partition of a
   * partitioned queue noted (PutItem); a deduplication id held: its holder read (GetItem of
   * the claim, Query of the holder), a stale claim released (DeleteItem). The admission
   * message (SendMessage).
   */
  start: {
    table: ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
    indexes: NONE,
    workQueue: ["sqs:SendMessage"],
    deadLetterQueue: NONE,
    stream: NONE,
  },
  /** `getWorkflow` and `countSteps` (Query); a workflow waiting in a queue: `queuePosition` (Query). */
  status: { table: ["dynamodb:Query"], indexes: NONE, workQueue: NONE, deadLetterQueue: NONE, stream: NONE },
  /** `getWorkflow`, polled until the workflow finishes (Query). */
  result: { table: ["dynamodb:Query"], indexes: NONE, workQueue: NONE, deadLetterQueue: NONE, stream: NONE },
  /**
   * `cancelWorkflow` (UpdateItem, then Query), and so for each descendant, found with
   * `childrenOf` (Query); with `wait`, `getWorkflow` and `countSteps` (Query). A child
   * workflow it cancelled wakes the parent waiting for its end (`waitersOf`: Query;
   * SendMessage); the workflow's own pending messages are dropped when they surface.
   * A workflow waiting in a queue leaves its line (`removeQueueEntry`: DeleteItem), and a
   * queued workflow's end asks for an admission pass (SendMessage).
   */
  cancel: {
    table: ["dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
    indexes: NONE,
    workQueue: ["sqs:SendMessage"],
    deadLetterQueue: NONE,
    stream: NONE,
  },
  /**
   * `loadState` (Query); `resumeWorkflow`: UpdateItem, or, when an ERROR workflow's failed
   * step (and any after it) is dropped to run again, a Query of those steps and
   * TransactWriteItems of Update + Deletes, or of a ConditionCheck of the workflow +
   * Deletes for the steps past the first transaction. The message that restarts it (SendMessage).
   * The same for each child its cancel cancelled, found with `childrenOf` (Query).
   * Onto a queue: its entry goes into the same transaction (Put), or, with no step to
   * drop, TransactWriteItems of the Update and the Put; a partition noted (PutItem); the
   * admission message (SendMessage). A workflow that was waiting in a queue leaves that
   * line (`removeQueueEntry`: DeleteItem).
   */
  resume: {
    table: ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
    indexes: NONE,
    workQueue: ["sqs:SendMessage"],
    deadLetterQueue: NONE,
    stream: NONE,
  },
  /**
   * `loadState` of the original and `getWorkflow` of the new id (Query); `createWorkflow`
   * with the copied steps: TransactWriteItems of a ConditionCheck (the id is still free)
   * + Puts of the copies, then the record as for start, then the partition settled
   * (Query; PutItem of a copy a rival attempt overwrote, DeleteItem of a rival's leftovers).
   * The first message (SendMessage). On a queue: the record is created queued, then its
   * entry put and its partition noted (`putQueueEntry`: PutItem), and the admission
   * message (SendMessage).
   */
  fork: {
    table: ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
    indexes: NONE,
    workQueue: ["sqs:SendMessage"],
    deadLetterQueue: NONE,
    stream: NONE,
  },
  /**
   * ExpiredWorkflowReaper.reap: a Query of the expired workflow's partition (keys and
   * stamps), then a conditional DeleteItem per item of the expired incarnation. Its
   * event source reads the table's stream (filtered on TTL deletions of records).
   */
  reaper: { table: ["dynamodb:Query", "dynamodb:DeleteItem"], indexes: NONE, workQueue: NONE, deadLetterQueue: NONE, stream: STREAM_EVENT_SOURCE_ACTIONS },
  /**
   * `listWorkflows`: a Query of one keys-only index, then BatchGetItem of the records on the table;
   * with `parentWorkflowId`, a Query of the parent's child registry on the table instead of an index.
   */
  list: { table: ["dynamodb:BatchGetItem", "dynamodb:Query"], indexes: ["dynamodb:Query"], workQueue: NONE, deadLetterQueue: NONE, stream: NONE },
  /** `getWorkflow` and `listSteps` (Query). */
  steps: { table: ["dynamodb:Query"], indexes: NONE, workQueue: NONE, deadLetterQueue: NONE, stream: NONE },
  /**
   * `send`: the receiver's record (Query); `deliverMessage`: TransactWriteItems of a
   * ConditionCheck of the receiver's record (it exists), a Put of the idempotency
   * key (when given) and a Put of the message; `waitersOf` (Query) and the message
   * that wakes a receiver blocked on it (SendMessage).
   */
  send: {
    table: ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
    indexes: NONE,
    workQueue: ["sqs:SendMessage"],
    deadLetterQueue: NONE,
    stream: NONE,
  },
  /** `getWorkflow` (Query) and `getEvent` (GetItem), polled until the event is set. */
  event: { table: ["dynamodb:Query", "dynamodb:GetItem"], indexes: NONE, workQueue: NONE, deadLetterQueue: NONE, stream: NONE },
  /** `listQueues`: `queuePlaces` (Query), then per queue partition `queueCounts` (Query with Select COUNT, GetItem of its record). */
  queues: { table: ["dynamodb:Query", "dynamodb:GetItem"], indexes: NONE, workQueue: NONE, deadLetterQueue: NONE, stream: NONE },
  /** `listQueuedWorkflows`: `queuePlaces` and `queueMembers` (Query), then the workflows' records (BatchGetItem). */
  queued: { table: ["dynamodb:Query", "dynamodb:BatchGetItem"], indexes: NONE, workQueue: NONE, deadLetterQueue: NONE, stream: NONE },
};

/** Whether a DynamoDB action changes items (and so needs a customer-managed key's encrypt actions). ConditionCheckItem only reads. */
export function isTableWrite(action: TableAction): boolean {
  return action === "dynamodb:PutItem" || action === "dynamodb:UpdateItem" || action === "dynamodb:DeleteItem";
}

/** Whether a function only reads: no table write, nothing sent. */
export function isReadOnly(access: FunctionAccess): boolean {
  return ![...access.table, ...access.indexes].some(isTableWrite) && access.workQueue.length === 0 && access.deadLetterQueue.length === 0 && access.stream.length === 0;
}

/** Using a customer-managed key of the table or queues (named actions, no `kms:GenerateDataKey*`). */
export const KEY_DECRYPT_ACTIONS = ["kms:Decrypt", "kms:DescribeKey"] as const;
export const KEY_ENCRYPT_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"] as const;
/** What EventBridge needs of the work queue's customer-managed key to send it the admission schedule's message (through the key policy). */
export const EVENTBRIDGE_KEY_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"] as const;
