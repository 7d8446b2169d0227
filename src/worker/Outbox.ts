import { SQS_BATCH_LIMIT } from "../constants.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import type { WorkMessage } from "../types.js";


interface Held {
  message: WorkMessage;
  sent(): void;
  failed(error: unknown): void;
}

/**
 * Batches the sends of one worker invocation's records without making any of
 * them wait for the others: a record's messages go out with whatever the other
 * records send in the same turn of the event loop, as one SendMessageBatch, and
 * its send resolves when that batch is sent. A long step in the batch never
 * holds back the continuation of a short one.
 */
export class Outbox implements WorkQueue {
  private held: Held[] = [];
  private flushScheduled = false;

  constructor(private readonly queue: WorkQueue) {}

  send(messages: readonly WorkMessage[]): Promise<void> {
    const sends = messages.map((message) => new Promise<void>((sent, failed) => this.held.push({ message, sent, failed })));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
    return Promise.all(sends).then(() => undefined);
  }

  extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    return this.queue.extendVisibility(receiptHandle, seconds);
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const all = this.held;
    this.held = [];
    const chunks: Held[][] = [];
    for (let i = 0; i < all.length; i += SQS_BATCH_LIMIT) chunks.push(all.slice(i, i + SQS_BATCH_LIMIT));
    await Promise.all(
      chunks.map(async (chunk) => {
        try {
          await this.queue.send(chunk.map((h) => h.message));
          for (const h of chunk) h.sent();
        } catch (err) {
          for (const h of chunk) h.failed(err);
        }
      }),
    );
  }
}
