import { CreateTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand, QueryCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { round } from "./metrics.js";

/**
 * The floor: only the AWS calls one step needs, with the raw SDK and no runtime
 * logic: receive the message, read the workflow's state (one consistent query),
 * record the step and advance the workflow (one transaction), send the next
 * message, delete the received one. Same emulators, same process, same run.
 */
export class Floor {
  private readonly doc: DynamoDBDocumentClient;
  private queueUrl = "";
  private readonly table = "floor-bench";
  private seq = 0;

  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly sqs: SQSClient,
  ) {
    this.doc = DynamoDBDocumentClient.from(dynamodb);
  }

  async setup(): Promise<void> {
    await this.dynamodb.send(
      new CreateTableCommand({
        TableName: this.table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sk", AttributeType: "S" },
        ],
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
      }),
    );
    this.queueUrl = (await this.sqs.send(new CreateQueueCommand({ QueueName: "floor-bench", Attributes: { VisibilityTimeout: "30" } }))).QueueUrl!;
  }

  private async start(steps: number): Promise<string> {
    const id = `floor-${++this.seq}`;
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: id, sk: "#WF", step: 0, steps } }));
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify({ id, step: 1 }) }));
    return id;
  }

  /** One message: read, record + advance, send next. Returns true when its workflow finished. */
  private async step(m: Message): Promise<boolean> {
    const { id, step } = JSON.parse(m.Body!) as { id: string; step: number };
    const state = await this.doc.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: "pk = :pk", ExpressionAttributeValues: { ":pk": id }, ConsistentRead: true }),
    );
    const wf = state.Items!.find((i) => i.sk === "#WF")!;
    await this.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: this.table, Item: { pk: id, sk: `STEP#${step}`, output: String(step) }, ConditionExpression: "attribute_not_exists(pk)" } },
          {
            Update: {
              TableName: this.table,
              Key: { pk: id, sk: "#WF" },
              UpdateExpression: "SET step = :s",
              ConditionExpression: "step = :prev",
              ExpressionAttributeValues: { ":s": step, ":prev": step - 1 },
            },
          },
        ],
      }),
    );
    if (step >= (wf.steps as number)) return true;
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify({ id, step: step + 1 }) }));
    return false;
  }

  /** Poll loops that process batches until `remaining` workflows have finished. */
  private async drain(loops: number, workflows: number, onStep?: () => void): Promise<void> {
    let remaining = workflows;
    const loop = async () => {
      while (remaining > 0) {
        const out = await this.sqs.send(new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
        const messages = out.Messages ?? [];
        if (!messages.length) continue;
        const finished = await Promise.all(messages.map((m) => this.step(m)));
        onStep?.();
        remaining -= finished.filter(Boolean).length;
        await this.sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
        );
      }
    };
    await Promise.all(Array.from({ length: loops }, loop));
  }

  /** Per-step latencies (ms) of one workflow at a time. */
  async latency(steps: number, runs: number): Promise<number[]> {
    const samples: number[] = [];
    for (let r = 0; r < runs; r++) {
      let last = performance.now();
      await this.start(steps);
      await this.drain(1, 1, () => {
        const now = performance.now();
        samples.push(now - last);
        last = now;
      });
    }
    return samples;
  }

  async throughput(concurrency: number, workflows: number, stepsEach: number): Promise<number> {
    const started = performance.now();
    await Promise.all(Array.from({ length: workflows }, () => this.start(stepsEach)));
    await this.drain(concurrency, workflows);
    return round((workflows * stepsEach) / ((performance.now() - started) / 1000), 1);
  }
}
