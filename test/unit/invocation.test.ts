import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { runInvocation, type InvocationArgs, type InvocationResult, type StepExecution } from "../../src/engine/replay.js";
import type { StepCall } from "../../src/engine/types.js";
import { NonDeterminismError } from "../../src/errors.js";
import type { StepRecord } from "../../src/types.js";
import { runStepBody } from "../../src/worker/stepBody.js";
import { toStepRecord } from "../../src/worker/toRecords.js";
import { defineWorkflow, type WorkflowDefinition } from "../../src/workflow.js";

// The engine driven directly, recording each invocation's operation as the worker
// does, so a test can compare the first run of a step with later replays of it.

const WORKFLOW_ID = "wf-inv";
const T0 = 1_700_000_000_000;

async function execute(call: StepCall): Promise<StepExecution> {
  return { type: "done", outcome: (await runStepBody(call)).outcome, attempt: 1 };
}

function invoke(
  definition: WorkflowDefinition<any, any>,
  steps: readonly StepRecord[],
  target: number,
  options: Partial<InvocationArgs> = {},
): Promise<InvocationResult> {
  return runInvocation({ definition, workflowId: WORKFLOW_ID, input: undefined, steps, target, execute: execute as InvocationArgs["execute"], stallTimeoutMs: 2_000, now: () => T0, ...options });
}

function advanced(result: InvocationResult): Extract<InvocationResult, { type: "advanced" }> {
  assert.equal(result.type, "advanced", JSON.stringify(result));
  return result as Extract<InvocationResult, { type: "advanced" }>;
}

/** Run invocations one per operation, as messages would, until the workflow settles; the history and the settlement. */
async function runToEnd(definition: WorkflowDefinition<any, any>, clock: () => number = () => T0) {
  const history: StepRecord[] = [];
  for (let target = 1; target < 20; target++) {
    const result = await invoke(definition, history, target, { now: clock });
    if (result.type === "finished") return { history, next: result.next };
    const { executed, next } = advanced(result);
    history.push(toStepRecord(WORKFLOW_ID, executed, clock()));
    if (next.type !== "continue") return { history, next };
  }
  throw new Error("workflow did not settle");
}

