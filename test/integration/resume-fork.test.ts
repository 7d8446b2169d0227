import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
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
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../src/local/localAws.js";
import { DynamoWorkflowStore } from "../../src/store/DynamoWorkflowStore.js";
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

/** Step ids (`<workflowId>/<step>`) that fail while in here. */
const failing = new Set<string>();
const maybeFail = async (workflowId: string, step: string): Promise<void> => {
  await probe.ran(workflowId, step);
  if (failing.has(`${workflowId}/${step}`)) throw new Error(`${step} is broken`);
};

/** Step 1 (a) fails while step 2 (b), called alongside, succeeds: b is the last recorded step of the ERROR workflow. */
const pair = defineWorkflow("rf.pair", async (ctx, input: { base: number }) => {
  const [a, b] = await Promise.all([
    ctx.step("a", async () => {
      await maybeFail(ctx.workflowId, "a");
      return input.base + 1;
    }),
    ctx.step("b", async () => {
      await maybeFail(ctx.workflowId, "b");
      return input.base + 2;
    }),
  ]);
  return ctx.step("sum", async () => {
    await probe.ran(ctx.workflowId, "sum");
    return a + b;
  });
});

/** A step failure is logged in a step of its own, then rethrown: "log" is recorded after the failed "a". */
const logged = defineWorkflow("rf.logged", async (ctx, input: { base: number }) => {
  let a: number;
  try {
    a = await ctx.step("a", async () => {
      await maybeFail(ctx.workflowId, "a");
      return input.base + 1;
    });
  } catch (err) {
    await ctx.step("log", async () => {
      await probe.ran(ctx.workflowId, "log");
      return String(err);
    });
    throw err;
  }
  return ctx.step("b", async () => {
    await probe.ran(ctx.workflowId, "b");
    return a * 10;
  });
});

/** The code catches the step's failure and gives up with an error of its own. */
const gaveUp = defineWorkflow("rf.gaveUp", async (ctx, input: { base: number }) => {
  let quote: number | undefined;
  try {
    quote = await ctx.step("quote", async () => {
      await maybeFail(ctx.workflowId, "quote");
      return input.base + 1;
    });
  } catch {
    quote = undefined;
  }
  if (quote === undefined) throw new Error("no quote: gave up");
  const q = quote;
  return ctx.step("order", async () => {
    await probe.ran(ctx.workflowId, "order");
    return q * 2;
  });
});

const MANY = 120;
/** More steps than one DynamoDB transaction holds. */
const manySteps = defineWorkflow("rf.manySteps", async (ctx, input: { base: number }) => {
  let total = input.base;
  for (let i = 1; i <= MANY; i++) {
    total = await ctx.step(`s${i}`, async () => {
      await probe.ran(ctx.workflowId, `s${i}`);
      return total + i;
    });
  }
  return total;
});

const BIG = 16;
const BIG_VALUE_CHARS = 300_000;
/** 16 steps of 300 KB each (within the per-value limit): 4.8 MB of steps, over a transaction's 4 MB. */
const bigSteps = defineWorkflow("rf.bigSteps", async (ctx, input: { fill: string }) => {
  const lengths: number[] = [];
  for (let i = 1; i <= BIG; i++) {
    const value = await ctx.step(`big${i}`, async () => {
      await probe.ran(ctx.workflowId, `big${i}`);
      return `${i}:${input.fill.repeat(BIG_VALUE_CHARS)}`;
    });
    lengths.push(value.length);
  }
  return lengths;
});

// ---------------------------------------------------------------------------

let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([threeSteps, fourSteps, pair, logged, gaveUp, manySteps, bigSteps], { functionTimeoutMs: 10_000 });
});

after(async () => {
  await rt.stop();
});

/**
 * A client of this stack whose process dies at its `n`-th DynamoDB transaction:
 * that transaction and every later call fail, as a process killed mid-fork makes no more.
 */
function clientDyingAtTransaction(n: number): WorkflowClient {
  const dynamodb = new DynamoDBClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: rt.endpoints.dynamodb, maxAttempts: 1 });
  let transactions = 0;
  let dead = false;
  dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      if ((context as { commandName?: string }).commandName === "TransactWriteItemsCommand" && ++transactions >= n) dead = true;
      if (dead) throw new Error(`injected: the process died at transaction ${n}`);
      return next(args);
    },
    { step: "initialize", name: "dieAtTransaction" },
  );
  return new WorkflowClient({ store: new DynamoWorkflowStore({ tableName: rt.tableName, client: dynamodb }), queue: rt.queue });
}

