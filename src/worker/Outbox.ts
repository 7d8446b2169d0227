import type { WorkQueue } from "../queue/WorkQueue.js";
import type { WorkMessage } from "../types.js";

const SQS_BATCH = 10;

/**
 * Collects the messages the records of one worker invocation send, and sends
 * them together at the end in batches of ten: one SendMessageBatch instead of a
 * SendMessage per step. A record counts as done only once its messages are sent,
 * so a failed batch fails exactly the records whose messages it carried.
 */
export class Outbox {
  private readonly pending: { owner: string; message: WorkMessage }[] = [];

  constructor(private readonly queue: WorkQueue) {}

  /** The queue as one record sees it: sends are held until `flush`. */
  for(owner: string): WorkQueue {
    return {
      send: async (messages) => {
        for (const message of messages) this.pending.push({ owner, message });
      },
      extendVisibility: (receiptHandle, seconds) => this.queue.extendVisibility(receiptHandle, seconds),
    };
  }

  /** Send everything held; returns the owners whose messages could not be sent, with the error. */
  async flush(): Promise<Map<string, unknown>> {
    const failed = new Map<string, unknown>();
    const all = this.pending.splice(0);
    const chunks: (typeof all)[] = [];
    for (let i = 0; i < all.length; i += SQS_BATCH) chunks.push(all.slice(i, i + SQS_BATCH));
    await Promise.all(
      chunks.map(async (chunk) => {
        try {
          await this.queue.send(chunk.map((p) => p.message));
        } catch (err) {
          for (const p of chunk) failed.set(p.owner, err);
        }
      }),
    );
    return failed;
  }
}
