import { ChangeMessageVisibilityBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { MiddlewareObj } from "@middy/core";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { SQS_BATCH_LIMIT } from "../constants.js";
import { awsClientSettings } from "../awsEnv.js";
import { ENV } from "../config.js";
import { logger as defaultLogger, type Logger } from "../logger.js";

/**
 * Exponential backoff for the records a handler fails.
 *
 * A record reported in `batchItemFailures` comes back after the queue's
 * visibility timeout, and after `maxReceiveCount` deliveries it goes to the
 * dead-letter queue. Failed records are infrastructure failures (DynamoDB or
 * SQS throttling, 5xx, connection refused: a step body's own failure never
 * fails its record, it follows the step's retry policy), and such failures come
 * in outages. With a short visibility timeout an outage of a few minutes would
 * burn every delivery and dead-letter healthy workflows. So each failed record's
 * visibility is set to a delay that doubles with its ApproximateReceiveCount:
 *
 *   delivery that failed   1     2     3      4      5      6+
 *   comes back after (s)   30    60    120    240    480    900   (+ up to 20% jitter)
 *
 * With the default maxReceiveCount of 5, the fifth delivery comes at least
 * 30+60+120+240 = 450 s (7.5 min) after the first failure, and the message is
 * dead-lettered no earlier than 930 s (15.5 min) after it: an outage shorter
 * than 7.5 minutes costs no workflow, whatever the queue's visibility timeout.
 * The jitter spreads the messages of one outage when it ends.
 *
 * If ChangeMessageVisibility itself fails (an SQS outage), the failure is
 * logged and the record comes back after the queue's visibility timeout, as
 * it would without this middleware (the construct sets that to at least 6x the
 * worker's timeout). A full SQS outage also stops receives, so it burns no
 * deliveries. The middleware never fails the invocation: that would fail the
 * records that succeeded too.
 */

/** SQS's largest visibility timeout (12 hours). */
const SQS_MAX_VISIBILITY_SECONDS = 43_200;
/** The most time spent changing visibilities, so the invocation ends well before its deadline. */
const CHANGE_BUDGET_MS = 5_000;
const DEADLINE_MARGIN_MS = 250;

export const FAILURE_BACKOFF_DEFAULTS = {
  /** Visibility after a first failed delivery. */
  baseSeconds: 30,
  /** The longest visibility set. */
  maxSeconds: 900,
  /** Up to this fraction of the delay is added at random. */
  jitter: 0.2,
} as const;

/** One failed record and how long it stays invisible. */
export interface VisibilityChange {
  record: SQSRecord;
  seconds: number;
}

/** Sets the visibility of failed records (in the queue each record came from). */
export type ChangeVisibility = (changes: readonly VisibilityChange[]) => Promise<void>;

export interface FailureBackoffOptions {
  /** @default 30 */
  baseSeconds?: number;
  /** @default 900 */
  maxSeconds?: number;
  /** @default 0.2 */
  jitter?: number;
  /**
   * @default ChangeMessageVisibilityBatch with an SQS client from the environment, on the
   * queue named by each record's eventSourceARN; only where the handler runs in Lambda
   * ($AWS_LAMBDA_FUNCTION_NAME) or an SQS endpoint is configured (LocalStack). Elsewhere
   * (a handler called directly, as in unit tests) nothing is changed.
   */
  changeVisibility?: ChangeVisibility;
  logger?: Logger;
  /** @default Math.random */
  random?: () => number;
}

/** Seconds a record that failed its `receiveCount`-th delivery stays invisible. */
export function failureBackoffSeconds(
  receiveCount: number,
  schedule: { baseSeconds: number; maxSeconds: number; jitter: number } = FAILURE_BACKOFF_DEFAULTS,
  random: () => number = Math.random,
): number {
  const n = Number.isFinite(receiveCount) && receiveCount >= 1 ? Math.min(Math.floor(receiveCount), 64) : 1;
  const delay = schedule.baseSeconds * 2 ** (n - 1) * (1 + schedule.jitter * random());
  return Math.max(0, Math.min(schedule.maxSeconds, SQS_MAX_VISIBILITY_SECONDS, Math.ceil(delay)));
}

/**
 * The backoff of one handler's failed records, with its middy middleware.
 * `configure` replaces its settings (the embedded runtime points it at its own queue).
 */
export class FailureBackoff {
  private schedule: { baseSeconds: number; maxSeconds: number; jitter: number } = { ...FAILURE_BACKOFF_DEFAULTS };
  private change: ChangeVisibility | undefined;
  private log: Logger = defaultLogger;
  private random: () => number = Math.random;
  private enabled = true;

  constructor(options: FailureBackoffOptions | false = {}) {
    this.configure(options);
  }

  /** Replace the settings; `false` turns the backoff off (failed records keep the queue's visibility timeout). */
  configure(options: FailureBackoffOptions | false): void {
    this.enabled = options !== false;
    const o = options === false ? {} : options;
    this.schedule = {
      baseSeconds: checked("baseSeconds", o.baseSeconds ?? FAILURE_BACKOFF_DEFAULTS.baseSeconds),
      maxSeconds: checked("maxSeconds", o.maxSeconds ?? FAILURE_BACKOFF_DEFAULTS.maxSeconds),
      jitter: checked("jitter", o.jitter ?? FAILURE_BACKOFF_DEFAULTS.jitter),
    };
    this.change = o.changeVisibility ?? defaultChangeVisibility();
    this.log = o.logger ?? defaultLogger;
    this.random = o.random ?? Math.random;
  }

  /** Seconds a record that failed its `receiveCount`-th delivery stays invisible. */
  delaySeconds(receiveCount: number): number {
    return failureBackoffSeconds(receiveCount, this.schedule, this.random);
  }

  /** The middleware: after the handler (and on its error), back off every failed record. */
  middleware(): MiddlewareObj<SQSEvent, SQSBatchResponse> {
    const after = async (request: { event: SQSEvent; response: SQSBatchResponse | null | undefined; context: Context }): Promise<void> => {
      await this.backOff(request.event, request.response ?? undefined, request.context);
    };
    return { after, onError: after };
  }

  /**
   * Set the visibility of the records `response` reports failed (all of them
   * without a response: the invocation failed as a whole). Never throws.
   */
  async backOff(event: SQSEvent, response: SQSBatchResponse | undefined, context?: Pick<Context, "getRemainingTimeInMillis">): Promise<void> {
    if (!this.enabled || !this.change) return;
    try {
      const records = event?.Records ?? [];
      const failedIds = response?.batchItemFailures ? new Set(response.batchItemFailures.map((f) => f.itemIdentifier)) : undefined;
      const failed = records.filter((r) => failedIds === undefined || failedIds.has(r.messageId));
      if (failed.length === 0) return;
      const changes = failed.map((record) => ({ record, seconds: this.delaySeconds(Number(record.attributes?.ApproximateReceiveCount)) }));
      const remaining = context?.getRemainingTimeInMillis?.() ?? CHANGE_BUDGET_MS;
      const budget = Math.max(0, Math.min(CHANGE_BUDGET_MS, remaining - DEADLINE_MARGIN_MS));
      await withTimeout(this.change(changes), budget);
      this.log.debug("failed records backed off", { records: changes.map((c) => ({ messageId: c.record.messageId, seconds: c.seconds })) });
    } catch (err) {
      this.log.warn("could not back off failed records; they come back after the queue's visibility timeout", { error: err });
    }
  }
}

/** A middy middleware backing off the failed records of an SQS handler (use it before sqs-partial-batch-failure). */
export function failureBackoff(options: FailureBackoffOptions = {}): MiddlewareObj<SQSEvent, SQSBatchResponse> {
  return new FailureBackoff(options).middleware();
}

/**
 * ChangeMessageVisibilityBatch through `sqs`, on the queue `queueUrlOf` names
 * for each record; throws if any entry failed.
 */
export function sqsChangeVisibility(sqs: SQSClient, queueUrlOf: (record: SQSRecord) => string | undefined): ChangeVisibility {
  return async (changes) => {
    const byQueue = new Map<string, VisibilityChange[]>();
    const unknown: string[] = [];
    for (const change of changes) {
      const url = queueUrlOf(change.record);
      if (url === undefined) unknown.push(change.record.messageId);
      else byQueue.set(url, [...(byQueue.get(url) ?? []), change]);
    }
    const failures: string[] = unknown.map((id) => `${id}: no queue URL for its event source`);
    const sends: Promise<void>[] = [];
    for (const [queueUrl, list] of byQueue) {
      for (let i = 0; i < list.length; i += SQS_BATCH_LIMIT) {
        const chunk = list.slice(i, i + SQS_BATCH_LIMIT);
        sends.push(
          sqs
            .send(
              new ChangeMessageVisibilityBatchCommand({
                QueueUrl: queueUrl,
                Entries: chunk.map((c, j) => ({ Id: String(j), ReceiptHandle: c.record.receiptHandle, VisibilityTimeout: c.seconds })),
              }),
            )
            .then((out) => {
              for (const f of out.Failed ?? []) failures.push(`${chunk[Number(f.Id)]?.record.messageId ?? f.Id}: ${f.Code ?? ""} ${f.Message ?? ""}`.trim());
            }),
        );
      }
    }
    const settled = await Promise.allSettled(sends);
    for (const s of settled) if (s.status === "rejected") failures.push(s.reason instanceof Error ? `${s.reason.name}: ${s.reason.message}` : String(s.reason));
    if (failures.length) throw new Error(`ChangeMessageVisibility failed for ${failures.length} record(s): ${failures.join("; ").slice(0, 1_000)}`);
  };
}

/**
 * The URL of the queue an event source ARN names: $CAIRN_QUEUE_URL or $CAIRN_DLQ_URL
 * when one of them is that queue (its exact URL), otherwise the standard SQS URL.
 */
export function queueUrlFromArn(arn: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const parts = arn.split(":");
  if (parts.length !== 6 || parts[0] !== "arn" || parts[2] !== "sqs") return undefined;
  const [, partition, , region, account, name] = parts as [string, string, string, string, string, string];
  for (const known of [env[ENV.queueUrl], env[ENV.deadLetterQueueUrl]]) {
    if (known && known.replace(/\/+$/, "").endsWith(`/${account}/${name}`)) return known;
  }
  const domain = partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return `https://sqs.${region}.${domain}/${account}/${name}`;
}

/** The default: SQS from the environment, only inside Lambda or with an SQS endpoint configured. */
function defaultChangeVisibility(env: NodeJS.ProcessEnv = process.env): ChangeVisibility | undefined {
  const settings = awsClientSettings("SQS", env);
  if (!env.AWS_LAMBDA_FUNCTION_NAME && settings.endpoint === undefined) return undefined;
  let sqs: SQSClient | undefined;
  return (changes) => {
    // Created on first use: most invocations fail no record.
    sqs ??= new SQSClient({ ...settings, useQueueUrlAsEndpoint: false, maxAttempts: 3 });
    return sqsChangeVisibility(sqs, (record) => queueUrlFromArn(record.eventSourceARN, env))(changes);
  };
}

function checked(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`failure backoff ${name} must be a number >= 0, got ${String(value)}`);
  return value;
}

async function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
