import type { AdmitMessage, WorkMessage } from "../types.js";

/** The queue that carries workflows from step to step. */
export interface WorkQueue {
  /** Send messages, each no earlier than its `notBefore` (chaining delays past SQS's limit). */
  send(messages: readonly WorkMessage[]): Promise<void>;
  /** Ask for an admission pass of a queue (see src/queues/Admitter.ts), no earlier than its `notBefore`. */
  sendAdmit(message: AdmitMessage): Promise<void>;
  /** Keep a received message invisible for `seconds` more (the heartbeat of a long step). */
  extendVisibility(receiptHandle: string, seconds: number): Promise<void>;
}
