import type { SQSRecord } from "aws-lambda";
import { WorkflowStatus } from "../constants.js";
import { CairnError } from "../errors.js";
import { logger as defaultLogger, type Logger } from "../logger.js";
import { clipForLog, decodeMessage } from "../queue/messages.js";
import { DynamoWorkflowStore } from "../store/DynamoWorkflowStore.js";
import type { WorkflowStore } from "../store/WorkflowStore.js";
import type { WorkflowState, WorkMessage } from "../types.js";
import { sqsBatchHandler } from "./sqsBatchHandler.js";

/** The work queue's maxReceiveCount, which the reason of a dead-lettered workflow quotes. */
export const MAX_RECEIVE_COUNT_ENV = "CAIRN_MAX_RECEIVE_COUNT";

/** How much of a dropped body, and of the workflow's last error, goes into logs and reasons. */
const LOGGED_BODY_CHARS = 500;
const REASON_ERROR_CHARS = 1_000;

export interface DeadLetterHandlerOptions {
  /** @default DynamoWorkflowStore on $CAIRN_TABLE_NAME */
  store?: WorkflowStore;
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
 * Consumes the dead-letter queue: a work message that kept failing marks its
 * workflow MAX_RECOVERY_ATTEMPTS_EXCEEDED with the reason, so it shows up in
 * listings and can be resumed once the cause is fixed.
 *
 * Only a message that could be the one holding the workflow back marks it: one
 * of the workflow's current generation, for its next unrecorded step or its
 * running step. Anything else (foreign or malformed bodies, unknown workflows,
 * stale or out-of-order messages, however they got here) is logged, clipped,
 * and acknowledged: failing it would bring it back from this queue forever.
 * A record fails, to be delivered again, only on an error of the infrastructure
 * (throttling, a network error), never on its content.
 */
export function createDeadLetterHandler(options: DeadLetterHandlerOptions = {}) {
  const store = options.store ?? DynamoWorkflowStore.fromEnv();
  const log = options.logger ?? defaultLogger;
  const maxReceiveCount = options.maxReceiveCount ?? receiveCountFromEnv(log);

  const drop = (why: Dropped, record: SQSRecord, fields: Record<string, unknown>): void => {
    const level = why === "malformed" || why === "unreadable" ? "error" : "warn";
    log[level]("dead letter dropped", { why, messageId: record.messageId, ...fields });
  };

  const handleRecord = async (record: SQSRecord): Promise<void> => {
    let message: WorkMessage;
    try {
      message = decodeMessage(record.body);
    } catch (err) {
      // Decoding is pure: what fails once fails at every delivery. Keep a trace, not the message.
      drop("malformed", record, { error: errorText(err), body: clipForLog(record.body ?? "", LOGGED_BODY_CHARS) });
      return;
    }
    const about = { workflowId: message.workflowId, step: message.step, generation: message.generation };

    let state: WorkflowState | undefined;
    try {
      state = await store.loadState(message.workflowId);
    } catch (err) {
      if (!isPermanentInputError(err)) throw err;
      drop("unreadable", record, { ...about, error: errorText(err) });
      return;
    }
    if (!state) return drop("missing", record, about);
    const wf = state.workflow;
    if (wf.generation !== message.generation) return drop("staleGeneration", record, { ...about, currentGeneration: wf.generation });
    if (wf.status !== WorkflowStatus.ENQUEUED && wf.status !== WorkflowStatus.PENDING) return drop("inactive", record, { ...about, status: wf.status });
    const nextStep = state.steps.reduce((max, s) => Math.max(max, s.functionId), 0) + 1;
    const runningStep = wf.running?.generation === wf.generation ? wf.running.step : undefined;
    if (message.step !== nextStep && message.step !== runningStep) {
      return drop("notNextStep", record, { ...about, nextStep, ...(runningStep !== undefined ? { runningStep } : {}) });
    }

    const deliveries =
      maxReceiveCount !== undefined
        ? `failed ${maxReceiveCount} ${maxReceiveCount === 1 ? "delivery" : "deliveries"} (the work queue's maxReceiveCount)`
        : "failed every delivery the work queue allows";
    const reason =
      `The message for step ${message.step} ${deliveries} and went to the dead-letter queue (message ${record.messageId})` +
      (wf.lastFailure ? `; last error: ${clipText(wf.lastFailure, REASON_ERROR_CHARS)}` : "");
    let marked: boolean;
    try {
      // The condition re-checks generation and status; a step recorded between the read and
      // this write is not seen (the store's mark has no version condition), a narrow window.
      marked = await store.markRecoveryExceeded({ workflowId: message.workflowId, generation: message.generation, reason, now: Date.now() });
    } catch (err) {
      if (!isPermanentInputError(err)) throw err;
      drop("unreadable", record, { ...about, error: errorText(err) });
      return;
    }
    if (marked) log.warn("workflow marked MAX_RECOVERY_ATTEMPTS_EXCEEDED", { ...about, reason });
    else drop("inactive", record, { ...about, note: "the workflow changed before it could be marked" });
  };

  return sqsBatchHandler(
    async (event) => Promise.allSettled(event.Records.map(handleRecord)),
    (reason, record) => log.error("dead letter not handled; it will be delivered again", { messageId: record.messageId, error: reason }),
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
  const raw = process.env[MAX_RECEIVE_COUNT_ENV];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (Number.isSafeInteger(n) && n >= 1) return n;
  log.warn(`ignoring ${MAX_RECEIVE_COUNT_ENV}: not an integer >= 1`, { value: clipForLog(raw) });
  return undefined;
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return clipText(text, LOGGED_BODY_CHARS);
}

function clipText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}
