import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { createWorker, defineWorkflow, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { lambdaContext } from "../../src/local/lambdaContext.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";
import { assertRecordedOnce, quietLogger } from "./helpers.js";

const probe = new StepProbe();
/** Step 2 takes a while, so two deliveries of its message overlap. */
const slowMiddle = defineWorkflow("faults.duplicates", async (ctx, input: { n: number }) => {
  const a = await ctx.step("a", async () => {
    await probe.ran(ctx.workflowId, "a");
    return input.n;
  });
  const b = await ctx.step("b", async () => {
    await probe.ran(ctx.workflowId, "b");
    await sleep(300);
    return a + 1;
  });
  return ctx.step("c", async () => {
    await probe.ran(ctx.workflowId, "c");
    return b + 1;
  });
});


describe("a message delivered more than once", () => {
  describe("to two workers at the same time (same SQS message)", () => {
    let rt: LocalRuntime;
    before(async () => {
      rt = await startTestRuntime([slowMiddle], { logger: quietLogger });
      // This suite delivers the messages itself.
      await rt.worker.stop();
    });
    after(() => rt?.stop());

    /** Receive the next message of the work queue, as an SQS event record. */
    async function receive(): Promise<SQSRecord & { delete: () => Promise<unknown> }> {
      const message = await waitFor("a work message", async () => {
        const out = await rt.sqs.send(new ReceiveMessageCommand({ QueueUrl: rt.queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }));
        return out.Messages?.[0];
      });
      return {
        messageId: message.MessageId!,
        receiptHandle: message.ReceiptHandle!,
        body: message.Body!,
        attributes: { ApproximateReceiveCount: "1", SentTimestamp: "0", SenderId: "test", ApproximateFirstReceiveTimestamp: "0" },
        messageAttributes: {},
        md5OfBody: "",
        eventSource: "aws:sqs",
        eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:cairn-work",
        awsRegion: "us-east-1",
        delete: () => rt.sqs.send(new DeleteMessageCommand({ QueueUrl: rt.queueUrl, ReceiptHandle: message.ReceiptHandle! })),
      };
    }

    it("runs the step body once and records it once", async () => {
      // Prepare: a worker handler of our own; step 1 runs normally.
      const handler = createWorker({ workflows: [slowMiddle], store: rt.store, queue: rt.queue, visibilityTimeoutSeconds: 30, logger: quietLogger });
      const id = "dup-concurrent";
      await rt.client.startWorkflow(slowMiddle, { n: 1 }, { workflowId: id });
      const first = await receive();
      assert.deepEqual(await handler({ Records: [first] }, lambdaContext("test-worker", 30_000)), { batchItemFailures: [] });
      await first.delete();

      // Act: the message for step 2 reaches two workers at once (SQS delivers at least once).
      const second = await receive();
      const [one, two] = await Promise.all([
        handler({ Records: [second] }, lambdaContext("test-worker", 30_000)),
        handler({ Records: [{ ...second, receiptHandle: `${second.receiptHandle}-again` }] }, lambdaContext("test-worker", 30_000)),
      ]);
      const acknowledged = [one, two].filter((r) => r.batchItemFailures.length === 0).length;
      assert.ok(acknowledged >= 1, "at least one delivery is acknowledged");
      await second.delete();

      // Deliver whatever else is on the queue until the workflow ends.
      const deadline = Date.now() + 30_000;
      while ((await rt.client.getWorkflowStatus(id)).status !== WorkflowStatus.SUCCESS) {
        assert.ok(Date.now() < deadline, `workflow ${id} did not finish: ${JSON.stringify(await rt.client.getWorkflowStatus(id))}`);
        const next = await receive();
        const out = await handler({ Records: [next] }, lambdaContext("test-worker", 30_000));
        if (out.batchItemFailures.length === 0) await next.delete();
      }

      // Assess
      assert.equal(probe.count(id, "b"), 1, "step b ran once");
      assert.equal(probe.count(id, "c"), 1, "step c ran once");
      await assertRecordedOnce(rt.store, id, [1, 2, 3]);
      assert.equal(await rt.client.retrieveWorkflow(id).getResult(), 3);
    });
  });

  describe("as duplicate messages (two SQS messages for one step)", () => {
    let rt: LocalRuntime;
    before(async () => {
      rt = await startTestRuntime([slowMiddle], { logger: quietLogger });
    });
    after(() => rt?.stop());

    it("runs each step body once and records it once", async () => {
      // Prepare: a workflow whose step 1 message is sent four times over.
      const id = "dup-messages";
      await rt.client.startWorkflow(slowMiddle, { n: 10 }, { workflowId: id });
      const body = JSON.stringify({ kind: "cairn.step", v: 1, workflowId: id, step: 1, generation: 0 });
      await Promise.all([1, 2, 3].map(() => rt.sqs.send(new SendMessageCommand({ QueueUrl: rt.queueUrl, MessageBody: body }))));

      // Act
      const result = await rt.client.retrieveWorkflow(id).getResult({ timeoutMs: 20_000 });

      // Assess
      assert.equal(result, 12);
      assert.equal(probe.count(id, "a"), 1);
      assert.equal(probe.count(id, "b"), 1);
      assert.equal(probe.count(id, "c"), 1);
      await assertRecordedOnce(rt.store, id, [10, 11, 12]);
    });
  });
});
