import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { randomUUID } from "node:crypto";
import { GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import { createDeadLetterHandler, WorkflowClient, WorkflowRecoveryExceededError, WorkflowStatus, type Logger } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { lambdaContext } from "../../src/local/lambdaContext.js";
import { CrashPoint, dynamoThrottlingError, FaultInjector, withFaults } from "../../src/testing/index.js";
import type { WorkflowStore } from "../../src/store/WorkflowStore.js";
import { encodeAdmitMessage } from "../../src/queue/messages.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";
import { interceptStore } from "../helpers/stores.js";
import { assertRecordedOnce, threeSteps, threeStepsOutputs } from "./helpers.js";

/** Remembers log lines, so the test can see what the dead-letter handler did. */
class CapturingLogger implements Logger {
  readonly lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  debug(message: string, fields: Record<string, unknown> = {}) { this.lines.push({ level: "DEBUG", message, fields }); }
  info(message: string, fields: Record<string, unknown> = {}) { this.lines.push({ level: "INFO", message, fields }); }
  warn(message: string, fields: Record<string, unknown> = {}) { this.lines.push({ level: "WARN", message, fields }); }
  error(message: string, fields: Record<string, unknown> = {}) { this.lines.push({ level: "ERROR", message, fields }); }
}

async function queueDepth(rt: LocalRuntime, queueUrl: string): Promise<number> {
  const out = await rt.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
    }),
  );
  const a = out.Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
}

/** A dead letter as Lambda hands it to the handler (the dead-letter queue has received it `receives` times). */
function deadLetter(body: string, receives = 7): SQSRecord {
  return {
    messageId: randomUUID(),
    receiptHandle: randomUUID(),
    body,
    attributes: { ApproximateReceiveCount: String(receives), SentTimestamp: String(Date.now()), SenderId: "local", ApproximateFirstReceiveTimestamp: String(Date.now()) },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:cairn-work-dlq",
    awsRegion: "us-east-1",
  };
}

const stepMessage = (fields: Record<string, unknown>) => JSON.stringify({ kind: "cairn.step", v: 1, ...fields });

