import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  defineWorkflow,
  InvalidWorkflowStateError,
  StepOutOfRangeError,
  StepStatus,
  ValidationError,
  WorkflowClient,
  WorkflowConflictError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowStatus,
  type WorkQueue,
} from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { waitForQueueIdle } from "../helpers/outcomes.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";

// ---------------------------------------------------------------------------
// Workflows under test
// ---------------------------------------------------------------------------

const probe = new StepProbe();
/** Workflows whose step "b" fails while their id is in here. */
const failingB = new Set<string>();

const threeSteps = defineWorkflow("rf.threeSteps", async (ctx, input: { base: number }) => {
  const a = await ctx.step("a", async () => {
    await probe.ran(ctx.workflowId, "a");
    return input.base + 1;
  });
  const b = await ctx.step("b", async () => {
    await probe.ran(ctx.workflowId, "b");
    if (failingB.has(ctx.workflowId)) throw new Error("b is broken");
    return a + 1;
  });
  return ctx.step("c", async () => {
    await probe.ran(ctx.workflowId, "c");
    return b + 1;
  });
});

/** Step 1 returns something new on every run, so a fork that reuses it is told apart from one that reruns it. */
const fourSteps = defineWorkflow("rf.fourSteps", async (ctx, input: { order: string }) => {
  const token = await ctx.step("issueToken", async () => {
    await probe.ran(ctx.workflowId, "issueToken");
    return randomUUID();
  });
  const reserved = await ctx.step("reserve", async () => {
    await probe.ran(ctx.workflowId, "reserve");
    return `${input.order}:${token}`;
  });
  const charged = await ctx.step("charge", async () => {
    await probe.ran(ctx.workflowId, "charge");
    return `charged ${reserved}`;
  });
  const shipped = await ctx.step("ship", async () => {
    await probe.ran(ctx.workflowId, "ship");
    return `shipped ${charged}`;
  });
  return { token, shipped };
});

const FOUR_STEP_NAMES = ["issueToken", "reserve", "charge", "ship"];

// ---------------------------------------------------------------------------

let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([threeSteps, fourSteps], { functionTimeoutMs: 10_000 });
});

after(async () => {
  await rt.stop();
});

/** Run fourSteps to completion under `workflowId`. */
async function completedOrder(workflowId: string): Promise<{ token: string; shipped: string }> {
  return (await rt.client.startWorkflow(fourSteps, { order: "order-7" }, { workflowId })).getResult({ timeoutMs: 20_000 });
}

