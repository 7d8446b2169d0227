import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient, type SQSClientConfig } from "@aws-sdk/client-sqs";
import { SQS_BATCH_LIMIT } from "../constants.js";
import { awsClientSettings } from "../awsEnv.js";
import { ENV, requireEnv } from "../config.js";
import type { AdmitMessage, WorkMessage } from "../types.js";
import { delaySecondsFor, encodeAdmitMessage, encodeMessage } from "./messages.js";
import type { WorkQueue } from "./WorkQueue.js";

export interface SqsWorkQueueOptions {
  queueUrl: string;
  client?: SQSClient;
  clientConfig?: SQSClientConfig;
}


export class SqsWorkQueue implements WorkQueue {
  readonly queueUrl: string;
  private readonly sqs: SQSClient;

  /** The queue at $CAIRN_QUEUE_URL; endpoint, region and credentials from `env` (see awsClientSettings). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SqsWorkQueue {
    return new SqsWorkQueue({ queueUrl: requireEnv(ENV.queueUrl, env), clientConfig: awsClientSettings("SQS", env) });
  }

  constructor(options: SqsWorkQueueOptions) {
    this.queueUrl = options.queueUrl;
    // Queue URLs of emulators name hosts that do not resolve; send to the configured endpoint.
    this.sqs = options.client ?? new SQSClient({ useQueueUrlAsEndpoint: false, maxAttempts: 6, ...options.clientConfig });
  }

  async send(messages: readonly WorkMessage[]): Promise<void> {
    const now = Date.now();
    if (messages.length === 1) {
      const [m] = messages as [WorkMessage];
      await this.sqs.send(
        new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: encodeMessage(m), DelaySeconds: delaySecondsFor(m, now) }),
      );
      return;
    }
    for (let i = 0; i < messages.length; i += SQS_BATCH_LIMIT) {
      const chunk = messages.slice(i, i + SQS_BATCH_LIMIT);
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((m, j) => ({ Id: String(j), MessageBody: encodeMessage(m), DelaySeconds: delaySecondsFor(m, now) })),
        }),
      );
      if (out.Failed?.length) {
        throw new Error(`SQS refused ${out.Failed.length} of ${chunk.length} messages: ${out.Failed.map((f) => f.Message ?? f.Code).join("; ")}`);
      }
    }
  }

  async sendAdmit(message: AdmitMessage): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: encodeAdmitMessage(message), DelaySeconds: delaySecondsFor(message, Date.now()) }),
    );
  }

  async extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }));
  }
}
