import { setTimeout as sleep } from "node:timers/promises";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { Logger } from "../../src/index.js";
import type { WorkQueue } from "../../src/queue/WorkQueue.js";
import type { AdmitMessage } from "../../src/types.js";
import type { WorkMessage } from "../../src/types.js";
import { lambdaContext } from "../../src/local/lambdaContext.js";

type BatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

/** An SQS record as Lambda's event source hands it to a function. */
export function sqsRecord(
  fields: { messageId: string; body: string; receiveCount?: string },
  queueArn = "arn:aws:sqs:us-east-1:000000000000:cairn-work",
): SQSRecord {
  const now = String(Date.now());
  return {
    messageId: fields.messageId,
    receiptHandle: `fuzz-${fields.messageId}-${Math.random().toString(36).slice(2)}`,
    body: fields.body,
    attributes: { ApproximateReceiveCount: fields.receiveCount ?? "1", SentTimestamp: now, SenderId: "fuzz", ApproximateFirstReceiveTimestamp: now },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: "us-east-1",
  };
}

/** A logger that keeps what it is told (the handlers report failed records' reasons through it). */
export class CapturingLogger implements Logger {
  readonly lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  debug(): void {}
  info(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: "INFO", message, fields });
  }
  warn(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: "WARN", message, fields });
  }
  error(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: "ERROR", message, fields });
  }
  /** The reason the handler gave for failing `messageId` (the batch handlers log it with the id). */
  failureOf(messageId: string, since: number): unknown {
    for (let i = this.lines.length - 1; i >= since; i--) {
      const line = this.lines[i]!;
      if (line.fields.messageId === messageId && "error" in line.fields) return line.fields.error;
    }
    return undefined;
  }
  trim(): void {
    if (this.lines.length > 20_000) this.lines.splice(0, this.lines.length - 10_000);
  }
}

/**
 * The queue the fuzz's own worker sends through: everything is remembered
 * (which message a delivery made the worker send), and passed on to the real
 * work queue unless `forward` is off (probes at the end of a round).
 */
export class RecordingQueue implements WorkQueue {
  readonly sent: { at: number; message: WorkMessage }[] = [];
  forward = true;

  constructor(private readonly inner: WorkQueue) {}

  async send(messages: readonly WorkMessage[]): Promise<void> {
    for (const message of messages) this.sent.push({ at: this.sent.length, message });
    if (this.forward) await this.inner.send(messages);
  }

  sendAdmit(message: AdmitMessage): Promise<void> {
    return this.forward ? this.inner.sendAdmit(message) : Promise.resolve();
  }

  extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    // The fuzz's records were never received from SQS: there is no visibility to extend.
    if (receiptHandle.startsWith("fuzz-")) return Promise.resolve();
    return this.inner.extendVisibility(receiptHandle, seconds);
  }
}

export interface DeliveryAnswer {
  /** Records the handler acknowledged (not in batchItemFailures). */
  acked: string[];
  /** Records it failed, with the reason it logged. */
  failed: { record: SQSRecord; reason: unknown }[];
  /** The handler threw instead of answering (Lambda would fail the whole batch). */
  thrown?: unknown;
  /** Still running when the caller stopped waiting (a step body is held at a gate). */
  pending?: Promise<DeliveryAnswer>;
}

/**
 * Hands records to a handler as Lambda's SQS event source does and reads its
 * partial batch answer. Redelivery (after a visibility timeout, up to
 * maxReceiveCount, then the dead-letter queue) is the runner's to schedule.
 */
export async function deliver(
  handler: BatchHandler,
  logger: CapturingLogger,
  records: SQSRecord[],
  options: { functionName: string; timeoutMs: number; waitMs?: number },
): Promise<DeliveryAnswer> {
  const since = logger.lines.length;
  const run = (async (): Promise<DeliveryAnswer> => {
    let response: SQSBatchResponse | void;
    try {
      response = await handler({ Records: records }, lambdaContext(options.functionName, options.timeoutMs));
    } catch (thrown) {
      return { acked: [], failed: records.map((record) => ({ record, reason: thrown })), thrown };
    }
    const failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    return {
      acked: records.filter((r) => !failedIds.has(r.messageId)).map((r) => r.messageId),
      failed: records.filter((r) => failedIds.has(r.messageId)).map((record) => ({ record, reason: logger.failureOf(record.messageId, since) })),
    };
  })();
  if (options.waitMs === undefined) return run;
  const waited = await Promise.race([run, sleep(options.waitMs).then(() => undefined)]);
  return waited ?? { acked: [], failed: [], pending: run };
}
