import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import { runInvocation, type InvocationArgs, type InvocationResult, type OperationOutcome, type StepExecution } from "../../src/engine/replay.js";
import type { OperationCall } from "../../src/engine/WorkflowContext.js";
import { NonDeterminismError, SerializationError, WorkflowContextError } from "../../src/errors.js";
import { deserialize, fromRecordedError, serialize, toRecordedError } from "../../src/serialization.js";
import type { StepRecord } from "../../src/types.js";
import { runStepBody } from "../../src/worker/stepBody.js";
import { defineWorkflow, type WorkflowDefinition } from "../../src/workflow.js";

// ---------------------------------------------------------------------------
// Fake history and a fake executor: the engine is driven directly, no AWS.
// ---------------------------------------------------------------------------

const WORKFLOW_ID = "wf-1";
const NOW = 1_700_000_000_000;

function recordedStep(functionId: number, name: string, output: unknown): StepRecord {
  return {
    workflowId: WORKFLOW_ID,
    functionId,
    name,
    kind: "step",
    status: "SUCCESS",
    output: serialize(output, `step ${functionId}`),
    attempts: 1,
    startedAt: NOW - 1_000,
    completedAt: NOW - 900,
  };
}

function failedStep(functionId: number, name: string, error: Error): StepRecord {
  return { ...recordedStep(functionId, name, undefined), status: "ERROR", output: undefined, error: toRecordedError(error) } as StepRecord;
}

function recordedSleep(functionId: number, wakeAt: number): StepRecord {
  return { ...recordedStep(functionId, "sleep", undefined), kind: "sleep", output: undefined, wakeAt } as StepRecord;
}

type StepCall = Extract<OperationCall, { kind: "step" }>;

/** Runs step bodies as the worker does (inside the step context, output checked), and remembers the calls. */
class FakeExecutor {
  readonly calls: StepCall[] = [];
  constructor(private readonly decide?: (call: StepCall) => StepExecution | undefined) {}

  readonly executeStep = async (call: StepCall): Promise<StepExecution> => {
    this.calls.push(call);
    const decided = this.decide?.(call);
    if (decided) return decided;
    const { outcome } = await runStepBody(call);
    return { type: "done", outcome, attempt: 1 };
  };
}

function invoke(
  definition: WorkflowDefinition<any, any>,
  steps: StepRecord[],
  target: number,
  options: Partial<InvocationArgs> & { executor?: FakeExecutor; input?: unknown } = {},
): Promise<InvocationResult> {
  const executor = options.executor ?? new FakeExecutor();
  return runInvocation({
    definition,
    workflowId: WORKFLOW_ID,
    input: options.input,
    steps,
    target,
    execute: executor.executeStep as InvocationArgs["execute"],
    stallTimeoutMs: options.stallTimeoutMs ?? 5_000,
    now: options.now ?? (() => NOW),
  });
}