/** Hand records to a dead-letter handler; the ids it fails (to be delivered again). */
async function handOver(handler: ReturnType<typeof createDeadLetterHandler>, records: SQSRecord[]): Promise<string[]> {
  const response = (await handler({ Records: records }, lambdaContext("dead-letters", 30_000))) as SQSBatchResponse | undefined;
  return (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
}

describe("messages that keep failing", () => {
  const probe = new StepProbe();
  const workflow = threeSteps("faults.poison", probe);
  const faults = new FaultInjector({ seed: 3 });
  const logger = new CapturingLogger();
  let rt: LocalRuntime;

  const savedEnv = process.env.CAIRN_MAX_RECEIVE_COUNT;

  before(async () => {
    // Short visibility and three deliveries, so a poison message reaches the dead-letter queue in seconds.
    // The construct tells the dead-letter handler the queue's maxReceiveCount through the environment.
    process.env.CAIRN_MAX_RECEIVE_COUNT = "3";
    rt = await startTestRuntime([workflow], { visibilityTimeoutSeconds: 2, functionTimeoutMs: 2_000, maxReceiveCount: 3, logger, ...withFaults(faults) });
  });
  after(async () => {
    if (savedEnv === undefined) delete process.env.CAIRN_MAX_RECEIVE_COUNT;
    else process.env.CAIRN_MAX_RECEIVE_COUNT = savedEnv;
    await rt?.stop();
  });

  it("end in MAX_RECOVERY_ATTEMPTS_EXCEEDED with the reason, and resume once the fault is gone", async () => {
    // Prepare: every worker that takes step 2 of this workflow crashes after claiming it.
    faults.setRules([{ point: CrashPoint.beforeStep, workflowId: "poison", step: 2 }]);
    const handle = await rt.client.startWorkflow(workflow, { n: 4 }, { workflowId: "poison" });

    // Act
    const error = await handle.getResult({ timeoutMs: 40_000 }).then(
      () => assert.fail("a poisoned workflow cannot succeed"),
      (err: unknown) => err,
    );

    // Assess: the dead letter marked the workflow, naming the step and the deliveries: exactly the queue's maxReceiveCount.
    assert.ok(error instanceof WorkflowRecoveryExceededError, String(error));
    const status = await rt.client.getWorkflowStatus("poison");
    assert.equal(status.status, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED);
    assert.match(status.recoveryReason ?? "", /^The message for step 2 failed 3 deliveries \(the work queue's maxReceiveCount\) and went to the dead-letter queue/);
    assert.equal(probe.count("poison", "b"), 0, "the crash came before the body");

    // Act: the fault is fixed; resume.
    faults.setRules([]);
    await rt.client.resumeWorkflow("poison");

    // Assess
    const expected = threeStepsOutputs(4);
    assert.equal(await handle.getResult({ timeoutMs: 20_000 }), expected.result);
    await assertRecordedOnce(rt.store, "poison", expected.outputs);
    assert.deepEqual([probe.count("poison", "a"), probe.count("poison", "b"), probe.count("poison", "c")], [1, 1, 1]);
  });

  it("end a workflow whose name no worker knows in MAX_RECOVERY_ATTEMPTS_EXCEEDED", async () => {
    // Prepare: a client that does not know the worker's workflows (another deployment, an older version).
    const blind = new WorkflowClient({ store: rt.store, queue: rt.queue });

    // Act
    await blind.startWorkflow("no.such.workflow", { x: 1 }, { workflowId: "unknown-name" });
    const status = await waitFor(
      "the unknown workflow to be marked",
      async () => {
        const s = await rt.client.getWorkflowStatus("unknown-name");
        return s.status === WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED && s;
      },
      40_000,
    );

    // Assess
    assert.equal(status.name, "no.such.workflow");
    assert.match(status.recoveryReason ?? "", /step 1 failed 3 deliveries/);
    assert.match(status.recoveryReason ?? "", /last error: UnknownWorkflowError: No workflow named "no\.such\.workflow" is registered/);
    await assert.rejects(rt.client.retrieveWorkflow("unknown-name").getResult(), (err: Error) => {
      assert.ok(err instanceof WorkflowRecoveryExceededError);
      assert.match(err.message, /unknown-name/);
      return true;
    });
    // Why it failed is also in the worker's log: no workflow of that name is registered.
    assert.ok(
      logger.lines.some((l) => /no\.such\.workflow/.test(JSON.stringify(l.fields.error ?? "")) && /No workflow named/.test(JSON.stringify(l.fields.error ?? ""))),
      "the worker logged the unknown name",
    );
  });

  it("drop malformed and foreign messages and disturb nothing else", async () => {
    // Prepare: a workflow runs while junk lands on the work queue.
    const handle = await rt.client.startWorkflow(workflow, { n: 9 }, { workflowId: "bystander" });
    const junk = [
      "not json at all",
      "{}",
      JSON.stringify({ hello: "world" }),
      JSON.stringify({ kind: "cairn.step", v: 99, workflowId: "x", step: 1, generation: 0 }),
      JSON.stringify({ kind: "cairn.step", v: 1, workflowId: "bystander", step: -3, generation: 0 }),
    ];
    const orphan = JSON.stringify({ kind: "cairn.step", v: 1, workflowId: "never-started", step: 1, generation: 0 });

    // Act
    for (const body of [...junk, orphan]) await rt.sqs.send(new SendMessageCommand({ QueueUrl: rt.queueUrl, MessageBody: body }));

    // Assess: the workflow is unaffected, the junk ends on the dead-letter queue and is dropped there.
    const expected = threeStepsOutputs(9);
    assert.equal(await handle.getResult({ timeoutMs: 20_000 }), expected.result);
    await assertRecordedOnce(rt.store, "bystander", expected.outputs);
    await waitFor("both queues to drain", async () => (await queueDepth(rt, rt.queueUrl)) + (await queueDepth(rt, rt.deadLetterQueueUrl)) === 0, 40_000);
    const dropped = logger.lines.filter((l) => l.message === "dead letter dropped" && l.fields.why === "malformed");
    assert.equal(dropped.length, junk.length, "each foreign message is logged once when dropped");
    assert.equal(await rt.store.getWorkflow("never-started"), undefined, "a message for an unknown id creates no workflow");
    assert.equal((await rt.client.getWorkflowStatus("bystander")).status, WorkflowStatus.SUCCESS);
  });

  describe("the dead-letter handler", () => {
    /** Start a workflow and hold it in step 2's body: healthy, running, with step 1 recorded. */
    async function runningInStep2(id: string): Promise<{ open: () => void; generation: number }> {
      const gate = probe.hold(id, "b");
      await rt.client.startWorkflow(workflow, { n: 1 }, { workflowId: id });
      await gate.reached;
      const wf = await rt.store.getWorkflow(id);
      assert.equal(wf?.status, WorkflowStatus.PENDING);
      return { open: gate.open, generation: wf!.generation };
    }

    it("acknowledges and logs, clipped, any dead letter that cannot be decoded, and marks nothing", async () => {
      // Prepare: bodies no delivery can ever act on; some used to throw a TypeError or a DynamoDB ValidationException here.
      const handler = createDeadLetterHandler({ store: rt.store, logger, maxReceiveCount: 3 });
      const bodies = [
        stepMessage({ workflowId: "dl-hostile", step: 1, generation: 0, op: null }),
        stepMessage({ workflowId: "w".repeat(3_000), step: 1, generation: 0 }),
        stepMessage({ workflowId: "dl-hostile", step: 2 ** 53, generation: 0 }),
        stepMessage({ workflowId: "dl-hostile", step: 1, generation: 0, notBefore: 1e300 }),
        "x".repeat(200_000),
        "",
      ];
      const before = logger.lines.length;

      // Act
      const failed = await handOver(handler, bodies.map((b) => deadLetter(b)));

      // Assess
      assert.deepEqual(failed, [], "none comes back from the dead-letter queue");
      const logged = logger.lines.slice(before).filter((l) => l.message === "dead letter dropped");
      assert.equal(logged.length, bodies.length, "each is logged once");
      for (const line of logged) assert.ok(JSON.stringify(line).length < 2_000, `log line of ${JSON.stringify(line).length} characters`);
    });

    it("acknowledges a dead-lettered admission message with a warning, and marks nothing", async () => {
      const handler = createDeadLetterHandler({ store: rt.store, logger, maxReceiveCount: 3 });
      const before = logger.lines.length;
      const failed = await handOver(handler, [deadLetter(encodeAdmitMessage({ queueName: "some-queue" }))]);
      assert.deepEqual(failed, [], "it does not come back");
      const logged = logger.lines.slice(before).map((l) => l.message);
      assert.deepEqual(logged, ["admission message dead-lettered; the next admission pass takes over"]);
    });

    it("acknowledges a dead letter of a workflow that does not exist", async () => {
      const handler = createDeadLetterHandler({ store: rt.store, logger });
      assert.deepEqual(await handOver(handler, [deadLetter(stepMessage({ workflowId: "dl-never-started", step: 1, generation: 0 }))]), []);
      assert.equal(await rt.store.getWorkflow("dl-never-started"), undefined);
    });

    it("never marks a healthy workflow for a message of a step it is not at", async () => {
      // Prepare: a running workflow and dead letters that look like its own: a later step, an earlier one, step 2^53, a stale generation.
      const { open, generation } = await runningInStep2("dl-healthy");
      const handler = createDeadLetterHandler({ store: rt.store, logger, maxReceiveCount: 3 });
      const wrong = [
        { step: 3, generation },
        { step: 4, generation, op: { kind: "step", name: "x" } },
        { step: 1, generation },
        { step: 2 ** 53, generation },
        { step: 2, generation: generation + 1 },
      ];

      // Act
      const failed = await handOver(handler, wrong.map((m) => deadLetter(stepMessage({ workflowId: "dl-healthy", ...m }))));

      // Assess
      assert.deepEqual(failed, []);
      const status = await rt.client.getWorkflowStatus("dl-healthy");
      assert.equal(status.status, WorkflowStatus.PENDING, status.recoveryReason);
      open();
      assert.equal(await rt.client.retrieveWorkflow("dl-healthy").getResult({ timeoutMs: 20_000 }), threeStepsOutputs(1).result);
    });

    it("marks the workflow for a message of its running step, quoting the queue's maxReceiveCount and no other count", async () => {
      // Prepare: the dead-letter queue's own receive count (7) includes receives that were not deliveries to the worker.
      const { open, generation } = await runningInStep2("dl-stuck");
      const handler = createDeadLetterHandler({ store: rt.store, logger, maxReceiveCount: 5 });
      const record = deadLetter(stepMessage({ workflowId: "dl-stuck", step: 2, generation }), 7);

      // Act
      const failed = await handOver(handler, [record]);

      // Assess
      assert.deepEqual(failed, []);
      const status = await rt.client.getWorkflowStatus("dl-stuck");
      assert.equal(status.status, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED);
      assert.equal(
        status.recoveryReason,
        `The message for step 2 failed 5 deliveries (the work queue's maxReceiveCount) and went to the dead-letter queue (message ${record.messageId})`,
      );
      assert.doesNotMatch(status.recoveryReason ?? "", /\b7\b/);
      open();
    });

    it("quotes no number of deliveries when it does not know the queue's maxReceiveCount", async () => {
      // Prepare
      const { open, generation } = await runningInStep2("dl-uncounted");
      const saved = process.env.CAIRN_MAX_RECEIVE_COUNT;
      delete process.env.CAIRN_MAX_RECEIVE_COUNT;
      const handler = createDeadLetterHandler({ store: rt.store, logger });
      if (saved !== undefined) process.env.CAIRN_MAX_RECEIVE_COUNT = saved;

      // Act
      await handOver(handler, [deadLetter(stepMessage({ workflowId: "dl-uncounted", step: 2, generation }), 7)]);

      // Assess
      const status = await rt.client.getWorkflowStatus("dl-uncounted");
      assert.match(status.recoveryReason ?? "", /^The message for step 2 failed every delivery the work queue allows and went to the dead-letter queue/);
      assert.doesNotMatch(status.recoveryReason ?? "", /\d+ deliveries/);
      open();
    });

    it("fails a dead letter, to see it again, only when the table cannot be reached for now", async () => {
      // Prepare: DynamoDB throttles every read.
      const { open, generation } = await runningInStep2("dl-throttled");
      const throttled: WorkflowStore = interceptStore(rt.store, {
        loadState: async () => {
          throw dynamoThrottlingError();
        },
        getWorkflow: async () => {
          throw dynamoThrottlingError();
        },
      });
      const handler = createDeadLetterHandler({ store: throttled, logger, maxReceiveCount: 3 });
      const record = deadLetter(stepMessage({ workflowId: "dl-throttled", step: 2, generation }));

      // Act
      const failed = await handOver(handler, [record, deadLetter("not ours")]);

      // Assess: the transient error fails its record only; the foreign one is dropped all the same.
      assert.deepEqual(failed, [record.messageId]);
      assert.equal((await rt.client.getWorkflowStatus("dl-throttled")).status, WorkflowStatus.PENDING);
      open();
    });
  });
});