/** The 120-step source of the fork tests, run once. */
let manySource: Promise<number> | undefined;
function completedManySteps(): Promise<number> {
  manySource ??= rt.client.startWorkflow(manySteps, { base: 0 }, { workflowId: "fork-many-source" }).then((h) => h.getResult({ timeoutMs: 60_000 }));
  return manySource;
}
const MANY_RESULT = (MANY * (MANY + 1)) / 2;

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

    it("re-runs the failed step of an ERROR workflow whose last recorded step succeeded (Promise.all)", async () => {
      // Prepare: a (step 1) fails, b (step 2) succeeds; the workflow ends with a's error.
      const workflowId = "resume-error-pair";
      failing.add(`${workflowId}/a`);
      const first = await rt.client.startWorkflow(pair, { base: 10 }, { workflowId });
      await assert.rejects(first.getResult({ timeoutMs: 20_000 }), (err: unknown) => err instanceof WorkflowFailedError && /a is broken/.test(err.message));
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.name, s.status]),
        [
          ["a", StepStatus.ERROR],
          ["b", StepStatus.SUCCESS],
        ],
      );
      failing.delete(`${workflowId}/a`);

      // Act
      const output = await (await rt.client.resumeWorkflow<number>(workflowId)).getResult({ timeoutMs: 20_000 });

      // Assess: a ran again; b, recorded after it, ran again too (see resumePoint).
      assert.equal(output, 23);
      assert.deepEqual(
        ["a", "b", "sum"].map((s) => probe.count(workflowId, s)),
        [2, 2, 1],
      );
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.functionId, s.name, s.status]),
        [
          [1, "a", StepStatus.SUCCESS],
          [2, "b", StepStatus.SUCCESS],
          [3, "sum", StepStatus.SUCCESS],
        ],
      );
    });

    it("re-runs a failed step whose error was logged in a later step before it was rethrown", async () => {
      // Prepare: a (step 1) fails, "log" (step 2) records it, the error ends the workflow.
      const workflowId = "resume-error-logged";
      failing.add(`${workflowId}/a`);
      const first = await rt.client.startWorkflow(logged, { base: 4 }, { workflowId });
      await assert.rejects(first.getResult({ timeoutMs: 20_000 }), WorkflowFailedError);
      failing.delete(`${workflowId}/a`);

      // Act: once a succeeds the code calls b as step 2, where "log" was recorded.
      const output = await (await rt.client.resumeWorkflow<number>(workflowId)).getResult({ timeoutMs: 20_000 });

      // Assess: no NonDeterminismError; the history is that of the path taken.
      assert.equal(output, 50);
      assert.deepEqual(
        (await rt.client.listWorkflowSteps(workflowId)).map((s) => [s.functionId, s.name, s.status]),
        [
          [1, "a", StepStatus.SUCCESS],
          [2, "b", StepStatus.SUCCESS],
        ],
      );
    });

    it("re-runs the failed step of a workflow that caught its error and then gave up", async () => {
      // Prepare: the workflow's error is its own, not the step's.
      const workflowId = "resume-error-gave-up";
      failing.add(`${workflowId}/quote`);
      const first = await rt.client.startWorkflow(gaveUp, { base: 1 }, { workflowId });
      await assert.rejects(first.getResult({ timeoutMs: 20_000 }), (err: unknown) => err instanceof WorkflowFailedError && /gave up/.test(err.message));
      failing.delete(`${workflowId}/quote`);

      // Act
      const output = await (await rt.client.resumeWorkflow<number>(workflowId)).getResult({ timeoutMs: 20_000 });

      // Assess
      assert.equal(output, 4);
      assert.deepEqual(
        ["quote", "order"].map((s) => probe.count(workflowId, s)),
        [2, 1],
      );
    });

    it("starts an ENQUEUED workflow whose first message was lost", async () => {
      // Prepare
      const workflowId = "resume-enqueued";
      const lostQueue: WorkQueue = { send: async () => undefined, sendAdmit: async () => undefined, extendVisibility: async () => undefined };
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

    it("answers a retried fork with the same fork, and refuses another fork into its id", async () => {
      // Prepare
      const originalId = "fork-retried-original";
      const original = await completedOrder(originalId);
      const first = await rt.client.forkWorkflow(originalId, 3, { workflowId: "fork-retried" });

      // Act
      const again = await rt.client.forkWorkflow<{ token: string; shipped: string }>(originalId, 3, { workflowId: "fork-retried" });

      // Assess
      assert.equal(again.workflowId, first.workflowId);
      assert.deepEqual(await again.getResult({ timeoutMs: 20_000 }), original);
      assert.equal(probe.count("fork-retried", "charge"), 1, "the fork ran once");
      await assert.rejects(rt.client.forkWorkflow(originalId, 2, { workflowId: "fork-retried" }), WorkflowConflictError);
    });

    it("copies steps whose total is over DynamoDB's 4 MB transaction limit", async () => {
      // Prepare: 16 steps of 300 KB.
      const originalId = "fork-big-original";
      const original = await (await rt.client.startWorkflow(bigSteps, { fill: "x" }, { workflowId: originalId })).getResult({ timeoutMs: 60_000 });

      // Act: steps 1-15 (4.5 MB) are copied, step 16 runs.
      const output = await (await rt.client.forkWorkflow(originalId, BIG, { workflowId: "fork-big" })).getResult({ timeoutMs: 60_000 });

      // Assess
      assert.deepEqual(output, original);
      const steps = await rt.client.listWorkflowSteps("fork-big");
      assert.equal(steps.length, BIG);
      assert.deepEqual(
        steps.map((s) => s.copiedFrom),
        [...Array.from({ length: BIG - 1 }, () => originalId), undefined],
      );
      assert.equal(probe.count("fork-big", "big1"), 0);
      assert.equal(probe.count("fork-big", `big${BIG}`), 1);
    });

    it("completes a fork of more than 100 steps retried after it died part-way", async () => {
      // Prepare: the first attempt dies after one transaction of copies.
      const sourceResult = await completedManySteps();
      const forkId = "fork-many-retried";
      await assert.rejects(clientDyingAtTransaction(2).forkWorkflow("fork-many-source", MANY, { workflowId: forkId }), /injected/);
      await assert.rejects(rt.client.getWorkflowStatus(forkId), WorkflowNotFoundError, "the dead attempt left no workflow");

      // Act
      const output = await (await rt.client.forkWorkflow<number>("fork-many-source", MANY, { workflowId: forkId })).getResult({ timeoutMs: 30_000 });

      // Assess
      assert.equal(sourceResult, MANY_RESULT);
      assert.equal(output, MANY_RESULT);
      const steps = await rt.client.listWorkflowSteps(forkId);
      assert.deepEqual(
        steps.map((s) => s.functionId),
        Array.from({ length: MANY }, (_, i) => i + 1),
      );
      assert.equal(steps.filter((s) => s.copiedFrom === "fork-many-source").length, MANY - 1);
      assert.equal(probe.count(forkId, `s${MANY}`), 1);
      assert.equal(probe.count(forkId, "s1"), 0);
    });

    it("starts a workflow cleanly under the id of a fork that died part-way", async () => {
      // Prepare
      await completedManySteps();
      const id = "fork-many-then-started";
      await assert.rejects(clientDyingAtTransaction(2).forkWorkflow("fork-many-source", MANY, { workflowId: id }), /injected/);

      // Act
      const output = await (await rt.client.startWorkflow(manySteps, { base: 1_000 }, { workflowId: id })).getResult({ timeoutMs: 60_000 });

      // Assess: every step ran, none is a copy.
      assert.equal(output, 1_000 + MANY_RESULT);
      const steps = await rt.client.listWorkflowSteps(id);
      assert.equal(steps.length, MANY);
      assert.equal(steps.filter((s) => s.copiedFrom !== undefined).length, 0);
      for (let i = 1; i <= MANY; i++) assert.equal(probe.count(id, `s${i}`), 1, `s${i} ran once`);
      const status = await rt.client.getWorkflowStatus(id);
      assert.equal(status.forkedFrom, undefined);
      assert.equal(status.recordedSteps, MANY);
    });

    it("forks from an earlier step into the id of a fork that died part-way, seeing none of its copies", async () => {
      // Prepare
      await completedManySteps();
      const id = "fork-many-then-shorter";
      await assert.rejects(clientDyingAtTransaction(2).forkWorkflow("fork-many-source", MANY, { workflowId: id }), /injected/);

      // Act
      const output = await (await rt.client.forkWorkflow<number>("fork-many-source", 3, { workflowId: id })).getResult({ timeoutMs: 60_000 });

      // Assess
      assert.equal(output, MANY_RESULT);
      const steps = await rt.client.listWorkflowSteps(id);
      assert.deepEqual(
        steps.filter((s) => s.copiedFrom !== undefined).map((s) => s.functionId),
        [1, 2],
      );
      assert.equal(steps.length, MANY);
      for (let i = 3; i <= MANY; i++) assert.equal(probe.count(id, `s${i}`), 1, `s${i} ran once`);
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