describe("WorkflowClient", () => {
  describe("resumeWorkflow", () => {
    it("continues a cancelled workflow from the step after its last recorded one, re-running no step body", async () => {
      // Prepare
      const workflowId = "resume-cancelled";
      const gate = probe.hold(workflowId, "b");
      await rt.client.startWorkflow(threeSteps, { base: 0 }, { workflowId });
      await gate.reached;
      await rt.client.cancelWorkflow(workflowId);
      gate.open();
      await waitFor("step b to be recorded", async () => (await rt.client.listWorkflowSteps(workflowId)).length === 2);
      await waitForQueueIdle(rt);
      assert.equal((await rt.client.getWorkflowStatus(workflowId)).status, WorkflowStatus.CANCELLED);

      // Act
      const handle = await rt.client.resumeWorkflow<number>(workflowId);
      const output = await handle.getResult({ timeoutMs: 20_000 });

      // Assess
      assert.equal(output, 3);
      assert.deepEqual(
        ["a", "b", "c"].map((s) => probe.count(workflowId, s)),
        [1, 1, 1],
      );
      const status = await handle.getStatus();
      assert.equal(status.status, WorkflowStatus.SUCCESS);
      assert.equal(status.cancelRequested, false);
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.functionId, s.name, s.status, s.attempts]),
        [
          [1, "a", StepStatus.SUCCESS, 1],
          [2, "b", StepStatus.SUCCESS, 1],
          [3, "c", StepStatus.SUCCESS, 1],
        ],
      );
    });

    it("never runs a step twice when resumed while the cancelled step is still running", async () => {
      // Prepare
      const workflowId = "resume-while-running";
      const gate = probe.hold(workflowId, "b");
      await rt.client.startWorkflow(threeSteps, { base: 0 }, { workflowId });
      await gate.reached;
      await rt.client.cancelWorkflow(workflowId);

      // Act: resume while step b of the old generation still runs, then let it finish.
      const handle = await rt.client.resumeWorkflow<number>(workflowId);
      gate.open();
      const output = await handle.getResult({ timeoutMs: 20_000 });
      await waitForQueueIdle(rt);

      // Assess
      assert.equal(output, 3);
      assert.deepEqual(
        ["a", "b", "c"].map((s) => probe.count(workflowId, s)),
        [1, 1, 1],
      );
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.name, s.status]),
        [
          ["a", StepStatus.SUCCESS],
          ["b", StepStatus.SUCCESS],
          ["c", StepStatus.SUCCESS],
        ],
      );
    });

    it("re-runs only the failed step of an ERROR workflow", async () => {
      // Prepare
      const workflowId = "resume-error";
      failingB.add(workflowId);
      const first = await rt.client.startWorkflow(threeSteps, { base: 10 }, { workflowId });
      await assert.rejects(first.getResult({ timeoutMs: 20_000 }), WorkflowFailedError);
      failingB.delete(workflowId);

      // Act
      const output = await (await rt.client.resumeWorkflow<number>(workflowId)).getResult({ timeoutMs: 20_000 });

      // Assess
      assert.equal(output, 13);
      assert.deepEqual(
        ["a", "b", "c"].map((s) => probe.count(workflowId, s)),
        [1, 2, 1],
      );
      const status = await rt.client.getWorkflowStatus(workflowId);
      assert.equal(status.status, WorkflowStatus.SUCCESS);
      assert.equal(status.error, undefined, "the old failure is cleared");
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.name, s.status, s.error]),
        [
          ["a", StepStatus.SUCCESS, undefined],
          ["b", StepStatus.SUCCESS, undefined],
          ["c", StepStatus.SUCCESS, undefined],
        ],
      );
    });

    it("starts an ENQUEUED workflow whose first message was lost", async () => {
      // Prepare
      const workflowId = "resume-enqueued";
      const lostQueue: WorkQueue = { send: async () => undefined, extendVisibility: async () => undefined };
      await new WorkflowClient({ store: rt.store, queue: lostQueue }).startWorkflow(threeSteps, { base: 100 }, { workflowId });

      // Act
      const output = await (await rt.client.resumeWorkflow<number>(workflowId)).getResult({ timeoutMs: 20_000 });

      // Assess
      assert.equal(output, 103);
      assert.equal(probe.count(workflowId, "a"), 1);
    });

    it("refuses a SUCCESS workflow with InvalidWorkflowStateError and changes nothing", async () => {
      // Prepare
      const workflowId = "resume-success";
      const handle = await rt.client.startWorkflow(threeSteps, { base: 1 }, { workflowId });
      await handle.getResult({ timeoutMs: 20_000 });
      const before = await handle.getStatus();

      // Act
      const attempt = rt.client.resumeWorkflow(workflowId);

      // Assess
      await assert.rejects(attempt, (err: unknown) => {
        assert.ok(err instanceof InvalidWorkflowStateError);
        assert.equal(err.code, "INVALID_WORKFLOW_STATE");
        assert.equal(err.workflowId, workflowId);
        assert.equal(err.status, WorkflowStatus.SUCCESS);
        return true;
      });
      assert.deepEqual(await handle.getStatus(), before);
      assert.equal(probe.count(workflowId, "a"), 1);
    });

    it("throws WorkflowNotFoundError for an unknown workflow id", async () => {
      // Act / Assess
      await assert.rejects(rt.client.resumeWorkflow("resume-no-such-workflow"), WorkflowNotFoundError);
    });
  });

  describe("forkWorkflow", () => {
    it("reuses steps 1..k-1 without running them, runs k onward, records forkedFrom and leaves the original untouched", async () => {
      // Prepare
      const originalId = "fork-original";
      const forkId = "fork-copy";
      const original = await completedOrder(originalId);
      const originalStatus = await rt.client.getWorkflowStatus(originalId);
      const originalSteps = await rt.client.listWorkflowSteps(originalId);

      // Act
      const handle = await rt.client.forkWorkflow<{ token: string; shipped: string }>(originalId, 3, { workflowId: forkId, applicationVersion: "v2" });
      const output = await handle.getResult({ timeoutMs: 20_000 });

      // Assess
      assert.equal(handle.workflowId, forkId);
      assert.deepEqual(output, original, "the fork continues from the original's recorded step results");
      assert.deepEqual(
        FOUR_STEP_NAMES.map((s) => probe.count(forkId, s)),
        [0, 0, 1, 1],
      );
      const status = await handle.getStatus();
      assert.equal(status.status, WorkflowStatus.SUCCESS);
      assert.equal(status.name, "rf.fourSteps");
      assert.deepEqual(status.input, { order: "order-7" });
      assert.deepEqual(status.forkedFrom, { workflowId: originalId, startStep: 3 });
      assert.equal(status.applicationVersion, "v2");
      const steps = await rt.client.listWorkflowSteps(forkId);
      assert.deepEqual(
        steps.map((s) => [s.functionId, s.name, s.copiedFrom]),
        [
          [1, "issueToken", originalId],
          [2, "reserve", originalId],
          [3, "charge", undefined],
          [4, "ship", undefined],
        ],
      );
      assert.deepEqual(
        steps.slice(0, 2).map((s) => s.output),
        originalSteps.slice(0, 2).map((s) => s.output),
      );
      assert.deepEqual(await rt.client.getWorkflowStatus(originalId), originalStatus);
      assert.deepEqual(await rt.client.listWorkflowSteps(originalId), originalSteps);
      assert.deepEqual(
        FOUR_STEP_NAMES.map((s) => probe.count(originalId, s)),
        [1, 1, 1, 1],
      );
    });

    it("from step 1 runs every step again", async () => {
      // Prepare
      const originalId = "fork-from-one-original";
      const original = await completedOrder(originalId);

      // Act
      const output = await (await rt.client.forkWorkflow<{ token: string }>(originalId, 1)).getResult({ timeoutMs: 20_000 });

      // Assess
      assert.notEqual(output.token, original.token, "step 1 ran again and issued a new token");
    });

    it("refuses a start step out of range with StepOutOfRangeError", async () => {
      // Prepare
      const originalId = "fork-range-original";
      await completedOrder(originalId);

      // Act / Assess
      for (const startStep of [0, -1, 6]) {
        await assert.rejects(rt.client.forkWorkflow(originalId, startStep, { workflowId: `fork-range-${startStep + 1}` }), (err: unknown) => {
          assert.ok(err instanceof StepOutOfRangeError, `start step ${startStep}`);
          assert.equal(err.startStep, startStep);
          assert.equal(err.maxStep, 5);
          assert.match(err.message, /between 1 and 5/);
          return true;
        });
      }
      await assert.rejects(rt.client.forkWorkflow(originalId, 2.5), ValidationError);
      await assert.rejects(rt.client.getWorkflowStatus("fork-range-1"), WorkflowNotFoundError, "no workflow was created");
    });

    it("refuses a new workflow id that is already taken", async () => {
      // Prepare
      const originalId = "fork-taken-original";
      await completedOrder(originalId);

      // Act / Assess
      await assert.rejects(rt.client.forkWorkflow(originalId, 2, { workflowId: originalId }), WorkflowConflictError);
      assert.deepEqual(
        FOUR_STEP_NAMES.map((s) => probe.count(originalId, s)),
        [1, 1, 1, 1],
      );
    });

    it("throws WorkflowNotFoundError for an unknown workflow id", async () => {
      // Act / Assess
      await assert.rejects(rt.client.forkWorkflow("fork-no-such-workflow", 1), (err: unknown) => {
        assert.ok(err instanceof WorkflowNotFoundError);
        assert.equal(err.workflowId, "fork-no-such-workflow");
        return true;
      });
    });
  });

  describe("an unknown workflow id", () => {
    it("throws WorkflowNotFoundError from status, steps and result alike", async () => {
      // Prepare
      const workflowId = "never-started";

      // Act / Assess
      await assert.rejects(rt.client.getWorkflowStatus(workflowId), WorkflowNotFoundError);
      await assert.rejects(rt.client.listWorkflowSteps(workflowId), WorkflowNotFoundError);
      await assert.rejects(rt.client.retrieveWorkflow(workflowId).getResult({ timeoutMs: 1_000 }), WorkflowNotFoundError);
    });
  });
});
