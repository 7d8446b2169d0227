import { checkKey, checkWorkflowName, invalid } from "../limits.js";
import { MAX_PRIORITY, type QueueRegistry } from "../queues/defineQueue.js";
import type { QueueEntry, QueuePlace, WorkflowRecord } from "../types.js";

/** Where a started, resumed or forked workflow waits: its queue and its place there. */
export interface EnqueueOptions {
  /** Wait in this queue (see defineQueue) until its limits admit the workflow. */
  queueName?: string;
  /** Priority queues: lower first, 1 is the highest. @default after every priority */
  priority?: number;
  /** While a workflow with this id is ENQUEUED or PENDING on the queue, another start with it is a DuplicateWorkflowError. */
  deduplicationId?: string;
  /** Partitioned queues: the partition whose limits apply. */
  partitionKey?: string;
}

/**
 * Check queue options against what is known of the queue (its definition, when
 * the client was given the queues): refused before anything is written.
 */
export function checkQueueOptions(options: EnqueueOptions, queues: QueueRegistry | undefined): void {
  const { queueName, priority, deduplicationId, partitionKey } = options;
  if (queueName === undefined) {
    for (const [key, value] of Object.entries({ priority, deduplicationId, partitionKey })) {
      if (value !== undefined) throw invalid(key, `${key} needs a queueName`);
    }
    return;
  }
  checkWorkflowName(queueName, "queueName");
  if (priority !== undefined && (!Number.isSafeInteger(priority) || priority < 1 || priority > MAX_PRIORITY)) {
    throw invalid("priority", `priority must be an integer from 1 to ${MAX_PRIORITY}, got ${String(priority)}`);
  }
  if (deduplicationId !== undefined) checkKey(deduplicationId, "deduplicationId");
  if (partitionKey !== undefined) checkKey(partitionKey, "partitionKey");
  const queue = queues?.get(queueName);
  if (queues && !queue) throw invalid("queueName", `Unknown queue "${queueName}"; known: ${queues.all().map((q) => q.name).join(", ") || "none"}`);
  if (queue && priority !== undefined && !queue.priorityEnabled) throw invalid("priority", `Queue "${queueName}" has no priorities (priorityEnabled)`);
  if (queue?.partitioned && partitionKey === undefined) throw invalid("partitionKey", `Queue "${queueName}" is partitioned: a partitionKey is needed`);
  if (queue && !queue.partitioned && partitionKey !== undefined) throw invalid("partitionKey", `Queue "${queueName}" is not partitioned`);
}

/** The fields a workflow record carries while it waits in a queue, and its entry there. */
export function queueFields(options: EnqueueOptions & { queueName: string }, workflowId: string, generation: number, step: number, now: number) {
  const { queueName, priority, deduplicationId, partitionKey } = options;
  const place: QueuePlace = { queueName, ...(partitionKey !== undefined ? { partitionKey } : {}) };
  const entry: QueueEntry = { workflowId, generation, step, ...(priority !== undefined ? { priority } : {}), enqueuedAt: now };
  const record: Partial<WorkflowRecord> = {
    queueName,
    queued: true,
    enqueuedAt: now,
    ...(priority !== undefined ? { priority } : {}),
    ...(deduplicationId !== undefined ? { deduplicationId } : {}),
    ...(partitionKey !== undefined ? { partitionKey } : {}),
  };
  return { place, entry, record };
}
