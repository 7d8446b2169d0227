import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { defineWorkflow } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { StepProbe, startTestRuntime } from "../helpers/runtime.js";
import { assertRecordedOnce, quietLogger } from "./helpers.js";

const probe = new StepProbe();
const long = defineWorkflow("faults.long", async (ctx) => {
  const a = await ctx.step("quick", async () => {
    await probe.ran(ctx.workflowId, "quick");
    return 1;
  });
  const b = await ctx.step("long", async () => {
    await probe.ran(ctx.workflowId, "long");
    await sleep(5_000);
    return a + 1;
  });
  return b + 1;
});

describe("a step longer than the queue's visibility timeout", () => {
  const deliveries = new Map<string, number>();
  let rt: LocalRuntime;
  before(async () => {
    rt = await startTestRuntime([long], {
      visibilityTimeoutSeconds: 2,
      functionTimeoutMs: 12_000,
      maxConcurrency: 4,
      logger: quietLogger,
      // Count every delivery of every message the worker receives.
      wrapWorker: (handler) => (event, context) => {
        for (const r of event.Records) deliveries.set(r.messageId, (deliveries.get(r.messageId) ?? 0) + 1);
        return handler(event, context);
      },
    });
  });
  after(() => rt?.stop());

  it("keeps its message invisible while it runs, so no second worker starts it", async () => {
    // Act
    const handle = await rt.client.startWorkflow(long, undefined, { workflowId: "long-step" });
    const result = await handle.getResult({ timeoutMs: 30_000 });

    // Assess: 5 s of work under a 2 s visibility timeout, yet one delivery and one run.
    assert.equal(result, 3);
    assert.equal(probe.count("long-step", "long"), 1, "the long body ran once");
    assert.deepEqual([...deliveries.values()], [1, 1], "each message was delivered once");
    await assertRecordedOnce(rt.store, "long-step", [1, 2]);
  });
});
