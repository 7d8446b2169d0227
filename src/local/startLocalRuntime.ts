import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { setTimeout as sleep } from "node:timers/promises";
import { startFauxqs } from "fauxqs";
import { WorkflowClient } from "../client/WorkflowClient.js";
import { ENV } from "../config.js";
import { createLogger, type Logger } from "../logger.js";
import { SqsWorkQueue } from "../queue/SqsWorkQueue.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import { DynamoWorkflowStore } from "../store/DynamoWorkflowStore.js";
import { ExpiredWorkflowReaper } from "../store/ExpiredWorkflowReaper.js";
import { tableDefinition } from "../store/tableSchema.js";
import type { WorkflowStore } from "../store/WorkflowStore.js";
import { createDeadLetterHandler } from "../worker/createDeadLetterHandler.js";
import { createWorker, type WorkerOptions } from "../worker/createWorker.js";
import { sqsChangeVisibility, type FailureBackoffOptions } from "../worker/failureBackoff.js";
import { failureBackoffOf, type SqsBatchHandler } from "../worker/sqsBatchHandler.js";
import type { WorkflowDefinition } from "../workflow.js";
import { Admitter } from "../queues/Admitter.js";
import { QueueRegistry, type QueueDefinition } from "../queues/defineQueue.js";
import { startDynamoLocal, type DynamoLocal } from "./dynamoLocal.js";
import { EventSourcePoller } from "./EventSourcePoller.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "./localAws.js";
import { logLevelFromEnv } from "../config.js";

export interface LocalRuntimeOptions {
  workflows: Iterable<WorkflowDefinition<any, any>>;
  /** Workflow queues the worker admits into; an admission pass also runs every `admitEveryMs`. */
  queues?: Iterable<QueueDefinition>;
  /** How often the periodic admission pass runs (what the construct's schedule does, faster). @default 1000 */
  admitEveryMs?: number;
  /** @default "cairn-workflows" */
  tableName?: string;
  /** @default "cairn-work" (and "<name>-dlq") */
  queueName?: string;
  /** @default 30 */
  visibilityTimeoutSeconds?: number;
  /** Deliveries before a message goes to the dead-letter queue. @default 5 */
  maxReceiveCount?: number;
  /** @default 10 */
  batchSize?: number;
  /** Worker invocations at once. @default 4 */
  maxConcurrency?: number;
  /** The worker's function timeout. @default 30000 */
  functionTimeoutMs?: number;
  /**
   * How long a finished workflow is kept (its record's TTL, see DynamoWorkflowStore).
   * DynamoDB Local has no TTL: `expireDue()` does what it would.
   * @default - kept forever
   */
  retentionSeconds?: number;
  /**
   * Run `expireDue()` this often (what `cairn dev` may do, standing in for the TTL service).
   * @default - never: tests call `expireDue()` themselves
   */
  expireEveryMs?: number;
  /** Keep DynamoDB data here (survives `restartDynamo`) instead of in memory. */
  dynamoDataDir?: string;
  /**
   * The backoff of records the worker and dead-letter handler fail, as deployed
   * (see failureBackoff.ts): each failed record stays invisible for a delay that
   * doubles with its receive count, so an outage does not burn its deliveries.
   * Pass `{}` for the deployed schedule (30 s doubling to 900 s), a shorter
   * `baseSeconds` to try it in seconds.
   * @default false: failed records come back after `visibilityTimeoutSeconds`, so tests of failures stay quick
   */
  failureBackoff?: Omit<FailureBackoffOptions, "changeVisibility"> | false;
  /** Wrap the store or queue the worker uses (fault injection in tests, metrics in benchmarks). */
  wrapStore?: (store: WorkflowStore) => WorkflowStore;
  wrapQueue?: (queue: WorkQueue) => WorkQueue;
  /** Wrap the worker handler (e.g. to crash it in tests). */
  wrapWorker?: (handler: ReturnType<typeof createWorker>) => ReturnType<typeof createWorker>;
  onOutcome?: WorkerOptions["onOutcome"];
  logger?: Logger;
}

export interface LocalRuntime {
  client: WorkflowClient;
  store: DynamoWorkflowStore;
  queue: SqsWorkQueue;
  tableName: string;
  queueUrl: string;
  deadLetterQueueUrl: string;
  endpoints: { dynamodb: string; sqs: string };
  /** Environment variables that point Cairn code in another process at this stack. */
  env: Record<string, string>;
  worker: EventSourcePoller;
  deadLetters: EventSourcePoller;
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  /**
   * What DynamoDB's TTL and the reaper Lambda do when deployed, which DynamoDB Local
   * does not: delete the finished workflow records whose TTL is at or before `now`
   * (default: the current time), then everything else of those workflows. Returns
   * the ids of the workflows that expired.
   */
  expireDue(now?: number): Promise<string[]>;
  /**
   * Kill DynamoDB Local and start it again (needs `dynamoDataDir` to keep the data),
   * `downtimeMs` after the kill: an outage of at least that long.
   */
  restartDynamo(options?: { downtimeMs?: number }): Promise<void>;
  /** Stop pollers and emulators; leaves no process behind. */
  stop(): Promise<void>;
}

