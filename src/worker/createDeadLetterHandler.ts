import type { SQSRecord } from "aws-lambda";
import { ENV } from "../config.js";
import { WorkflowStatus } from "../constants.js";
import { CairnError } from "../errors.js";
import { clip, clipText } from "../limits.js";
import { logger as defaultLogger, type Logger } from "../logger.js";
import { decodeMessage, isAdmitMessage } from "../queue/messages.js";
import { DynamoWorkflowStore } from "../store/DynamoWorkflowStore.js";
import { SqsWorkQueue } from "../queue/SqsWorkQueue.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import { Wakes } from "../wakes.js";
import type { WorkflowStore } from "../store/WorkflowStore.js";
import type { WorkflowState, WorkMessage } from "../types.js";
import { lastRecordedStep } from "../workflowState.js";
import { sqsBatchHandler } from "./sqsBatchHandler.js";

/** How much of a dropped body, and of the workflow's last error, goes into logs and reasons. */
const LOGGED_BODY_CHARS = 500;
const REASON_ERROR_CHARS = 1_000;

export interface DeadLetterHandlerOptions {
  /** @default DynamoWorkflowStore on $CAIRN_TABLE_NAME */
  store?: WorkflowStore;
  /** The work queue, to wake a parent waiting for the marked workflow's end. @default SqsWorkQueue on $CAIRN_QUEUE_URL */
  queue?: WorkQueue;
  logger?: Logger;
  /**
   * The work queue's `maxReceiveCount`, quoted in the reason. (ApproximateReceiveCount
   * on the dead-letter queue cannot stand in for it: it also counts the receives
   * of the dead-letter queue itself.)
   * @default $CAIRN_MAX_RECEIVE_COUNT; without it the reason quotes no number
   */
  maxReceiveCount?: number;
}

/** Why a dead letter marks nothing; each is logged and the message acknowledged. */
type Dropped =
  | "malformed" // not a Cairn work message: nothing could ever act on it
  | "unreadable" // its workflow cannot be looked up (the id is one DynamoDB refuses)
  | "missing" // no such workflow (never existed, or expired)
  | "staleGeneration" // the workflow was resumed since: its current generation is healthy
  | "inactive" // the workflow finished or was cancelled: nothing left to mark
  | "notNextStep"; // the message is for a step the workflow is not at: not evidence of a stuck workflow

/**
 * Whether a dead letter may mark its workflow: only a message that could be the
 * one holding the workflow back does, one of its current generation for its next
 * unrecorded step or its running step.
 */
export function deadLetterVerdict(state: WorkflowState | undefined, message: WorkMessage): { drop: Dropped; fields?: Record<string, unknown> } | "mark" {
  if (!state) return { drop: "missing" };
  const wf = state.workflow;
  if (wf.generation !== message.generation) return { drop: "staleGeneration", fields: { currentGeneration: wf.generation } };
  if (wf.status !== WorkflowStatus.ENQUEUED && wf.status !== WorkflowStatus.PENDING) return { drop: "inactive", fields: { status: wf.status } };
  const nextStep = lastRecordedStep(state.steps) + 1;
  const runningStep = wf.running?.generation === wf.generation ? wf.running.step : undefined;
  if (message.step !== nextStep && message.step !== runningStep) {
    return { drop: "notNextStep", fields: { nextStep, ...(runningStep !== undefined ? { runningStep } : {}) } };
  }
  return "mark";
}

/**
 * Consumes the dead-letter queue: a work message that kept failing marks its
 * workflow MAX_RECOVERY_ATTEMPTS_EXCEEDED with the reason, so it shows up in
 * listings and can be resumed once the cause is fixed.
 *
 * Anything that cannot be the message holding a workflow back (foreign or
 * malformed bodies, unknown workflows, stale or out-of-order messages, however
 * they got here) is logged, clipped, and acknowledged: failing it would bring it
 * back from this queue forever. A record fails, to be delivered again, only on
 * an error of the infrastructure (throttling, a network error), never on its content.
 */
