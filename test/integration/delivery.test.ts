import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { defineWorkflow, StepStatus, WorkflowFailedError, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { OutcomeLog, waitForQueueIdle } from "../helpers/outcomes.js";
import { FaultyQueue } from "../helpers/queues.js";
import { StepProbe, startTestRuntime } from "../helpers/runtime.js";
import { interceptStore } from "../helpers/stores.js";

// ---------------------------------------------------------------------------
// Workflows under test
// ---------------------------------------------------------------------------

const probe = new StepProbe();
const outcomes = new OutcomeLog();
/** Workflows whose step 2 fails while their id is in here. */
const failingStep2 = new Set<string>();
/** `${workflowId}/${step}`: the next attempt to record that step dies, as a worker killed right before its write. */
const crashBeforeRecording = new Set<string>();
let faultyQueue: FaultyQueue;

/** `maxAttempts`: attempts per step; a worker that dies mid-step uses one up. */
const pipeline = defineWorkflow("delivery.pipeline", async (ctx, input: { start: number; maxAttempts?: number }) => {
  let value = input.start;
  for (const name of ["one", "two", "three", "four"]) {
    value = await ctx.step(
      name,
      async () => {
        await probe.ran(ctx.workflowId, name);
        if (name === "two" && failingStep2.has(ctx.workflowId)) throw new Error("step two is broken");
        return value + 1;
      },
      { retries: { maxAttempts: input.maxAttempts ?? 1 } },
    );
  }
  return value;
});

const STEPS = ["one", "two", "three", "four"];
const counts = (workflowId: string) => STEPS.map((s) => probe.count(workflowId, s));

// ---------------------------------------------------------------------------

let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([pipeline], {
    // Short visibility timeout: a message whose worker failed comes back quickly.
    visibilityTimeoutSeconds: 2,
    onOutcome: outcomes.onOutcome,
    wrapQueue: (queue) => (faultyQueue = new FaultyQueue(queue)),
    wrapStore: (store) =>
      interceptStore(store, {
        recordStep: (inner, args) => {
          const key = `${args.workflowId}/${args.step.functionId}`;
          if (crashBeforeRecording.delete(key)) return Promise.reject(new Error(`injected crash before recording ${key}`));
          return inner.recordStep(args);
        },
      }),
  });
});

after(async () => {
  await rt.stop();
});

/** The recorded steps as [functionId, name, status] rows. */
async function recorded(workflowId: string) {
  return (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.functionId, s.name, s.status]);
}
const ALL_RECORDED = STEPS.map((name, i) => [i + 1, name, StepStatus.SUCCESS]);

