import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { defineWorkflow, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { StepProbe, startTestRuntime } from "../helpers/runtime.js";
import { interceptStore } from "../helpers/stores.js";
import { quietLogger } from "./helpers.js";

/**
 * A write that lands but whose answer is lost is retried inside the SDK, and
 * the retry then finds its own write: a put reports the step as already there,
 * a release reports no claim. The worker must still send the next message.
 */
const probe = new StepProbe();
const failures = new Map<string, number>();

const steps = defineWorkflow("faults.lost-answers", async (ctx) => {
  const a = await ctx.step("a", async () => {
    await probe.ran(ctx.workflowId, "a");
    return 1;
  });
  const b = await ctx.step(
    "b",
    async () => {
      await probe.ran(ctx.workflowId, "b");
      const left = failures.get(ctx.workflowId) ?? 0;
      if (left > 0) {
        failures.set(ctx.workflowId, left - 1);
        throw new Error("flaky");
      }
      return a + 1;
    },
    // Past a second, so the retry goes through the queue (shorter ones wait in the invocation).
    { retries: { maxAttempts: 3, intervalMs: 1_100 } },
  );
  return ctx.step("c", async () => {
    await probe.ran(ctx.workflowId, "c");
    return b + 1;
  });
});

/** Workflows whose next write of this kind is applied twice, the caller seeing the second answer. */
const doubledRecord = new Set<string>();
const doubledRelease = new Set<string>();

let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([steps], {
    logger: quietLogger,
    wrapStore: (store) =>
      interceptStore(store, {
        recordStep: async (inner, args) => {
          const first = await inner.recordStep(args);
          if (!doubledRecord.delete(args.workflowId)) return first;
          return inner.recordStep(args);
        },
        releaseClaim: async (inner, args) => {
          const first = await inner.releaseClaim(args);
          if (!doubledRelease.delete(args.workflowId)) return first;
          return inner.releaseClaim(args);
        },
      }),
  });
});

after(async () => {
  await rt.stop();
});

describe("a write whose answer is lost and retried", () => {
  it("still sends the next step's message when recording a step reports it already recorded", async () => {
    // Prepare
    const workflowId = "lost-record-answer";
    doubledRecord.add(workflowId);

    // Act
    const handle = await rt.client.startWorkflow(steps, undefined, { workflowId });
    const result = await handle.getResult({ timeoutMs: 20_000 });

    // Assess
    assert.equal(result, 3);
    assert.ok(!doubledRecord.has(workflowId), "the record was doubled");
    assert.deepEqual((await rt.client.listWorkflowSteps(workflowId)).map((s) => s.name), ["a", "b", "c"]);
    assert.equal(probe.count(workflowId, "a"), 1);
  });

  it("still sends the retry message when giving back the claim reports no claim", async () => {
    // Prepare: step b fails once, so the worker gives its claim back and schedules a retry.
    const workflowId = "lost-release-answer";
    failures.set(workflowId, 1);
    doubledRelease.add(workflowId);

    // Act
    const handle = await rt.client.startWorkflow(steps, undefined, { workflowId });
    const result = await handle.getResult({ timeoutMs: 20_000 });

    // Assess
    assert.equal(result, 3);
    assert.ok(!doubledRelease.has(workflowId), "the release was doubled");
    assert.equal(probe.count(workflowId, "b"), 2);
    const status = await rt.client.getWorkflowStatus(workflowId);
    assert.equal(status.status, WorkflowStatus.SUCCESS);
  });
});
