import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { WorkflowClient, WorkflowRecoveryExceededError, WorkflowStatus, type Logger } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { CrashPoint, FaultInjector, withFaults } from "../../src/testing/index.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";
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

describe("messages that keep failing", () => {
  const probe = new StepProbe();
  const workflow = threeSteps("faults.poison", probe);
  const faults = new FaultInjector({ seed: 3 });
  const logger = new CapturingLogger();
  let rt: LocalRuntime;

  before(async () => {
    // Short visibility and three deliveries, so a poison message reaches the dead-letter queue in seconds.
    rt = await startTestRuntime([workflow], { visibilityTimeoutSeconds: 2, functionTimeoutMs: 2_000, maxReceiveCount: 3, logger, ...withFaults(faults) });
  });
  after(() => rt?.stop());

  it("end in MAX_RECOVERY_ATTEMPTS_EXCEEDED with the reason, and resume once the fault is gone", async () => {
    // Prepare: every worker that takes step 2 of this workflow crashes after claiming it.
    faults.setRules([{ point: CrashPoint.beforeStep, workflowId: "poison", step: 2 }]);
    const handle = await rt.client.startWorkflow(workflow, { n: 4 }, { workflowId: "poison" });

    // Act
    const error = await handle.getResult({ timeoutMs: 40_000 }).then(
      () => assert.fail("a poisoned workflow cannot succeed"),
      (err: unknown) => err,
    );

    // Assess: the dead letter marked the workflow, naming the step and the deliveries.
    assert.ok(error instanceof WorkflowRecoveryExceededError, String(error));
    const status = await rt.client.getWorkflowStatus("poison");
    assert.equal(status.status, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED);
    assert.match(status.recoveryReason ?? "", /step 2 failed \d+ deliveries and went to the dead-letter queue/);
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
    assert.match(status.recoveryReason ?? "", /step 1 failed/);
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
    const dropped = logger.lines.filter((l) => l.message === "foreign message on the dead-letter queue dropped");
    assert.equal(dropped.length, junk.length, "each foreign message is logged once when dropped");
    assert.equal(await rt.store.getWorkflow("never-started"), undefined, "a message for an unknown id creates no workflow");
    assert.equal((await rt.client.getWorkflowStatus("bystander")).status, WorkflowStatus.SUCCESS);
  });
});