describe("Message delivery", () => {
  describe("a message delivered more than once", () => {
    it("records a step once when its message comes again while the next step runs", async () => {
      // Prepare
      const workflowId = "dup-while-running";
      const gate = probe.hold(workflowId, "three");
      const handle = await rt.client.startWorkflow(pipeline, { start: 0 }, { workflowId });
      await gate.reached;

      // Act: the messages for step 2 (recorded) and step 3 (running) arrive again.
      await rt.queue.send([{ workflowId, step: 2, generation: 0 }]);
      await rt.queue.send([{ workflowId, step: 3, generation: 0 }]);
      await outcomes.waitFor(workflowId, "duplicate", 2);
      await outcomes.waitFor(workflowId, "busy", 3);
      gate.open();
      const output = await handle.getResult({ timeoutMs: 20_000 });
      await waitForQueueIdle(rt);

      // Assess
      assert.equal(output, 4);
      assert.deepEqual(counts(workflowId), [1, 1, 1, 1]);
      assert.deepEqual(await recorded(workflowId), ALL_RECORDED);
    });

    it("runs the first step once when the start message arrives twice at once", async () => {
      // Prepare
      const workflowId = "dup-start";

      // Act
      const handle = await rt.client.startWorkflow(pipeline, { start: 10 }, { workflowId });
      await rt.queue.send([{ workflowId, step: 1, generation: 0 }]);
      const output = await handle.getResult({ timeoutMs: 20_000 });
      await waitForQueueIdle(rt);

      // Assess
      assert.equal(output, 14);
      assert.deepEqual(counts(workflowId), [1, 1, 1, 1]);
      assert.deepEqual(await recorded(workflowId), ALL_RECORDED);
      assert.ok(outcomes.of(workflowId).filter((o) => o.step === 1).length >= 2, "both deliveries of step 1 were handled");
    });

    it("runs nothing for a message of a finished workflow", async () => {
      // Prepare
      const workflowId = "dup-after-finish";
      const handle = await rt.client.startWorkflow(pipeline, { start: 20 }, { workflowId });
      await handle.getResult({ timeoutMs: 20_000 });
      const before = await handle.getStatus();

      // Act
      await rt.queue.send([{ workflowId, step: 4, generation: 0 }]);
      await outcomes.waitFor(workflowId, "inactive", 4);

      // Assess
      assert.deepEqual(counts(workflowId), [1, 1, 1, 1]);
      assert.deepEqual(await handle.getStatus(), before);
    });

    it("runs nothing for a message from before a resume", async () => {
      // Prepare: fail at step 2, then resume (generation 1) to completion.
      const workflowId = "stale-generation";
      failingStep2.add(workflowId);
      const first = await rt.client.startWorkflow(pipeline, { start: 30 }, { workflowId });
      await assert.rejects(first.getResult({ timeoutMs: 20_000 }), WorkflowFailedError);
      failingStep2.delete(workflowId);
      const output = await (await rt.client.resumeWorkflow(workflowId)).getResult({ timeoutMs: 20_000 });

      // Act: messages of generation 0 surface late.
      const seen = outcomes.entries.length;
      await rt.queue.send([{ workflowId, step: 2, generation: 0 }]);
      await rt.queue.send([{ workflowId, step: 3, generation: 0 }]);
      await waitForQueueIdle(rt);

      // Assess
      assert.equal(output, 34);
      assert.deepEqual(counts(workflowId), [1, 2, 1, 1]);
      assert.deepEqual(
        outcomes.entries.slice(seen).filter((o) => o.workflowId === workflowId && o.generation === 0).map((o) => o.outcome),
        ["stale", "stale"],
      );
      assert.deepEqual(await recorded(workflowId), ALL_RECORDED);
      assert.equal((await rt.client.getWorkflowStatus(workflowId)).status, WorkflowStatus.SUCCESS);
    });
  });

  describe("a worker that crashes", () => {
    it("completes the workflow when it dies between recording a step and enqueueing the next", async () => {
      // Prepare
      const workflowId = "crash-before-send";
      faultyQueue.failSend((m) => m.workflowId === workflowId && m.step === 3);

      // Act
      const output = await (await rt.client.startWorkflow(pipeline, { start: 40 }, { workflowId })).getResult({ timeoutMs: 20_000 });
      await waitForQueueIdle(rt);

      // Assess
      assert.equal(output, 44);
      assert.equal(faultyQueue.failed.filter((m) => m.workflowId === workflowId).length, 1, "the fault fired");
      assert.deepEqual(counts(workflowId), [1, 1, 1, 1], "the redelivery finds step 2 recorded and runs no body again");
      assert.deepEqual(await recorded(workflowId), ALL_RECORDED);
      assert.ok(
        outcomes.of(workflowId).some((o) => o.step === 2 && o.outcome === "duplicate"),
        "the redelivered message of step 2 was recognised as a duplicate",
      );
    });

    it("records a step once when it dies after running the body but before recording it", async () => {
      // Prepare
      const workflowId = "crash-before-record";
      crashBeforeRecording.add(`${workflowId}/2`);

      // Act
      const output = await (await rt.client.startWorkflow(pipeline, { start: 50, maxAttempts: 2 }, { workflowId })).getResult({ timeoutMs: 20_000 });
      await waitForQueueIdle(rt);

      // Assess
      assert.equal(output, 54);
      assert.ok(!crashBeforeRecording.has(`${workflowId}/2`), "the fault fired");
      assert.deepEqual(counts(workflowId), [1, 2, 1, 1], "at-least-once: the body of step 2 ran again");
      const steps = await rt.client.listWorkflowSteps(workflowId);
      assert.deepEqual(
        steps.map((s) => [s.functionId, s.name, s.status]),
        ALL_RECORDED,
        "exactly-once recording",
      );
      assert.equal(steps[1]?.attempts, 2);
    });
  });
});