export function createDeadLetterHandler(options: DeadLetterHandlerOptions = {}) {
  const store = options.store ?? DynamoWorkflowStore.fromEnv();
  // Built on first use: only a child's parent, or a queue, is ever woken from here.
  let wakes: Wakes | undefined;
  const wakesOf = (): Wakes => (wakes ??= new Wakes(store, options.queue ?? SqsWorkQueue.fromEnv()));
  const log = options.logger ?? defaultLogger;
  const maxReceiveCount = options.maxReceiveCount ?? receiveCountFromEnv(log);

  const drop = (why: Dropped, record: SQSRecord, fields: Record<string, unknown>): void => {
    const level = why === "malformed" || why === "unreadable" ? "error" : "warn";
    log[level]("dead letter dropped", { why, messageId: record.messageId, ...fields });
  };
  /** A store call whose failure is about the input drops the record; others fail it. */
  const orDrop = async <T>(record: SQSRecord, about: Record<string, unknown>, call: () => Promise<T>): Promise<{ value: T } | undefined> => {
    try {
      return { value: await call() };
    } catch (err) {
      if (!isPermanentInputError(err)) throw err;
      drop("unreadable", record, { ...about, error: errorText(err) });
      return undefined;
    }
  };

  const handleRecord = async (record: SQSRecord): Promise<void> => {
    if (isAdmitMessage(record.body ?? "")) {
      // Nothing to mark: the next trigger or the periodic pass admits what this pass would have.
      log.warn("admission message dead-lettered; the next admission pass takes over", { messageId: record.messageId, body: clip(record.body ?? "", LOGGED_BODY_CHARS) });
      return;
    }
    let message: WorkMessage;
    try {
      message = decodeMessage(record.body);
    } catch (err) {
      // Decoding is pure: what fails once fails at every delivery. Keep a trace, not the message.
      drop("malformed", record, { error: errorText(err), body: clip(record.body ?? "", LOGGED_BODY_CHARS) });
      return;
    }
    const about = { workflowId: message.workflowId, step: message.step, generation: message.generation };
    const read = await orDrop(record, about, () => store.loadState(message.workflowId));
    if (!read) return;
    const verdict = deadLetterVerdict(read.value, message);
    if (verdict !== "mark") return drop(verdict.drop, record, { ...about, ...verdict.fields });
    const reason = recoveryReason(message, record.messageId, maxReceiveCount, read.value!.workflow.lastFailure);
    // The condition re-checks generation and status; a step recorded between the read and
    // this write is not seen (the store's mark has no version condition), a narrow window.
    const marked = await orDrop(record, about, () =>
      store.markRecoveryExceeded({ workflowId: message.workflowId, generation: message.generation, reason, now: Date.now() }),
    );
    if (marked?.value) {
      log.warn("workflow marked MAX_RECOVERY_ATTEMPTS_EXCEEDED", { ...about, reason });
      const wf = read.value!.workflow;
      if (wf.parentWorkflowId !== undefined || wf.queueName !== undefined) await wakesOf().afterEnd({ ...wf, status: WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED });
    } else if (marked) drop("inactive", record, { ...about, note: "the workflow changed before it could be marked" });
  };

  return sqsBatchHandler(
    async (event) => Promise.allSettled(event.Records.map(handleRecord)),
    (reason, record) => log.error("dead letter not handled; it will be delivered again", { messageId: record.messageId, error: reason }),
  );
}

function recoveryReason(message: WorkMessage, messageId: string, maxReceiveCount: number | undefined, lastFailure: string | undefined): string {
  const deliveries =
    maxReceiveCount !== undefined
      ? `failed ${maxReceiveCount} ${maxReceiveCount === 1 ? "delivery" : "deliveries"} (the work queue's maxReceiveCount)`
      : "failed every delivery the work queue allows";
  return (
    `The message for step ${message.step} ${deliveries} and went to the dead-letter queue (message ${messageId})` +
    (lastFailure ? `; last error: ${clipText(lastFailure, REASON_ERROR_CHARS)}` : "")
  );
}

/**
 * Errors that the same record would meet at every delivery: bad input that got
 * past validation (DynamoDB refusing a key, a bug tripped by the content).
 * Everything else (throttling, timeouts, network, missing permissions) may pass,
 * so the record is failed and delivered again.
 */
export function isPermanentInputError(err: unknown): boolean {
  if (err instanceof CairnError) return true; // Cairn's own refusals (validation, malformed) are about the input
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return true;
  const name = (err as { name?: unknown } | null)?.name;
  return name === "ValidationException" || name === "SerializationException";
}

function receiveCountFromEnv(log: Logger): number | undefined {
  const raw = process.env[ENV.maxReceiveCount];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (Number.isSafeInteger(n) && n >= 1) return n;
  log.warn(`ignoring ${ENV.maxReceiveCount}: not an integer >= 1`, { value: clip(raw) });
  return undefined;
}

function errorText(err: unknown): string {
  return clipText(err instanceof Error ? `${err.name}: ${err.message}` : String(err), LOGGED_BODY_CHARS);
}
