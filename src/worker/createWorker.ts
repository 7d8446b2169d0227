import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { DEADLINE_BUFFER_MS } from "../constants.js";
import { ENV, optionalNumberEnv, requireEnv } from "../config.js";
import { SqsWorkQueue } from "../queue/SqsWorkQueue.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import { DynamoWorkflowStore } from "../store/DynamoWorkflowStore.js";
import type { WorkflowStore } from "../store/WorkflowStore.js";
import { WorkflowRegistry, type WorkflowDefinition } from "../workflow.js";
import { decodeMessage } from "../queue/messages.js";
import { Admitter } from "../queues/Admitter.js";
import { QueueRegistry, type QueueDefinition } from "../queues/defineQueue.js";
import { Outbox } from "./Outbox.js";
import { sqsBatchHandler, type SqsBatchHandler } from "./sqsBatchHandler.js";
import { processMessage, type ProcessOutcome, type WorkerDeps } from "./processMessage.js";
import { logger as defaultLogger, type Logger } from "../logger.js";

export interface WorkerOptions {
  workflows: Iterable<WorkflowDefinition<any, any>>;
  /** The workflow queues this worker admits into (see defineQueue). */
  queues?: Iterable<QueueDefinition>;
  /** @default DynamoWorkflowStore on $CAIRN_TABLE_NAME */
  store?: WorkflowStore;
  /** @default SqsWorkQueue on $CAIRN_QUEUE_URL */
  queue?: WorkQueue;
  /** @default $CAIRN_VISIBILITY_TIMEOUT_SECONDS */
  visibilityTimeoutSeconds?: number;
  logger?: Logger;
  /** Called after each message with what became of it (tests and metrics). */
  onOutcome?: (outcome: ProcessOutcome, record: SQSRecord) => void;
}

export type WorkerHandler = SqsBatchHandler;

/** Build the worker deps, defaulting to the DynamoDB table and SQS queue named by the environment. */
export function workerDeps(options: Omit<WorkerOptions, "logger" | "onOutcome">): WorkerDeps {
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? optionalNumberEnv(ENV.visibilityTimeoutSeconds);
  const store = options.store ?? DynamoWorkflowStore.fromEnv();
  const queue = options.queue ?? new SqsWorkQueue({ queueUrl: requireEnv(ENV.queueUrl) });
  return {
    registry: new WorkflowRegistry(options.workflows),
    store,
    queue,
    admitter: new Admitter(store, queue, new QueueRegistry(options.queues)),
    ...(visibilityTimeoutSeconds !== undefined ? { visibilityTimeoutSeconds } : {}),
  };
}

/** Keep the failure's reason on the workflow, so a dead-lettered workflow says what went wrong. */
async function noteFailure(deps: WorkerDeps, body: string, err: unknown, log: Logger): Promise<void> {
  let message;
  try {
    message = decodeMessage(body);
  } catch {
    return; // not ours: nothing to note it on
  }
  const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  await deps.store.recordFailure({ workflowId: message.workflowId, generation: message.generation, error }).catch((noteErr: unknown) => {
    log.warn("could not note a failure on its workflow", { workflowId: message.workflowId, error: noteErr });
  });
}

/**
 * The worker Lambda: one SQS batch in, one step per message, partial batch
 * failures out (the event source needs ReportBatchItemFailures).
 */
export function createWorker(options: WorkerOptions): WorkerHandler {
  const deps = workerDeps(options);
  const log = options.logger ?? defaultLogger;
  const handle = async (event: SQSEvent, context: Context): Promise<PromiseSettledResult<ProcessOutcome>[]> => {
    const deadline = Date.now() + context.getRemainingTimeInMillis() - DEADLINE_BUFFER_MS;
    // One outbox per invocation: the records' sends share batches without waiting on a slow record.
    const queue = new Outbox(deps.queue, event.Records.length);
    return Promise.allSettled(
      event.Records.map(async (record) => {
        try {
          const outcome = await processMessage({ ...deps, queue }, record, deadline);
          log.debug("message processed", { messageId: record.messageId, outcome });
          options.onOutcome?.(outcome, record);
          return outcome;
        } catch (err) {
          await noteFailure(deps, record.body, err, log);
          throw err;
        } finally {
          queue.recordDone();
        }
      }),
    );
  };
  return sqsBatchHandler(handle, (reason, record) =>
    log.error("message failed; SQS will deliver it again", { messageId: record.messageId, error: reason }),
  );
}
