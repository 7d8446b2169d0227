import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  defineWorkflow,
  ResultTimeoutError,
  StepStatus,
  WorkflowCancelledError,
  WorkflowClient,
  WorkflowNotFoundError,
  WorkflowStatus,
  type WorkQueue,
} from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { OutcomeLog, waitForQueueIdle } from "../helpers/outcomes.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";
import { interceptStore } from "../helpers/stores.js";

// ---------------------------------------------------------------------------
// Workflows under test
// ---------------------------------------------------------------------------

const probe = new StepProbe();
const outcomes = new OutcomeLog();
/** When each step body got past its gate, per workflow and step. */
const finishedAt = new Map<string, number>();

function tracked<T>(workflowId: string, name: string, value: T): () => Promise<T> {
  return async () => {
    await probe.ran(workflowId, name);
    finishedAt.set(`${workflowId}/${name}`, Date.now());
    return value;
  };
}

const threeSteps = defineWorkflow("cancel.threeSteps", async (ctx) => {
  const a = await ctx.step("a", tracked(ctx.workflowId, "a", 1));
  const b = await ctx.step("b", tracked(ctx.workflowId, "b", a + 1));
  return ctx.step("c", tracked(ctx.workflowId, "c", b + 1));
});

const sleeper = defineWorkflow("cancel.sleeper", async (ctx) => {
  await ctx.step("before", tracked(ctx.workflowId, "before", "before"));
  await ctx.sleep(2_000); // past a second: waited for by a delayed message, not in-process
  return ctx.step("after", tracked(ctx.workflowId, "after", "after"));
});

/**
 * Workflows cancelled by a client right before the worker claims the step: after
 * its read (the claim that follows a read), or while it reads (the early claim
 * that goes out with the read when the message names the step).
 */
const cancelBeforeClaim = new Set<string>();

// ---------------------------------------------------------------------------

let rt: LocalRuntime;

before(async () => {
  // A long function timeout keeps a held step's lease alive while the tests look at it.
  rt = await startTestRuntime([threeSteps, sleeper], {
    functionTimeoutMs: 10_000,
    onOutcome: outcomes.onOutcome,
    wrapStore: (store) =>
      interceptStore(store, {
        claimStep: async (inner, read, claim, now) => {
          if (cancelBeforeClaim.delete(read.workflowId)) await rt.client.cancelWorkflow(read.workflowId);
          return inner.claimStep(read, claim, now);
        },
        claimStepEagerly: async (inner, args) => {
          if (cancelBeforeClaim.delete(args.workflowId)) await rt.client.cancelWorkflow(args.workflowId);
          return inner.claimStepEagerly(args);
        },
      }),
  });
});

after(async () => {
  await rt.stop();
});

