import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { Logger } from "../logger.js";
import { lambdaContext } from "./lambdaContext.js";

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface EventSourcePollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  handler: SqsHandler;
  functionName: string;
  /** Messages per invocation. @default 10 */
  batchSize?: number;
  /** Invocations at once (the event source's maximum concurrency). @default 2 */
  maxConcurrency?: number;
  /** The function timeout: the context's deadline, after which the batch counts as failed. @default 30000 */
  functionTimeoutMs?: number;
  /** Long-poll wait per receive. @default 1 */
  waitTimeSeconds?: number;
  region?: string;
  logger?: Logger;
}

export interface PollerStats {
  invocations: number;
  messages: number;
  failures: number;
  /** Summed invocation time, rounded up to the millisecond as Lambda bills it. */
  billedMs: number;
}

/** The pause after a failed receive, doubling while receives keep failing, up to the maximum. */
const RECEIVE_BACKOFF_MS = 200;
const RECEIVE_BACKOFF_MAX_MS = 5_000;

/**
 * Delivers SQS messages to a Lambda handler the way Lambda's SQS event source
 * mapping does: batches of records in Lambda's event shape, a context with a
 * deadline, and after each invocation the deletion of every record except those
 * the handler reported in `batchItemFailures` (all of them if it threw or timed
 * out). Failed records are left as they are: they reappear when their visibility
 * timeout ends (the queue's, or the one the handler set, as the worker's failure
 * backoff does); the queue's redrive policy moves them to the dead-letter queue.
 */
export class EventSourcePoller {
  readonly stats: PollerStats = { invocations: 0, messages: 0, failures: 0, billedMs: 0 };
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private readonly o: Required<Omit<EventSourcePollerOptions, "logger">> & { logger?: Logger };

  constructor(options: EventSourcePollerOptions) {
    this.o = { batchSize: 10, maxConcurrency: 2, functionTimeoutMs: 30_000, waitTimeSeconds: 1, region: "us-east-1", ...options };
  }

  start(): void {
    if (this.loops.length) return;
    for (let i = 0; i < this.o.maxConcurrency; i++) this.loops.push(this.loop());
  }

  /** Stop receiving and wait for invocations in progress to end. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
    this.loops = [];
  }

  private async loop(): Promise<void> {
    const { signal } = this.abort;
    // Receives failing in a row (SQS down): poll again later and later, as the event source mapping backs off.
    let receiveFailures = 0;
    while (!signal.aborted) {
      let messages: Message[];
      try {
        const out = await this.o.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.o.queueUrl,
            MaxNumberOfMessages: this.o.batchSize,
            WaitTimeSeconds: this.o.waitTimeSeconds,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
        receiveFailures = 0;
      } catch (err) {
        if (signal.aborted) return;
        receiveFailures++;
        const pause = Math.min(RECEIVE_BACKOFF_MAX_MS, RECEIVE_BACKOFF_MS * 2 ** Math.min(receiveFailures - 1, 10));
        this.o.logger?.warn("receive failed; polling again", { queueUrl: this.o.queueUrl, error: err, retryInMs: pause });
        await new Promise((r) => setTimeout(r, pause));
        continue;
      }
      if (messages.length) await this.invoke(messages);
    }
  }

  private async invoke(messages: Message[]): Promise<void> {
    const records = messages.map((m) => this.toRecord(m));
    const started = performance.now();
    const deadline = Date.now() + this.o.functionTimeoutMs;
    this.stats.invocations++;
    this.stats.messages += records.length;
    let failed: Set<string>;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Task timed out after ${this.o.functionTimeoutMs} ms`)), this.o.functionTimeoutMs);
      });
      const response = await Promise.race([this.o.handler({ Records: records }, lambdaContext(this.o.functionName, deadline - Date.now(), { region: this.o.region })), timeout]);
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (err) {
      this.o.logger?.warn("invocation failed; its messages will be delivered again", { functionName: this.o.functionName, error: err });
      failed = new Set(records.map((r) => r.messageId));
    } finally {
      clearTimeout(timer);
      this.stats.billedMs += Math.ceil(performance.now() - started);
    }
    this.stats.failures += failed.size;
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      try {
        await this.o.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.o.queueUrl,
            Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      } catch (err) {
        // As with Lambda: an undeleted message is delivered again, and the worker makes that harmless.
        this.o.logger?.warn("delete failed; messages will be delivered again", { error: err });
      }
    }
  }

  private toRecord(m: Message): SQSRecord {
    const attrs = m.Attributes ?? {};
    return {
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? "",
      attributes: {
        ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? "1",
        SentTimestamp: attrs.SentTimestamp ?? String(Date.now()),
        SenderId: attrs.SenderId ?? "local",
        ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
          k,
          { dataType: v.DataType ?? "String", ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}) },
        ]),
      ),
      md5OfBody: m.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: this.o.queueArn,
      awsRegion: this.o.region,
    };
  }

}
