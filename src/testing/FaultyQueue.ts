import type { WorkQueue } from "../queue/WorkQueue.js";
import type { AdmitMessage, WorkMessage } from "../types.js";
import { CrashPoint, sqsThrottlingError, TransientFault } from "./faults.js";
import type { FaultInjector } from "./FaultInjector.js";

/**
 * A WorkQueue that injects faults around a real one: SQS refusing a send or a
 * visibility extension, and a worker crash right after it enqueued the next step
 * (before its own message is acknowledged).
 */
export class FaultyQueue implements WorkQueue {
  constructor(
    readonly inner: WorkQueue,
    readonly faults: FaultInjector,
  ) {}

  async send(messages: readonly WorkMessage[]): Promise<void> {
    this.faults.assertAlive("send");
    const first = messages[0];
    const where = first ? { workflowId: first.workflowId, step: first.step } : {};
    if (this.faults.shouldInject({ point: TransientFault.queueSendFailure, operation: "send", ...where })) throw sqsThrottlingError();
    await this.inner.send(messages);
    if (this.faults.currentInvocation() && this.faults.shouldInject({ point: CrashPoint.afterEnqueue, operation: "send", ...where })) {
      throw this.faults.crash({ point: CrashPoint.afterEnqueue, operation: "send", ...where });
    }
  }

  async sendAdmit(message: AdmitMessage): Promise<void> {
    this.faults.assertAlive("sendAdmit");
    if (this.faults.shouldInject({ point: TransientFault.queueSendFailure, operation: "sendAdmit" })) throw sqsThrottlingError();
    await this.inner.sendAdmit(message);
  }

  async extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    this.faults.assertAlive("extendVisibility");
    if (this.faults.shouldInject({ point: TransientFault.visibilityFailure, operation: "extendVisibility" })) throw sqsThrottlingError();
    await this.inner.extendVisibility(receiptHandle, seconds);
  }
}