function expectType<T extends InvocationResult["type"]>(result: InvocationResult, type: T): Extract<InvocationResult, { type: T }> {
  assert.equal(result.type, type, `expected "${type}", got ${JSON.stringify(result, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
  return result as Extract<InvocationResult, { type: T }>;
}

/** An outcome as the workflow code receives it. */
function decoded(outcome: OperationOutcome): { ok: true; value: unknown } | { ok: false; error: unknown } {
  return outcome.ok ? { ok: true, value: deserialize(outcome.output) } : { ok: false, error: fromRecordedError(outcome.error) };
}

/** Counts how often each step body runs. */
function bodyCounter() {
  const counts = new Map<string, number>();
  return {
    counts,
    body<T>(name: string, value: T) {
      return () => {
        counts.set(name, (counts.get(name) ?? 0) + 1);
        return value;
      };
    },
  };
}

// ---------------------------------------------------------------------------

describe("runInvocation", () => {
  describe("executing the target step", () => {
    it("runs the first step of a new workflow and asks for step 2 next", async () => {
      // Prepare
      const wf = defineWorkflow("two", async (ctx, input: number) => {
        const a = await ctx.step("a", () => input + 1);
        return ctx.step("b", () => a * 2);
      });

      // Act
      const result = await invoke(wf, [], 1, { input: 20 });

      // Assess
      const advanced = expectType(result, "advanced");
      assert.equal(advanced.executed.call.functionId, 1);
      assert.equal(advanced.executed.call.name, "a");
      assert.deepEqual(decoded(advanced.executed.outcome), { ok: true, value: 21 });
      assert.equal(advanced.executed.attempt, 1);
      assert.deepEqual(advanced.next, { type: "continue", functionId: 2, op: { kind: "step", name: "b" } });
    });

    it("replays recorded steps with their recorded values and runs only the target's body", async () => {
      // Prepare
      const counter = bodyCounter();
      const seen: unknown[] = [];
      const wf = defineWorkflow("three", async (ctx) => {
        const a = await ctx.step("a", counter.body("a", new Map([["k", 1n]])));
        const b = await ctx.step("b", counter.body("b", new Date(0)));
        return ctx.step("c", () => {
          seen.push(a, b);
          return "done";
        });
      });
      const executor = new FakeExecutor();
      const history = [recordedStep(1, "a", new Map([["k", 42n]])), recordedStep(2, "b", new Date(5))];

      // Act
      const result = await invoke(wf, history, 3, { executor });

      // Assess
      const advanced = expectType(result, "advanced");
      assert.deepEqual(advanced.next, { type: "complete", output: "done" });
      assert.deepEqual(
        executor.calls.map((c) => c.functionId),
        [3],
      );
      assert.equal(counter.counts.size, 0, "recorded step bodies do not run");
      assert.deepEqual(seen, [new Map([["k", 42n]]), new Date(5)], "the workflow sees the recorded values, not fresh ones");
    });

    it("finishes the workflow with its output when the target is its last step", async () => {
      // Prepare
      const wf = defineWorkflow("last", async (ctx) => {
        const a = await ctx.step("a", () => 1);
        const b = await ctx.step("b", () => 2);
        return { sum: a + b };
      });

      // Act
      const result = await invoke(wf, [recordedStep(1, "a", 1)], 2);

      // Assess
      assert.deepEqual(expectType(result, "advanced").next, { type: "complete", output: { sum: 3 } });
    });

    it("fails the workflow with the step's own error when the workflow does not catch it", async () => {
      // Prepare
      const boom = new TypeError("boom");
      const wf = defineWorkflow("throws", async (ctx) => {
        await ctx.step("explode", () => {
          throw boom;
        });
        await ctx.step("never", () => 1);
      });

      // Act
      const result = await invoke(wf, [], 1);

      // Assess
      const advanced = expectType(result, "advanced");
      assert.deepEqual(decoded(advanced.executed.outcome), { ok: false, error: boom });
      assert.equal(advanced.next.type, "fail");
      const thrown = (advanced.next as { error: unknown }).error;
      assert.notEqual(thrown, boom, "the workflow sees the recorded copy, as every replay will");
      assert.ok(thrown instanceof TypeError);
      assert.equal((thrown as Error).stack, boom.stack);
    });

    it("lets the workflow catch a failed step and carry on", async () => {
      // Prepare
      const wf = defineWorkflow("catches", async (ctx) => {
        const r = await ctx.step("flaky", () => Promise.reject(new Error("nope"))).catch((e: Error) => `caught ${e.message}`);
        return ctx.step("after", () => r);
      });

      // Act
      const result = await invoke(wf, [], 1);

      // Assess
      const advanced = expectType(result, "advanced");
      assert.equal(advanced.executed.outcome.ok, false);
      assert.deepEqual(advanced.next, { type: "continue", functionId: 2, op: { kind: "step", name: "after" } });
    });

    it("rethrows a recorded failure on replay with its name, message and stack", async () => {
      // Prepare
      const original = new RangeError("out of stock");
      let caught: Error | undefined;
      const wf = defineWorkflow("replaysFailure", async (ctx) => {
        try {
          await ctx.step("reserve", () => "reserved");
        } catch (err) {
          caught = err as Error;
        }
        return ctx.step("after", () => "ok");
      });

      // Act
      const result = await invoke(wf, [failedStep(1, "reserve", original)], 2);

      // Assess
      expectType(result, "advanced");
      assert.ok(caught instanceof Error);
      assert.equal(caught.name, "RangeError");
      assert.equal(caught.message, "out of stock");
      assert.equal(caught.stack, original.stack);
    });

    it("reports a workflow that settles without reaching the target as finished", async () => {
      // Prepare
      const noSteps = defineWorkflow("noSteps", async (_ctx, input: string) => `echo ${input}`);
      const throwsEarly = defineWorkflow("throwsEarly", async () => {
        throw new Error("bad input");
      });

      // Act
      const returned = await invoke(noSteps, [], 1, { input: "hi" });
      const threw = await invoke(throwsEarly, [], 1);

      // Assess
      assert.deepEqual(expectType(returned, "finished").next, { type: "complete", output: "echo hi" });
      const failed = expectType(threw, "finished").next;
      assert.equal(failed.type, "fail");
      assert.equal(((failed as { error: Error }).error).message, "bad input");
    });

    it("turns an output that cannot be recorded into a step failure naming the step", async () => {
      // Prepare
      class Money {
        constructor(readonly cents: number) {}
      }
      const wf = defineWorkflow("badOutput", async (ctx) => {
        await ctx.step("before", () => 1);
        await ctx.step("price", () => new Money(5));
      });

      // Act
      const result = await invoke(wf, [recordedStep(1, "before", 1)], 2);

      // Assess
      const outcome = decoded(expectType(result, "advanced").executed.outcome);
      assert.equal(outcome.ok, false);
      const error = (outcome as { error: unknown }).error;
      assert.ok(error instanceof SerializationError, `a SerializationError on every run, got ${String(error)}`);
      assert.match(error.message, /step 2 "price"/);
      assert.match(error.message, /class Money/);
    });

    it("refuses a durable operation inside a step body", async () => {
      // Prepare
      const wf = defineWorkflow("nested", async (ctx) => {
        await ctx.step("outer", () => ctx.step("inner", () => 1));
      });

      // Act
      const result = await invoke(wf, [], 1);

      // Assess
      const outcome = decoded(expectType(result, "advanced").executed.outcome);
      assert.equal(outcome.ok, false);
      const error = (outcome as { error: unknown }).error;
      assert.ok(error instanceof WorkflowContextError, `a WorkflowContextError on every run, got ${String(error)}`);
      assert.match(error.message, /"outer"/);
    });

    it("passes the executor's attempt number through and records when the invocation decided to run the step", async () => {
      // Prepare
      const wf = defineWorkflow("attempts", async (ctx) => ctx.step("a", () => 1));
      const executor = new FakeExecutor(() => ({ type: "done", outcome: { ok: true, output: serialize(7, "7") }, attempt: 3 }));

      // Act
      const result = await invoke(wf, [], 1, { executor });

      // Assess
      const executed = expectType(result, "advanced").executed;
      assert.equal(executed.attempt, 3);
      assert.equal(executed.startedAt, NOW);
      assert.deepEqual(decoded(executed.outcome), { ok: true, value: 7 });
    });
  });

  describe("step numbering", () => {
    it("numbers steps and sleeps from 1 in call order", async () => {
      // Prepare
      const wf = defineWorkflow("numbered", async (ctx) => {
        await ctx.step("first", () => 1);
        await ctx.sleep(0);
        await ctx.step("second", () => 2);
        await ctx.sleep(1_000);
        return ctx.step("third", () => 3);
      });
      const history: StepRecord[] = [];
      const seen: [number, string, string][] = [];

      // Act: record each operation as the worker would, one invocation per step.
      for (let target = 1; target <= 5; target++) {
        const result = expectType(await invoke(wf, history, target), "advanced");
        const { call } = result.executed;
        seen.push([call.functionId, call.kind, call.name]);
        const { outcome } = result.executed;
        history.push(call.kind === "sleep" ? recordedSleep(call.functionId, NOW) : recordedStep(call.functionId, call.name, outcome.ok ? deserialize(outcome.output) : undefined));
      }

      // Assess
      assert.deepEqual(seen, [
        [1, "step", "first"],
        [2, "sleep", "sleep"],
        [3, "step", "second"],
        [4, "sleep", "sleep"],
        [5, "step", "third"],
      ]);
    });

    it("numbers concurrent steps in call order and runs one per invocation", async () => {
      // Prepare
      const wf = defineWorkflow("parallel", async (ctx) => {
        const [a, b] = await Promise.all([ctx.step("a", () => "A"), ctx.step("b", () => "B")]);
        return a + b;
      });
      const executor = new FakeExecutor();

      // Act
      const first = await invoke(wf, [], 1);
      const second = await invoke(wf, [recordedStep(1, "a", "A")], 2, { executor });

      // Assess
      assert.deepEqual(expectType(first, "advanced").next, { type: "continue", functionId: 2, op: { kind: "step", name: "b" } });
      assert.deepEqual(executor.calls.map((c) => c.name), ["b"]);
      assert.deepEqual(expectType(second, "advanced").next, { type: "complete", output: "AB" });
    });
  });

  describe("sleeps", () => {
    it("records a sleep with its wake time and asks for the next step no earlier", async () => {
      // Prepare
      const wf = defineWorkflow("sleeper", async (ctx) => {
        await ctx.sleep(60_000);
        await ctx.step("after", () => 1);
      });

      // Act
      const result = await invoke(wf, [], 1);

      // Assess
      const advanced = expectType(result, "advanced");
      assert.equal(advanced.executed.call.kind, "sleep");
      assert.equal(advanced.executed.wakeAt, NOW + 60_000);
      assert.deepEqual(advanced.next, { type: "continue", functionId: 2, notBefore: NOW + 60_000 });
    });

    it("waits for a recorded sleep that has not ended and runs nothing", async () => {
      // Prepare
      const counter = bodyCounter();
      const wf = defineWorkflow("earlyWake", async (ctx) => {
        await ctx.sleep(60_000);
        await ctx.step("after", counter.body("after", 1));
      });
      const executor = new FakeExecutor();

      // Act
      const result = await invoke(wf, [recordedSleep(1, NOW + 10_000)], 2, { executor });

      // Assess
      assert.deepEqual(result, { type: "waiting", until: NOW + 10_000 });
      assert.equal(executor.calls.length, 0);
      assert.equal(counter.counts.size, 0);
    });

    it("continues past a recorded sleep that has ended", async () => {
      // Prepare
      const wf = defineWorkflow("woke", async (ctx) => {
        await ctx.sleep(60_000);
        return ctx.step("after", () => "awake");
      });

      // Act
      const result = await invoke(wf, [recordedSleep(1, NOW - 1)], 2);

      // Assess
      assert.deepEqual(expectType(result, "advanced").next, { type: "complete", output: "awake" });
    });
  });

  describe("non-determinism", () => {
    it("reports a replayed step whose name differs from the record, naming both, and runs nothing", async () => {
      // Prepare
      const wf = defineWorkflow("renamed", async (ctx) => {
        await ctx.step("validateOrder", () => 1);
        await ctx.step("charge", () => 2);
      });
      const executor = new FakeExecutor();

      // Act
      const result = await invoke(wf, [recordedStep(1, "checkOrder", 1)], 2, { executor });

      // Assess
      const { error } = expectType(result, "nondeterministic");
      assert.ok(error instanceof NonDeterminismError);
      assert.equal(error.workflowId, WORKFLOW_ID);
      assert.equal(error.stepIndex, 1);
      assert.match(error.message, /"checkOrder"/);
      assert.match(error.message, /"validateOrder"/);
      assert.equal(executor.calls.length, 0);
    });

    it("reports a step where a sleep was recorded", async () => {
      // Prepare
      const wf = defineWorkflow("sleepBecameStep", async (ctx) => {
        await ctx.step("sleep", () => 1);
        await ctx.step("after", () => 2);
      });

      // Act
      const result = await invoke(wf, [recordedSleep(1, NOW - 1)], 2);

      // Assess
      const { error } = expectType(result, "nondeterministic");
      assert.match(error.message, /recorded sleep/);
      assert.match(error.message, /calls step/);
    });

    it("reports a workflow that now returns before its recorded steps", async () => {
      // Prepare
      const wf = defineWorkflow("shorter", async (ctx) => {
        await ctx.step("a", () => 1);
        return "early";
      });

      // Act
      const result = await invoke(wf, [recordedStep(1, "a", 1), recordedStep(2, "b", 2)], 3);

      // Assess
      const { error } = expectType(result, "nondeterministic");
      assert.equal(error.stepIndex, 2);
      assert.match(error.message, /returned after 1 durable operations, but 2 are recorded/);
    });
  });

  describe("suspension", () => {
    it("leaves the operation after the target pending, so user code cannot catch it", async () => {
      // Prepare
      const reached: string[] = [];
      const wf = defineWorkflow("guarded", async (ctx) => {
        await ctx.step("a", () => 1);
        try {
          await ctx.step("b", () => 2);
          reached.push("after b");
        } catch {
          reached.push("catch");
        } finally {
          reached.push("finally");
        }
      });

      // Act
      const result = await invoke(wf, [], 1);
      await tick();
      await tick();

      // Assess
      assert.deepEqual(expectType(result, "advanced").next, { type: "continue", functionId: 2, op: { kind: "step", name: "b" } });
      assert.deepEqual(reached, []);
    });

    it("records nothing when the executor declines to run the step", async () => {
      // Prepare
      const counter = bodyCounter();
      const wf = defineWorkflow("declined", async (ctx) => {
        await ctx.step("a", counter.body("a", 1));
      });
      const executor = new FakeExecutor(() => ({ type: "suspend" }));

      // Act
      const result = await invoke(wf, [], 1, { executor });

      // Assess
      assert.deepEqual(result, { type: "suspended" });
      assert.equal(counter.counts.size, 0);
    });

    it("rejects when the executor itself fails (the message is then delivered again)", async () => {
      // Prepare
      const wf = defineWorkflow("storeDown", async (ctx) => ctx.step("a", () => 1));
      const executor = new FakeExecutor(() => {
        throw new Error("DynamoDB unavailable");
      });

      // Act / Assess
      await assert.rejects(invoke(wf, [], 1, { executor }), /DynamoDB unavailable/);
    });

    it("fails a workflow that awaits something other than a durable operation", async () => {
      // Prepare
      const wf = defineWorkflow("stalls", async (ctx) => {
        await ctx.step("a", () => 1);
        await new Promise(() => undefined);
      });

      // Act
      const result = await invoke(wf, [], 1, { stallTimeoutMs: 30 });

      // Assess
      const advanced = expectType(result, "advanced");
      assert.deepEqual(decoded(advanced.executed.outcome), { ok: true, value: 1 });
      assert.equal(advanced.next.type, "fail");
      const error = (advanced.next as { error: Error }).error;
      assert.equal(error.name, "WorkflowStalledError");
      assert.match(error.message, /after step 1/);
    });
  });
});
