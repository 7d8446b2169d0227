import type { SQSRecord } from "aws-lambda";
import { MalformedMessageError } from "../errors.js";
import { logger as defaultLogger, type Logger } from "../logger.js";
import { decodeMessage } from "../queue/messages.js";
import { sqsBatchHandler } from "./sqsBatchHandler.js";
import { DynamoWorkflowStore } from "../store/DynamoWorkflowStore.js";
import type { WorkflowStore } from "../store/WorkflowStore.js";

export interface DeadLetterHandlerOptions {
  /** @default DynamoWorkflowStore on $CAIRN_TABLE_NAME */
  store?: WorkflowStore;
  logger?: Logger;
}

/**
 * Consumes the dead-letter queue: a work message that kept failing marks its
 * workflow MAX_RECOVERY_ATTEMPTS_EXCEEDED with the reason, so it shows up in
 * listings and can be resumed once the cause is fixed.
 */
export function createDeadLetterHandler(options: DeadLetterHandlerOptions = {}) {
  const store = options.store ?? DynamoWorkflowStore.fromEnv();
  const log = options.logger ?? defaultLogger;
  const handleRecord = async (record: SQSRecord): Promise<void> => {
    let message;
    try {
      message = decodeMessage(record.body);
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err;
      // Nothing to mark; keep a trace of it so it is not lost silently.
      log.error("foreign message on the dead-letter queue dropped", { messageId: record.messageId, body: record.body.slice(0, 1000) });
      return;
    }
    const receives = record.attributes?.ApproximateReceiveCount ?? "several";
    const lastFailure = (await store.getWorkflow(message.workflowId))?.lastFailure;
    const reason =
      `The message for step ${message.step} failed ${receives} deliveries and went to the dead-letter queue (message ${record.messageId})` +
      (lastFailure ? `; last error: ${lastFailure}` : "");
    const marked = await store.markRecoveryExceeded({
      workflowId: message.workflowId,
      generation: message.generation,
      reason,
      now: Date.now(),
    });
    log.warn(marked ? "workflow marked MAX_RECOVERY_ATTEMPTS_EXCEEDED" : "dead letter of an inactive workflow generation", {
      workflowId: message.workflowId,
      step: message.step,
      generation: message.generation,
    });
  };
  return sqsBatchHandler(
    async (event) => Promise.allSettled(event.Records.map(handleRecord)),
    (reason, record) => log.error("dead letter not handled", { messageId: record.messageId, error: reason }),
  );
}
