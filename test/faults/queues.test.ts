import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { FINISHED_STATUSES } from "../../src/constants.js";
import { defineQueue, defineWorkflow, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { CRASH_POINTS, FaultInjector, TransientFault, withFaults } from "../../src/testing/index.js";
import { startTestRuntime, waitFor } from "../helpers/runtime.js";
import { quietLogger } from "./helpers.js";

/**
 * A queue of concurrency 3 under the chaos faults (worker crashes at every point,
 * throttling, lost answers, failed sends): sampled throughout, it never has more
 * than 3 workflows PENDING; every workflow ends; every slot is given back.
 */
describe("a queue under faults", () => {
  const busy = defineWorkflow("faults.queued", async (ctx, n: number) => {
    const a = await ctx.step("a", async () => n, { retries: { maxAttempts: 6, intervalMs: 50 } });
    await ctx.step("b", async () => sleep(30).then(() => a + 1), { retries: { maxAttempts: 6, intervalMs: 50 } });
    return a;
  });
  const three = defineQueue("faults-three", { concurrency: 3 });
  const rate = 0.03;
  const faults = new FaultInjector({
    seed: 21,
    rules: [
      ...CRASH_POINTS.map((point) => ({ point, probability: rate })),
      { point: TransientFault.storeThrottle, probability: rate },
      { point: TransientFault.storeLostResponse, probability: rate / 2 },
      { point: TransientFault.queueSendFailure, probability: rate },
    ],
  });
  let rt: LocalRuntime;

  before(async () => {
    rt = await startTestRuntime([busy], {
      queues: [three],
      visibilityTimeoutSeconds: 2,
      functionTimeoutMs: 4_000,
      maxReceiveCount: 20,
      maxConcurrency: 6,
      logger: quietLogger,
      ...withFaults(faults),
    });
  });
  after(() => rt?.stop());

  it("never has more than 3 PENDING, finishes every workflow and gives every slot back", async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `fq-${i}`);
    await Promise.all(ids.map((id, i) => rt.client.startWorkflow(busy, i, { workflowId: id, queueName: three.name })));
    let most = 0;
    let samples = 0;
    const finished = async () => {
      const records = await rt.store.getWorkflows(ids);
      const statuses = [...records.values()].map((r) => r.status);
      most = Math.max(most, statuses.filter((s) => s === WorkflowStatus.PENDING).length);
      samples++;
      return statuses.length === ids.length && statuses.every((s) => FINISHED_STATUSES.includes(s));
    };
    await waitFor("every queued workflow to end", finished, 120_000);
    assert.ok(most <= 3, `at most 3 PENDING at once, saw ${most} over ${samples} samples`);
    assert.ok(faults.log.length > 0, "faults were injected");
    const succeeded = (await Promise.all(ids.map((id) => rt.client.getWorkflowStatus(id)))).filter((s) => s.status === WorkflowStatus.SUCCESS).length;
    assert.equal(succeeded, ids.length, "retries absorbed every fault");
    faults.disable();
    await waitFor("every slot given back", async () => (await rt.store.queueCounts({ queueName: three.name })).slots === 0, 30_000);
  });
});