describe("WorkflowClient", () => {
  describe("cancelWorkflow", () => {
    it("lets the running step finish and runs nothing after it", async () => {
      // Prepare
      const workflowId = "cancel-mid-run";
      const gate = probe.hold(workflowId, "b");
      const handle = await rt.client.startWorkflow(threeSteps, undefined, { workflowId });
      await gate.reached;

      // Act
      const cancelled = await rt.client.cancelWorkflow(workflowId);
      gate.open();
      await waitFor("step b to be recorded", async () => (await rt.client.listWorkflowSteps(workflowId)).some((s) => s.name === "b" && s.status === StepStatus.SUCCESS));
      await waitForQueueIdle(rt);

      // Assess
      assert.equal(cancelled.status, WorkflowStatus.CANCELLED);
      assert.equal(cancelled.cancelRequested, true);
      const steps = await rt.client.listWorkflowSteps(workflowId);
      assert.deepEqual(
        steps.map((s) => [s.functionId, s.name, s.status, s.output]),
        [
          [1, "a", StepStatus.SUCCESS, 1],
          [2, "b", StepStatus.SUCCESS, 2],
        ],
      );
      assert.equal(probe.count(workflowId, "b"), 1);
      assert.equal(probe.count(workflowId, "c"), 0);
      const status = await handle.getStatus();
      assert.equal(status.status, WorkflowStatus.CANCELLED, "the step finishing after the cancel does not revive the workflow");
      assert.equal(status.runningStep, undefined);
      await assert.rejects(handle.getResult({ timeoutMs: 1_000 }), (err: unknown) => {
        assert.ok(err instanceof WorkflowCancelledError);
        assert.equal(err.workflowId, workflowId);
        return true;
      });
    });

    it("keeps the workflow CANCELLED when its last step finishes after the cancel", async () => {
      // Prepare
      const workflowId = "cancel-last-step";
      const gate = probe.hold(workflowId, "c");
      const handle = await rt.client.startWorkflow(threeSteps, undefined, { workflowId });
      await gate.reached;

      // Act
      await rt.client.cancelWorkflow(workflowId);
      gate.open();
      await waitFor("step c to be recorded", async () => (await rt.client.listWorkflowSteps(workflowId)).some((s) => s.name === "c"));
      await waitForQueueIdle(rt);

      // Assess
      const status = await handle.getStatus();
      assert.equal(status.status, WorkflowStatus.CANCELLED);
      assert.equal(status.output, undefined);
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.name, s.status, s.output]),
        [
          ["a", StepStatus.SUCCESS, 1],
          ["b", StepStatus.SUCCESS, 2],
          ["c", StepStatus.SUCCESS, 3],
        ],
      );
      await assert.rejects(handle.getResult({ timeoutMs: 1_000 }), WorkflowCancelledError);
    });

    it("drops the delayed message of a sleep, so nothing after the sleep runs", async () => {
      // Prepare
      const workflowId = "cancel-during-sleep";
      const handle = await rt.client.startWorkflow(sleeper, undefined, { workflowId });
      await waitFor("the sleep to be recorded", async () => (await rt.client.listWorkflowSteps(workflowId)).some((s) => s.kind === "sleep"));

      // Act
      await rt.client.cancelWorkflow(workflowId);
      const dropped = await outcomes.waitFor(workflowId, "inactive", 3);

      // Assess
      assert.equal(dropped.generation, 0);
      assert.equal(probe.count(workflowId, "before"), 1);
      assert.equal(probe.count(workflowId, "after"), 0);
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.functionId, s.kind]),
        [
          [1, "step"],
          [2, "sleep"],
        ],
      );
      assert.equal((await handle.getStatus()).status, WorkflowStatus.CANCELLED);
    });

    it("with wait: true returns only once the running step has finished and been recorded", async () => {
      // Prepare
      const workflowId = "cancel-wait";
      const gate = probe.hold(workflowId, "b");
      await rt.client.startWorkflow(threeSteps, undefined, { workflowId });
      await gate.reached;
      let returnedAt: number | undefined;

      // Act
      const cancelling = rt.client.cancelWorkflow(workflowId, { wait: true }).then((status) => {
        returnedAt = Date.now();
        return status;
      });
      await waitFor("the cancel to be written", async () => (await rt.client.getWorkflowStatus(workflowId)).status === WorkflowStatus.CANCELLED);
      const returnedWhileStepHeld = returnedAt !== undefined;
      gate.open();
      const status = await cancelling;

      // Assess
      assert.equal(returnedWhileStepHeld, false, "cancel returned while step b was still running");
      const bFinished = finishedAt.get(`${workflowId}/b`);
      assert.ok(bFinished !== undefined && returnedAt !== undefined && bFinished <= returnedAt, "step b finished before cancel returned");
      assert.equal(status.status, WorkflowStatus.CANCELLED);
      assert.equal(status.runningStep, undefined);
      const steps = await rt.client.listWorkflowSteps(workflowId);
      assert.deepEqual(
        steps.map((s) => [s.name, s.status]),
        [
          ["a", StepStatus.SUCCESS],
          ["b", StepStatus.SUCCESS],
        ],
        "the step that was running is recorded by the time cancel returns",
      );
      await waitForQueueIdle(rt);
      assert.equal(probe.count(workflowId, "c"), 0);
    });

    it("wins over a worker that read the workflow before the cancel but claims the step after it", async () => {
      // Prepare
      const workflowId = "cancel-before-claim";
      const gate = probe.hold(workflowId, "a");
      await rt.client.startWorkflow(threeSteps, undefined, { workflowId });
      await gate.reached;
      cancelBeforeClaim.add(workflowId);

      // Act: step b's worker reads the workflow, then the cancel lands, then it tries to claim b.
      gate.open();
      await outcomes.waitFor(workflowId, "inactive", 2);
      await waitForQueueIdle(rt);

      // Assess
      assert.ok(!cancelBeforeClaim.has(workflowId), "the cancel was injected");
      assert.equal(probe.count(workflowId, "b"), 0);
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => s.name),
        ["a"],
      );
      assert.equal((await rt.client.getWorkflowStatus(workflowId)).status, WorkflowStatus.CANCELLED);
    });

    it("wins over a worker that claims the first step after reading the workflow", async () => {
      // Prepare: the start message names no step, so the worker reads first and claims after.
      const workflowId = "cancel-before-first-claim";
      cancelBeforeClaim.add(workflowId);

      // Act
      await rt.client.startWorkflow(threeSteps, undefined, { workflowId });
      await outcomes.waitFor(workflowId, "inactive", 1);

      // Assess
      assert.ok(!cancelBeforeClaim.has(workflowId), "the cancel was injected");
      assert.equal(probe.count(workflowId, "a"), 0);
      assert.deepEqual(await rt.client.listWorkflowSteps(workflowId), []);
      assert.equal((await rt.client.getWorkflowStatus(workflowId)).status, WorkflowStatus.CANCELLED);
    });

    it("drops the first message of a workflow cancelled before it started", async () => {
      // Prepare: a client whose queue loses messages leaves the workflow ENQUEUED with nothing in flight.
      const workflowId = "cancel-enqueued";
      const lostQueue: WorkQueue = { send: async () => undefined, sendAdmit: async () => undefined, extendVisibility: async () => undefined };
      const client = new WorkflowClient({ store: rt.store, queue: lostQueue });
      const handle = await client.startWorkflow(threeSteps, undefined, { workflowId });
      await assert.rejects(handle.getResult({ timeoutMs: 50 }), (err: unknown) => err instanceof ResultTimeoutError && err.status === WorkflowStatus.ENQUEUED);

      // Act
      const cancelled = await rt.client.cancelWorkflow(workflowId);
      await rt.queue.send([{ workflowId, step: 1, generation: 0 }]);
      await outcomes.waitFor(workflowId, "inactive", 1);

      // Assess
      assert.equal(cancelled.status, WorkflowStatus.CANCELLED);
      assert.equal(probe.count(workflowId, "a"), 0);
      assert.deepEqual(await rt.client.listWorkflowSteps(workflowId), []);
    });

    it("leaves a finished workflow as it is", async () => {
      // Prepare
      const workflowId = "cancel-finished";
      const handle = await rt.client.startWorkflow(threeSteps, undefined, { workflowId });
      await handle.getResult({ timeoutMs: 20_000 });

      // Act
      const status = await rt.client.cancelWorkflow(workflowId, { wait: true });

      // Assess
      assert.equal(status.status, WorkflowStatus.SUCCESS);
      assert.equal(status.cancelRequested, false);
      assert.equal(status.output, 3);
      assert.equal(await handle.getResult({ timeoutMs: 1_000 }), 3);
    });

    it("throws WorkflowNotFoundError for an unknown workflow id", async () => {
      // Act / Assess
      await assert.rejects(rt.client.cancelWorkflow("cancel-no-such-workflow"), (err: unknown) => {
        assert.ok(err instanceof WorkflowNotFoundError);
        assert.equal(err.workflowId, "cancel-no-such-workflow");
        return true;
      });
    });
  });
});
