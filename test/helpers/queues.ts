import type { WorkQueue } from "../../src/queue/WorkQueue.js";
import type { AdmitMessage, WorkMessage } from "../../src/types.js";

/**
 * A queue that fails sends on cue, as a worker that crashes right after
 * recording a step would: arm it with the message that must fail to go out.
 */
export class FaultyQueue implements WorkQueue {
  private readonly armed: { match: (m: WorkMessage) => boolean; remaining: number }[] = [];
  /** Sends that were made to fail. */
  readonly failed: WorkMessage[] = [];

  constructor(private readonly inner: WorkQueue) {}

  /** Make the next `times` sends that include a message matching `match` throw. */
  failSend(match: (m: WorkMessage) => boolean, times = 1): void {
    this.armed.push({ match, remaining: times });
  }

  async send(messages: readonly WorkMessage[]): Promise<void> {
    for (const fault of this.armed) {
      const hit = messages.find((m) => fault.match(m));
      if (hit && fault.remaining > 0) {
        fault.remaining--;
        this.failed.push(hit);
        throw new Error(`injected fault: send of step ${hit.step} of ${hit.workflowId} failed`);
      }
    }
    await this.inner.send(messages);
  }

  sendAdmit(message: AdmitMessage): Promise<void> {
    return this.inner.sendAdmit(message);
  }

  extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    return this.inner.extendVisibility(receiptHandle, seconds);
  }
}
