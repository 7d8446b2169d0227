import { SQS_BATCH_LIMIT } from "../constants.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import type { AdmitMessage, WorkMessage } from "../types.js";

/** How long a held send waits for the invocation's other records before it goes out alone. */
export const OUTBOX_WINDOW_MS = 5;

interface Held {
  message: WorkMessage;
  sent(): void;
  failed(error: unknown): void;
}

/**
 * Batches the sends of one worker invocation's records without making any of
 * them wait for a slow one: held sends go out as one SendMessageBatch as soon
 * as every record still running is waiting on a send (the usual case: a batch
 * of similar steps), or after a few milliseconds otherwise, so a long step in
 * the batch never holds back the continuation of a short one. A record's send
 * resolves when the batch carrying it is sent.
 */
export class Outbox implements WorkQueue {
  private held: Held[] = [];
  /** Sends whose messages are held, one per record at most (a record awaits each send). */
  private heldSends = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `running`: the records of the invocation; call `recordDone` as each settles. */
  constructor(
    private readonly queue: WorkQueue,
    private running: number,
    private readonly windowMs = OUTBOX_WINDOW_MS,
  ) {}

  send(messages: readonly WorkMessage[]): Promise<void> {
    const sends = messages.map((message) => new Promise<void>((sent, failed) => this.held.push({ message, sent, failed })));
    this.heldSends++;
    this.schedule();
    return Promise.all(sends).then(() => undefined);
  }

  /** Admission triggers are rare: they go out at once. */
  sendAdmit(message: AdmitMessage): Promise<void> {
    return this.queue.sendAdmit(message);
  }

  extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    return this.queue.extendVisibility(receiptHandle, seconds);
  }

  /** A record of the invocation settled: there is one fewer to wait for. */
  recordDone(): void {
    this.running--;
    this.schedule();
  }

  private schedule(): void {
    if (this.held.length === 0) return;
    if (this.heldSends >= this.running) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }

  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const all = this.held;
    this.held = [];
    this.heldSends = 0;
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
