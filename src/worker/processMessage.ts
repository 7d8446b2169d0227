import { decodeAdmitMessage, isAdmitMessage } from "../queue/messages.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import type { Admitter } from "../queues/Admitter.js";
import { EARLY_TOLERANCE_MS } from "./decide.js";
import type { WorkflowStore } from "../store/WorkflowStore.js";
import type { WorkflowRegistry } from "../workflow.js";
import { StepDelivery } from "./StepDelivery.js";

export interface WorkerDeps {
  store: WorkflowStore;
  queue: WorkQueue;
  registry: WorkflowRegistry;
  /** Admits queued workflows (admission messages). */
  admitter?: Admitter;
  /** The queue's visibility timeout: steps running longer keep their message invisible. */
  visibilityTimeoutSeconds?: number;
  now?: () => number;
}

/** One SQS delivery, as Lambda's event record carries it. */
export interface Delivery {
  messageId: string;
  receiptHandle: string;
  body: string;
}

/** What became of a message (for logs and tests). */
export type ProcessOutcome =
  | "advanced" // a step (or sleep) was recorded and the workflow moved on or finished
  | "finished" // the workflow ended without a new step
  | "retryScheduled" // the step failed and will run again later
  | "recordedAfterCancel" // the step finished after a cancel: recorded, workflow untouched
  | "waiting" // the workflow waits for a child's end, a message or an event: their wake-up message (or its timeout's) carries it on
  | "deferred" // too early (sleep, backoff, an older claim still running): sent again with a delay
  | "duplicate" // the step is already recorded; the continuation was made sure of
  | "busy" // another delivery of the same step holds the claim
  | "stale" // an older generation, or a step out of order
  | "inactive" // the workflow is cancelled or finished
  | "missing" // no such workflow (expired, or the message was never ours): dropped
  | "queued" // the workflow still waits in its queue: its admission sends its first message
  | "admission"; // an admission pass of workflow queues ran

/**
 * The worker's algorithm for one message (docs/ARCHITECTURE.md, "One message").
 * Any exception leaves the message to SQS, which delivers it again; every write
 * is conditional, so the redelivery finishes the job without doing it twice.
 */
export async function processMessage(deps: WorkerDeps, delivery: Delivery, deadline: number): Promise<ProcessOutcome> {
  if (!isAdmitMessage(delivery.body)) return new StepDelivery(deps, delivery, deadline).process();
  const message = decodeAdmitMessage(delivery.body);
  // A rate window's pass delayed past SQS's 15 minutes comes back early: send it on.
  if (message.notBefore !== undefined && message.notBefore > Date.now() + EARLY_TOLERANCE_MS) {
    await deps.queue.sendAdmit(message);
    return "deferred";
  }
  if (!deps.admitter) throw new Error("An admission message reached a worker without queues (createWorker({ queues }))");
  await deps.admitter.admit(message);
  return "admission";
}