describe("Invocation", () => {
  describe("one world for every run", () => {
    it("hands the first run the recorded copy of a step's value, so a Buffer is a Buffer on every run", async () => {
      // Prepare: the next step's name shows what the workflow code was handed.
      const wf = defineWorkflow("digest", async (ctx) => {
        const digest = await ctx.step("hash", () => createHash("sha256").update("cairn").digest());
        return ctx.step(`seen-${digest.constructor.name}-${digest.toString("hex").slice(0, 8)}`, () => 1);
      });

      // Act
      const first = advanced(await invoke(wf, [], 1));
      const replay = advanced(await invoke(wf, [toStepRecord(WORKFLOW_ID, first.executed, T0)], 2));

      // Assess
      const expected = `seen-Buffer-${createHash("sha256").update("cairn").digest("hex").slice(0, 8)}`;
      assert.deepEqual(first.next, { type: "continue", functionId: 2, op: { kind: "step", name: expected } });
      assert.equal(replay.executed.call.name, expected);
    });

    it("resolves recorded outcomes in step order on replay, so Promise.race picks the same winner as the first run", async () => {
      // Prepare: "b" is called first, so it is step 1 and finishes first on the first run.
      const wf = defineWorkflow("race", async (ctx) => {
        const b = ctx.step("b", () => "B");
        const a = ctx.step("a", () => "A");
        const winner = await Promise.race([a, b]);
        return ctx.step("final", () => winner);
      });

      // Act
      const { history, next } = await runToEnd(wf);

      // Assess
      assert.deepEqual(next, { type: "complete", output: "B" });
      assert.deepEqual(history.map((s) => s.name), ["b", "a", "final"]);
    });
  });

  describe("checking the operation the message names", () => {
    it("fails with NonDeterminismError when the code calls another step than the one the message was sent for", async () => {
      // Prepare
      const wf = defineWorkflow("branches", async (ctx) => {
        await ctx.step("charge", () => 1);
        return ctx.step("page-oncall", () => 2);
      });
      const first = advanced(await invoke(wf, [], 1));

      // Act
      const result = await invoke(wf, [toStepRecord(WORKFLOW_ID, first.executed, T0)], 2, { expected: { kind: "step", name: "notify-customer" } });

      // Assess
      assert.equal(result.type, "nondeterministic");
      const error = (result as { error: NonDeterminismError }).error;
      assert.ok(error instanceof NonDeterminismError);
      assert.match(error.message, /"notify-customer".*"page-oncall"/);
    });

    it("fails with NonDeterminismError when the code returns where an earlier run called a step", async () => {
      // Prepare
      const wf = defineWorkflow("returnsEarly", async (ctx) => ctx.step("only", () => 1));
      const first = advanced(await invoke(wf, [], 1));

      // Act
      const result = await invoke(wf, [toStepRecord(WORKFLOW_ID, first.executed, T0)], 2, { expected: { kind: "step", name: "second" } });

      // Assess
      assert.equal(result.type, "nondeterministic");
    });
  });

  describe("durable timers", () => {
    it("does not wait for a sleep that lost a race against a step", async () => {
      // Prepare
      const wf = defineWorkflow("raceSleep", async (ctx) => {
        const r = await Promise.race([ctx.step("fast", () => "fast"), ctx.sleep(10_000).then(() => "timeout")]);
        return ctx.step("after", () => r);
      });
      const history: StepRecord[] = [];
      const one = advanced(await invoke(wf, history, 1));
      history.push(toStepRecord(WORKFLOW_ID, one.executed, T0));

      // Act: step 2 is the sleep; the code has moved on already.
      const two = advanced(await invoke(wf, history, 2));

      // Assess
      assert.equal(two.executed.call.kind, "sleep");
      assert.deepEqual(two.next, { type: "continue", functionId: 3, op: { kind: "step", name: "after" } });
    });

    it("waits for two concurrent sleeps together, not one after the other", async () => {
      // Prepare
      let now = T0;
      const wf = defineWorkflow("twoSleeps", async (ctx) => {
        await Promise.all([ctx.sleep(3_000), ctx.sleep(3_000)]);
        return ctx.step("after", () => "done");
      });
      const history: StepRecord[] = [];
      for (const target of [1, 2]) {
        const r = advanced(await invoke(wf, history, target, { now: () => now }));
        history.push(toStepRecord(WORKFLOW_ID, r.executed, now));
        now += 10;
        if (target === 2) assert.deepEqual(r.next, { type: "continue", functionId: 3, notBefore: T0 + 3_000 });
      }

      // Act: step 3 once the first sleep is due fires both if the second is due too.
      now = T0 + 3_010;
      const three = advanced(await invoke(wf, history, 3, { now: () => now }));

      // Assess
      assert.deepEqual(three.next, { type: "complete", output: "done" });
    });

    it("does not let a sleep that is started but not awaited delay the next step", async () => {
      // Prepare
      const wf = defineWorkflow("background", async (ctx) => {
        const timer = ctx.sleep(10_000);
        await ctx.step("work", () => 1);
        await timer;
        return "done";
      });

      // Act
      const one = advanced(await invoke(wf, [], 1));

      // Assess
      assert.equal(one.executed.wakeAt, T0 + 10_000);
      assert.deepEqual(one.next, { type: "continue", functionId: 2, op: { kind: "step", name: "work" } });
    });

    it("fires a timer at the place the recorded times put it, whatever the time of the replay", async () => {
      // Prepare: whether the timer fired before "x" returned decides the next step's name.
      const wf = defineWorkflow("firePlace", async (ctx) => {
        let fired = false;
        void ctx.sleep(5_000).then(() => (fired = true));
        await ctx.step("x", () => 1);
        return ctx.step(fired ? "late" : "early", () => 2);
      });
      const sleep = toStepRecord(WORKFLOW_ID, advanced(await invoke(wf, [], 1)).executed, T0);
      const x = (startedAt: number): StepRecord => ({ ...sleep, functionId: 2, kind: "step", name: "x", output: "1", wakeAt: undefined, startedAt, completedAt: startedAt });

      // Act: both replays run long after the timer is due.
      const late = () => T0 + 60_000;
      const before = advanced(await invoke(wf, [sleep, x(T0 + 1_000)], 3, { now: late }));
      const after = advanced(await invoke(wf, [sleep, x(T0 + 6_000)], 3, { now: late }));

      // Assess
      assert.equal(before.executed.call.name, "early");
      assert.equal(after.executed.call.name, "late");
    });

    it("waits in-process for a timer due within a second instead of sending a delayed message", async () => {
      // Prepare
      const wf = defineWorkflow("shortSleep", async (ctx) => {
        await ctx.sleep(200);
        return ctx.step("after", () => 1);
      });
      const started = Date.now();

      // Act
      const one = advanced(await invoke(wf, [], 1, { now: Date.now, deadline: Date.now() + 10_000 }));

      // Assess
      assert.ok(Date.now() - started >= 190, "the timer's time passed");
      assert.deepEqual(one.next, { type: "continue", functionId: 2, op: { kind: "step", name: "after" } });
    });

    it("hands a timer beyond the invocation's deadline to a delayed message", async () => {
      // Prepare
      const wf = defineWorkflow("pastDeadline", async (ctx) => {
        await ctx.sleep(500);
        return ctx.step("after", () => 1);
      });

      // Act
      const one = advanced(await invoke(wf, [], 1, { deadline: T0 + 100 }));

      // Assess
      assert.deepEqual(one.next, { type: "continue", functionId: 2, notBefore: T0 + 500 });
    });
  });
});