/**
 * The embedded stack: DynamoDB Local and an in-process SQS emulator on free
 * ports, the table, queue and dead-letter queue, and pollers that feed the
 * worker and the dead-letter handler as Lambda's event source mapping would.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const workflows = [...options.workflows];
  const tableName = options.tableName ?? "cairn-workflows";
  const queueName = options.queueName ?? "cairn-work";
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? 30;
  const maxReceiveCount = options.maxReceiveCount ?? 5;
  const logger = options.logger ?? createLogger(logLevelFromEnv("WARN"));

  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const dynamo: DynamoLocal = await startDynamoLocal(options.dynamoDataDir ? { dataDir: options.dynamoDataDir } : {});
    stops.push(() => dynamo.stop());
    const fauxqs = await startFauxqs({ port: 0, logger: false });
    stops.push(() => fauxqs.stop());
    const sqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;

    const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
    const dynamodb = new DynamoDBClient({ ...common, endpoint: dynamo.endpoint, maxAttempts: 8 });
    const sqs = new SQSClient({ ...common, endpoint: sqsEndpoint, useQueueUrlAsEndpoint: false, maxAttempts: 6 });
    stops.push(async () => {
      dynamodb.destroy();
      sqs.destroy();
    });

    await dynamodb.send(new CreateTableCommand(tableDefinition(tableName)));
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${queueName}-dlq`, Attributes: { MessageRetentionPeriod: "1209600" } }));
    const dlqArn = await queueArn(sqs, dlq.QueueUrl!);
    const work = await sqs.send(
      new CreateQueueCommand({
        QueueName: queueName,
        Attributes: {
          VisibilityTimeout: String(visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: String(maxReceiveCount) }),
        },
      }),
    );
    const queueUrl = work.QueueUrl!;
    const workArn = await queueArn(sqs, queueUrl);

    const store = new DynamoWorkflowStore({
      tableName,
      client: dynamodb,
      ...(options.retentionSeconds !== undefined ? { retentionSeconds: options.retentionSeconds } : {}),
    });
    const reaper = new ExpiredWorkflowReaper({ tableName, client: dynamodb });
    const queue = new SqsWorkQueue({ queueUrl, client: sqs });
    const queues = [...(options.queues ?? [])];
    // What the worker (and the periodic admission pass) see.
    const workerStore = options.wrapStore ? options.wrapStore(store) : store;
    const workerQueue = options.wrapQueue ? options.wrapQueue(queue) : queue;
    const baseWorker = createWorker({
      workflows,
      queues,
      store: workerStore,
      queue: workerQueue,
      visibilityTimeoutSeconds,
      logger,
      ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
    });
    const worker = new EventSourcePoller({
      sqs,
      queueUrl,
      queueArn: workArn,
      functionName: "cairn-worker",
      handler: options.wrapWorker ? options.wrapWorker(baseWorker) : baseWorker,
      batchSize: options.batchSize ?? 10,
      maxConcurrency: options.maxConcurrency ?? 4,
      functionTimeoutMs: options.functionTimeoutMs ?? 30_000,
      logger,
    });
    const deadLetterHandler = createDeadLetterHandler({ store, queue, logger, maxReceiveCount });
    // The handlers change the visibility of the records they fail in this stack's queues
    // (by default they would build an SQS client from process.env, which points elsewhere).
    const backoff = options.failureBackoff ?? false;
    const queueUrls = new Map([
      [workArn, queueUrl],
      [dlqArn, dlq.QueueUrl!],
    ]);
    for (const handler of [baseWorker, deadLetterHandler] as SqsBatchHandler[]) {
      failureBackoffOf(handler)?.configure(
        backoff === false ? false : { logger, ...backoff, changeVisibility: sqsChangeVisibility(sqs, (record) => queueUrls.get(record.eventSourceARN)) },
      );
    }
    const deadLetters = new EventSourcePoller({
      sqs,
      queueUrl: dlq.QueueUrl!,
      queueArn: dlqArn,
      functionName: "cairn-dead-letters",
      handler: deadLetterHandler,
      maxConcurrency: 1,
      logger,
    });
    worker.start();
    deadLetters.start();
    if (queues.length > 0) {
      // The periodic pass: admits what no trigger did (rate windows, lost triggers).
      const admitter = new Admitter(workerStore, workerQueue, new QueueRegistry(queues));
      const timer = setInterval(() => {
        admitter.admit().catch((err: unknown) => logger.warn("periodic admission pass failed; trying again later", { error: err }));
      }, options.admitEveryMs ?? 1_000);
      timer.unref();
      stops.push(async () => clearInterval(timer));
    }
    if (options.expireEveryMs !== undefined && options.expireEveryMs > 0) {
      const timer = setInterval(() => {
        reaper.expireDue().catch((err: unknown) => logger.warn("expiring finished workflows failed; trying again later", { error: err }));
      }, options.expireEveryMs);
      timer.unref();
      stops.push(async () => clearInterval(timer));
    }
    // Pollers stop first, so no invocation sees the emulators vanish.
    stops.push(async () => {
      await Promise.all([worker.stop(), deadLetters.stop()]);
    });

    return {
      client: new WorkflowClient({ store, queue, workflows, queues }),
      store,
      queue,
      tableName,
      queueUrl,
      deadLetterQueueUrl: dlq.QueueUrl!,
      endpoints: { dynamodb: dynamo.endpoint, sqs: sqsEndpoint },
      env: {
        [ENV.tableName]: tableName,
        [ENV.queueUrl]: queueUrl,
        [ENV.deadLetterQueueUrl]: dlq.QueueUrl!,
        ...(options.retentionSeconds !== undefined ? { [ENV.retentionDays]: String(options.retentionSeconds / 86_400) } : {}),
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_SQS: sqsEndpoint,
        AWS_REGION: LOCAL_REGION,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      },
      worker,
      deadLetters,
      dynamodb,
      sqs,
      expireDue: (now) => reaper.expireDue(now),
      restartDynamo: async ({ downtimeMs = 0 } = {}) => {
        if (downtimeMs > 0) {
          await dynamo.stop();
          await sleep(downtimeMs);
        }
        // After a stop, restart only starts the server again, on the same port.
        await dynamo.restart();
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }));
  return out.Attributes!.QueueArn!;
}
