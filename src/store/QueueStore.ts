import type { QueueEntry, QueuePlace, QueueSlot, QueueState, WorkflowRecord } from "../types.js";

export type EnqueueResult = { created: true } | { created: false; existing: WorkflowRecord } | { duplicateOf: string };

export interface AdmitArgs {
  /** The queue as read: the admission applies only if its version is unchanged. */
  state: QueueState;
  /** Entries to admit: each leaves the line, takes a slot, and its workflow stops being `queued`. */
  admit: readonly QueueEntry[];
  /** Slots whose workflows were seen finished (or resumed into another generation). */
  free: readonly QueueSlot[];
  /** Entries whose workflows no longer wait in this line (cancelled, resumed past the queue, expired). */
  drop: readonly QueueEntry[];
  /** The queue's recent admission times after this one (rate limits). */
  admissions: readonly number[];
  now: number;
}

/** What the queues need from storage (see src/queues/Admitter.ts); every change is conditional. */
export interface QueueStore {
  /**
   * Create a workflow waiting in its queue: the record (`queued`), its entry and
   * its deduplication id, all or nothing. The id taken: the existing workflow. The
   * deduplication id held by a workflow still ENQUEUED or PENDING: `duplicateOf` it.
   */
  enqueueWorkflow(workflow: WorkflowRecord, entry: QueueEntry): Promise<EnqueueResult>;

  /** Put (again) the entry of a workflow recorded as `queued` (a fork on a queue). Idempotent. */
  putQueueEntry(place: QueuePlace, entry: QueueEntry): Promise<void>;

  /** Take a workflow's entry out of the line (cancelled, or resumed past its queue). */
  removeQueueEntry(place: QueuePlace, entry: QueueEntry): Promise<void>;

  /** The queue's version, recent admissions, slots and first `maxEntries` entries, read consistently. */
  readQueue(place: QueuePlace, maxEntries: number): Promise<QueueState>;

  /** One admission pass's writes in one transaction; false if the queue or one of the workflows changed since the read. */
  admitFromQueue(args: AdmitArgs): Promise<boolean>;

  /** Note a delayed admission pass at `at`; false if one is already scheduled and not yet due. */
  scheduleQueueWake(place: QueuePlace, at: number, now: number): Promise<boolean>;

  /** The queue places noted: every partition a partitioned queue has had, and each unpartitioned queue once it admitted a workflow. */
  queuePlaces(queueName?: string): Promise<QueuePlace[]>;

  /** How many workflows wait before this entry. */
  queuePosition(place: QueuePlace, entry: QueueEntry): Promise<number>;

  /** Waiting entries, slots held, and the recent admission times of a queue partition. */
  queueCounts(place: QueuePlace): Promise<{ waiting: number; slots: number; admissions: number[] }>;

  /** The ids of the workflows waiting in a queue partition, in admission order, and of those holding its slots. */
  queueMembers(place: QueuePlace): Promise<{ waiting: string[]; admitted: string[] }>;

  /** Workflow records by id (missing ones are left out). */
  getWorkflows(workflowIds: readonly string[]): Promise<Map<string, WorkflowRecord>>;
}

/** A queued workflow's place and entry, from its record. */
export function queueEntryOf(wf: WorkflowRecord, step: number): { place: QueuePlace; entry: QueueEntry } | undefined {
  if (wf.queueName === undefined || wf.enqueuedAt === undefined) return undefined;
  return {
    place: { queueName: wf.queueName, ...(wf.partitionKey !== undefined ? { partitionKey: wf.partitionKey } : {}) },
    entry: {
      workflowId: wf.workflowId,
      generation: wf.generation,
      step,
      ...(wf.priority !== undefined ? { priority: wf.priority } : {}),
      enqueuedAt: wf.enqueuedAt,
    },
  };
}
