import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { defineWorkflow, WorkflowClient, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { FaultInjector, FaultyQueue, FaultyStore, TransientFault, withFaults } from "../../src/testing/index.js";
import { StepProbe, startTestRuntime } from "../helpers/runtime.js";
import { assertRecordedOnce, quietLogger } from "./helpers.js";

const probe = new StepProbe();
/** Five steps with a sleep in the middle and a step that fails once and is retried. */
const fiveSteps = defineWorkflow("faults.transient", async (ctx, input: { n: number }) => {
  let total = input.n;
  for (const name of ["s1", "s2"]) {
    total = await ctx.step(name, async () => {
      await probe.ran(ctx.workflowId, name);
      return total + 1;
    });
  }
  await ctx.sleep(200);
  total = await ctx.step(
    "flaky",
    async () => {
      await probe.ran(ctx.workflowId, "flaky");
      if (probe.count(ctx.workflowId, "flaky") === 1) throw new Error("first attempt fails");
      return total + 1;
    },
    { retries: { maxAttempts: 3, intervalMs: 100 } },
  );
  return ctx.step("last", async () => {
    await probe.ran(ctx.workflowId, "last");
    return total * 10;
  });
});
/** Step outputs of fiveSteps for input n (the sleep records no output). */
const outputsFor = (n: number) => [n + 1, n + 2, undefined, n + 3, (n + 3) * 10];

describe("transient failures of DynamoDB and SQS", () => {
  const faults = new FaultInjector({ seed: 7 });
  let rt: LocalRuntime;

  before(async () => {
    // Faults strike every delivery independently; ten deliveries before the dead-letter queue
    // keep a run of bad luck from ending a workflow there.
    rt = await startTestRuntime([fiveSteps], { visibilityTimeoutSeconds: 3, maxReceiveCount: 10, logger: quietLogger, ...withFaults(faults) });
  });
  after(() => rt?.stop());

  async function runAll(prefix: string, count: number): Promise<string[]> {
    const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    const handles = await Promise.all(ids.map((id, i) => rt.client.startWorkflow(fiveSteps, { n: i * 100 }, { workflowId: id })));
    const results = await Promise.all(handles.map((h) => h.getResult({ timeoutMs: 60_000 })));
    results.forEach((r, i) => assert.equal(r, (i * 100 + 3) * 10));
    for (const [i, id] of ids.entries()) {
      await assertRecordedOnce(rt.store, id, outputsFor(i * 100));
      for (const step of ["s1", "s2", "last"]) assert.ok(probe.count(id, step) >= 1, `${id}/${step} ran`);
    }
    return ids;
  }

  it("completes every workflow through DynamoDB throttling and lost responses", async () => {
    faults.setRules([
      { point: TransientFault.storeThrottle, probability: 0.06, workflowId: (id) => id.startsWith("throttle-") },
      { point: TransientFault.storeLostResponse, probability: 0.06, workflowId: (id) => id.startsWith("throttle-") },
    ]);
    const before = faults.total;
    await runAll("throttle", 6);
    assert.ok(faults.total - before >= 3, `faults were injected (${JSON.stringify(faults.counts())})`);
  });

  it("completes every workflow when SQS refuses sends and visibility changes", async () => {
    // The first sends fail for sure (batched sends make fewer calls, so chance alone may not
    // hit any), then one in five at random.
    faults.setRules([
      { point: TransientFault.queueSendFailure, times: 3, workflowId: (id) => id.startsWith("sqs-") },
      { point: TransientFault.queueSendFailure, probability: 0.2, workflowId: (id) => id.startsWith("sqs-") },
      { point: TransientFault.visibilityFailure, probability: 0.5 },
    ]);
    const before = faults.count(TransientFault.queueSendFailure);
    await runAll("sqs", 6);
    assert.ok(faults.count(TransientFault.queueSendFailure) - before >= 2, `sends failed (${JSON.stringify(faults.counts())})`);
  });

  it("lets a caller whose start failed to enqueue start again with the same id", async () => {
    // Prepare: a client whose first send fails after the workflow record was written.
    const clientFaults = new FaultInjector({ rules: [{ point: TransientFault.queueSendFailure, times: 1 }] });
    const client = new WorkflowClient({ store: new FaultyStore(rt.store, new FaultInjector()), queue: new FaultyQueue(rt.queue, clientFaults) });
    faults.setRules([]);

    // Act
    await assert.rejects(client.startWorkflow(fiveSteps, { n: 5 }, { workflowId: "start-retry" }), { name: "RequestThrottled" });
    assert.equal((await rt.client.getWorkflowStatus("start-retry")).status, WorkflowStatus.ENQUEUED);
    const handle = await client.startWorkflow(fiveSteps, { n: 5 }, { workflowId: "start-retry" });

    // Assess
    assert.equal(await handle.getResult({ timeoutMs: 20_000 }), 80);
    await assertRecordedOnce(rt.store, "start-retry", outputsFor(5));
  });
});