describe("Invocation: children, messages and events", () => {
  const child = defineWorkflow("inv.child", async () => 1);
  const record = (functionId: number, kind: StepRecord["kind"], name: string, output?: string, extra: Partial<StepRecord> = {}): StepRecord => ({
    workflowId: WORKFLOW_ID,
    functionId,
    name,
    kind,
    status: "SUCCESS",
    attempts: 1,
    startedAt: T0,
    completedAt: T0,
    ...(output !== undefined ? { output } : {}),
    ...extra,
  });

  it("answers blocked when a wait's executor blocks, and records nothing", async () => {
    const wf = defineWorkflow("inv.recv", async (ctx) => ctx.recv({ topic: "t", timeoutMs: 5_000 }));
    const calls: string[] = [];
    const result = await invoke(wf, [], 1, {
      execute: async (call) => {
        calls.push(`${call.kind}:${call.name}`);
        return { type: "blocked", until: T0 + 5_000 };
      },
    });
    assert.deepEqual(result, { type: "blocked", until: T0 + 5_000 });
    assert.deepEqual(calls, ["recv:t"]);
  });

  it("replays a child start as a handle on the recorded child, whose getResult replays the recorded result", async () => {
    const wf = defineWorkflow("inv.parent", async (ctx) => {
      const handle = await ctx.startWorkflow(child, undefined);
      const r = await handle.getResult();
      return ctx.step(`after-${handle.workflowId}-${r}`, () => 0);
    });
    const history = [record(1, "start", "inv.child", JSON.stringify("kid-7"), { childWorkflowId: "kid-7" }), record(2, "getResult", "kid-7", "41")];
    const result = advanced(await invoke(wf, history, 3));
    assert.equal(result.executed.call.name, "after-kid-7-41");
  });

  it("refuses a history whose recorded operation is not the one the code calls now", async () => {
    const wf = defineWorkflow("inv.changed", async (ctx) => {
      await ctx.send("other", "hi");
      return ctx.step("b", () => 0);
    });
    const result = await invoke(wf, [record(1, "recv", "(default topic)")], 2);
    assert.equal(result.type, "nondeterministic");
    assert.ok(result.type === "nondeterministic" && result.error instanceof NonDeterminismError, "a NonDeterminismError");
    assert.match((result as { error: Error }).error.message, /the recorded recv is "\(default topic\)" but the code now calls send "other"/);
  });

  it("hands a recorded timeout back as undefined", async () => {
    const wf = defineWorkflow("inv.timeout", async (ctx) => {
      const m = await ctx.recv({ timeoutMs: 10 });
      return ctx.step(m === undefined ? "timed-out" : "got", () => 0);
    });
    const result = advanced(await invoke(wf, [record(1, "recv", "(default topic)", undefined, { timedOut: true })], 2));
    assert.equal(result.executed.call.name, "timed-out");
  });
});
