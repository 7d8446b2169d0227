import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  defineWorkflow,
  WorkflowConflictError,
  WorkflowFailedError,
  WorkflowStatus,
  StepStatus,
  type WorkflowStatusInfo,
} from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { interceptStore } from "../helpers/stores.js";
import { StepProbe, startTestRuntime } from "../helpers/runtime.js";

// ---------------------------------------------------------------------------
// Workflows under test
// ---------------------------------------------------------------------------

const probe = new StepProbe();

const greeting = defineWorkflow("wf.greeting", async (ctx, input: { name: string }) => {
  const hello = await ctx.step("hello", async () => {
    await probe.ran(ctx.workflowId, "hello");
    return `Hello, ${input.name}`;
  });
  const shout = await ctx.step("shout", async () => {
    await probe.ran(ctx.workflowId, "shout");
    return hello.toUpperCase();
  });
  await ctx.sleep(0);
  const length = await ctx.step("measure", async () => {
    await probe.ran(ctx.workflowId, "measure");
    return shout.length;
  });
  return { hello, shout, length };
});

/** Values JSON alone would mangle; each is built afresh so tests compare against a new copy. */
const sampleError = Object.assign(new Error("card declined", { cause: new Error("insufficient funds") }), { code: "E_DECLINED" });
sampleError.name = "PaymentError";
const samples = {
  undefined: () => undefined,
  map: () => new Map<unknown, unknown>([["a", 1], [2, new Set(["nested"])]]),
  set: () => new Set<unknown>(["x", 3, new Date(0)]),
  bigint: () => 2n ** 70n + 1n,
  date: () => new Date("2024-02-29T12:34:56.789Z"),
  error: () => sampleError,
} as const;
type SampleKind = keyof typeof samples;

function typeName(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value instanceof Map) return "Map";
  if (value instanceof Set) return "Set";
  if (value instanceof Date) return "Date";
  if (value instanceof Error) return "Error";
  return typeof value;
}

const roundTrip = defineWorkflow("wf.roundTrip", async (ctx, kind: SampleKind) => {
  const value = await ctx.step("make", () => samples[kind]());
  // Runs in the next invocation: `value` here is the one replayed from its record.
  const seenAs = await ctx.step("inspect", () => typeName(value));
  return { value, seenAs };
});

class Money {
  constructor(readonly cents: number) {}
}
const unserializable = {
  instance: () => new Money(500),
  function: () => () => "a function",
  circular: () => {
    const node: { name: string; self?: unknown } = { name: "loop" };
    node.self = node;
    return node;
  },
} as const;
type BadKind = keyof typeof unserializable;

const badValue = defineWorkflow("wf.badValue", async (ctx, kind: BadKind) => {
  await ctx.step("before", () => "fine");
  await ctx.step("produce", () => unserializable[kind](), { retries: { maxAttempts: 3, intervalMs: 0 } });
  await ctx.step("never", async () => probe.ran(ctx.workflowId, "never"));
});

const badOutput = defineWorkflow("wf.badOutput", async (ctx) => {
  const cents = await ctx.step("price", () => 500);
  return new Money(cents);
});

const attemptTimes = new Map<string, number[]>();
/** A step that fails until its `succeedOn`th attempt, noting when each attempt started. */
const flakyStep = (workflowId: string, succeedOn: number) => () => {
  const times = attemptTimes.get(workflowId) ?? [];
  attemptTimes.set(workflowId, times);
  times.push(Date.now());
  if (times.length < succeedOn) throw new Error(`attempt ${times.length} failed`);
  return `succeeded on attempt ${times.length}`;
};
const flaky = defineWorkflow("wf.flaky", async (ctx) =>
  ctx.step("flaky", flakyStep(ctx.workflowId, 3), { retries: { maxAttempts: 3, intervalMs: 200, backoffRate: 2 } }),
);
const slowFlaky = defineWorkflow("wf.slowFlaky", async (ctx) =>
  ctx.step("flaky", flakyStep(ctx.workflowId, 2), { retries: { maxAttempts: 2, intervalMs: 1_200 } }),
);

class CardDeclined extends Error {
  override name = "CardDeclined";
}
function chargeCard(): never {
  throw new CardDeclined("card 4242 declined");
}
const declined = defineWorkflow("wf.declined", async (ctx) => {
  await ctx.step("reserve", () => "reserved");
  await ctx.step("charge", async () => {
    await probe.ran(ctx.workflowId, "charge");
    chargeCard();
  }, { retries: { maxAttempts: 2, intervalMs: 0 } });
  await ctx.step("ship", async () => probe.ran(ctx.workflowId, "ship"));
});

const recovers = defineWorkflow("wf.recovers", async (ctx) => {
  const outcome = await ctx.step("charge", () => chargeCard()).then(
    () => "charged",
    (err: Error) => `fallback after ${err.name}: ${err.message}`,
  );
  return ctx.step("notify", () => outcome);
});

/** Flipped by the test between steps: the workflow then calls a differently named first step. */
let renameFirstStep = false;
const drifting = defineWorkflow("wf.drifting", async (ctx) => {
  await ctx.step(renameFirstStep ? "validateOrder" : "checkOrder", () => "ok");
  await ctx.step("pause", async () => probe.ran(ctx.workflowId, "pause"));
  await ctx.step("finish", async () => probe.ran(ctx.workflowId, "finish"));
});

const SLEEP_MS = 500;
const napper = defineWorkflow("wf.napper", async (ctx) => {
  const before = await ctx.step("before", () => Date.now());
  await ctx.sleep(SLEEP_MS);
  const after = await ctx.step("after", () => Date.now());
  return { before, after };
});

const single = defineWorkflow("wf.single", async (ctx, input: { n: number }) => {
  return ctx.step("double", async () => {
    await probe.ran(ctx.workflowId, "double");
    return input.n * 2;
  });
});
const other = defineWorkflow("wf.other", async (ctx) => ctx.step("other", () => "other"));

/** Every retry the worker schedules: when the attempt failed (per its body) and when the next may start. */
const scheduledRetries: { workflowId: string; step: number; at: number }[] = [];

// ---------------------------------------------------------------------------

// Every test uses its own workflows and ids, so the tests of a group run side by side.
let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([greeting, roundTrip, badValue, badOutput, flaky, slowFlaky, declined, recovers, drifting, napper, single, other], {
    wrapStore: (store) =>
      interceptStore(store, {
        releaseClaim: (inner, args) => {
          if (args.retry) scheduledRetries.push({ workflowId: args.workflowId, ...args.retry });
          return inner.releaseClaim(args);
        },
      }),
  });
});

after(async () => {
  await rt.stop();
});

describe("WorkflowClient", () => {
  describe("startWorkflow", { concurrency: true }, () => {
    it("runs every step in order and returns the workflow's output", async () => {
      // Prepare
      const workflowId = "greeting-happy";

      // Act
      const handle = await rt.client.startWorkflow(greeting, { name: "Ada" }, { workflowId });
      const output = await handle.getResult({ timeoutMs: 20_000 });

      // Assess
      assert.deepEqual(output, { hello: "Hello, Ada", shout: "HELLO, ADA", length: 10 });
      const status = await handle.getStatus();
      assert.equal(status.status, WorkflowStatus.SUCCESS);
      assert.equal(status.name, "wf.greeting");
      assert.deepEqual(status.input, { name: "Ada" });
      assert.deepEqual(status.output, output);
      assert.equal(status.recordedSteps, 4);
      assert.equal(status.runningStep, undefined);
    });

    it("runs each step body once per recorded step, although every later step replays it", async () => {
      // Prepare
      const workflowId = "greeting-once";

      // Act
      await (await rt.client.startWorkflow(greeting, { name: "Grace" }, { workflowId })).getResult({ timeoutMs: 20_000 });

      // Assess
      assert.deepEqual(
        ["hello", "shout", "measure"].map((s) => probe.count(workflowId, s)),
        [1, 1, 1],
      );
    });

    it("sleeps durably: the step after a sleep starts no earlier than the sleep's end", async () => {
      // Prepare
      const workflowId = "napper";

      // Act
      const output = await (await rt.client.startWorkflow(napper, undefined, { workflowId })).getResult({ timeoutMs: 20_000 });

      // Assess
      const steps = await rt.client.listWorkflowSteps(workflowId);
      const sleep = steps[1]!;
      assert.equal(sleep.kind, "sleep");
      const { wakeAt } = sleep.output as { wakeAt: number };
      assert.equal(wakeAt, sleep.startedAt + SLEEP_MS);
      assert.ok(sleep.startedAt >= output.before);
      assert.ok(output.after >= wakeAt, `"after" ran ${wakeAt - output.after} ms before the sleep ended`);
      assert.ok(steps[2]!.startedAt >= wakeAt);
    });

    it("starts a workflow once per workflowId, however often it is started", async () => {
      // Prepare
      const workflowId = "single-idempotent";

      // Act
      const first = await rt.client.startWorkflow(single, { n: 21 }, { workflowId });
      const second = await rt.client.startWorkflow(single, { n: 21 }, { workflowId });
      const output = await second.getResult({ timeoutMs: 20_000 });
      const third = await rt.client.startWorkflow(single, { n: 99 }, { workflowId });

      // Assess
      assert.equal(first.workflowId, workflowId);
      assert.equal(output, 42);
      assert.equal(await third.getResult({ timeoutMs: 1_000 }), 42, "a start after it finished returns the finished workflow");
      assert.equal(probe.count(workflowId, "double"), 1);
      assert.equal((await rt.client.listWorkflowSteps(workflowId)).length, 1);
      const listed = await rt.client.listWorkflows({ name: "wf.single" });
      assert.equal(listed.workflows.filter((w) => w.workflowId === workflowId).length, 1);
    });

    it("refuses a workflowId already used by a differently named workflow and leaves the first intact", async () => {
      // Prepare
      const workflowId = "single-conflict";
      const first = await rt.client.startWorkflow(single, { n: 5 }, { workflowId });
      await first.getResult({ timeoutMs: 20_000 });

      // Act
      const attempt = rt.client.startWorkflow(other, undefined, { workflowId });

      // Assess
      await assert.rejects(attempt, (err: unknown) => {
        assert.ok(err instanceof WorkflowConflictError);
        assert.equal(err.workflowId, workflowId);
        assert.match(err.message, /wf\.single/);
        assert.match(err.message, /wf\.other/);
        return true;
      });
      const status = await rt.client.getWorkflowStatus(workflowId);
      assert.equal(status.name, "wf.single");
      assert.equal(status.status, WorkflowStatus.SUCCESS);
      assert.equal(status.output, 10);
      assert.deepEqual(status.input, { n: 5 });
    });
  });

  describe("listWorkflowSteps", { concurrency: true }, () => {
    it("numbers steps from 1 in call order, sleeps included", async () => {
      // Prepare
      const workflowId = "greeting-numbered";
      await (await rt.client.startWorkflow(greeting, { name: "Alan" }, { workflowId })).getResult({ timeoutMs: 20_000 });

      // Act
      const steps = await rt.client.listWorkflowSteps(workflowId);

      // Assess
      assert.deepEqual(
        steps.map((s) => [s.functionId, s.name, s.kind]),
        [
          [1, "hello", "step"],
          [2, "shout", "step"],
          [3, "sleep", "sleep"],
          [4, "measure", "step"],
        ],
      );
    });

    it("reports each step's name, status, output, error, attempts and times", async () => {
      // Prepare
      const workflowId = "recovers-steps";
      const startedBefore = Date.now();
      const output = await (await rt.client.startWorkflow(recovers, undefined, { workflowId })).getResult({ timeoutMs: 20_000 });
      const finishedAfter = Date.now();

      // Act
      const steps = await rt.client.listWorkflowSteps(workflowId);

      // Assess
      assert.equal(output, "fallback after CardDeclined: card 4242 declined");
      assert.equal(steps.length, 2);
      const [charge, notify] = steps as [(typeof steps)[0], (typeof steps)[0]];
      assert.equal(charge.functionId, 1);
      assert.equal(charge.name, "charge");
      assert.equal(charge.status, StepStatus.ERROR);
      assert.equal(charge.output, undefined);
      assert.equal(charge.error?.name, "CardDeclined");
      assert.equal(charge.error?.message, "card 4242 declined");
      assert.match(charge.error?.stack ?? "", /chargeCard/);
      assert.equal(charge.attempts, 1);
      assert.equal(notify.functionId, 2);
      assert.equal(notify.name, "notify");
      assert.equal(notify.status, StepStatus.SUCCESS);
      assert.equal(notify.output, output);
      assert.equal(notify.error, undefined);
      assert.equal(notify.attempts, 1);
      for (const step of steps) {
        assert.ok(step.startedAt >= startedBefore && step.startedAt <= finishedAfter, `${step.name} startedAt within the run`);
        assert.ok(step.completedAt !== undefined && step.completedAt >= step.startedAt && step.completedAt <= finishedAfter);
      }
      assert.ok(notify.startedAt >= charge.completedAt!, "steps run one after the other");
    });
  });
});

describe("Step results and workflow outputs", { concurrency: true }, () => {
  for (const kind of Object.keys(samples) as SampleKind[]) {
    it(`round-trip ${kind} faithfully through the step record, replay and the workflow output`, async () => {
      // Prepare
      const workflowId = `round-trip-${kind}`;
      const expected = samples[kind]();

      // Act
      const output = await (await rt.client.startWorkflow(roundTrip, kind, { workflowId })).getResult({ timeoutMs: 20_000 });
      const steps = await rt.client.listWorkflowSteps(workflowId);

      // Assess
      assert.deepEqual(output.value, expected);
      assert.deepEqual(steps[0]?.output, expected);
      assert.equal(output.seenAs, typeName(expected), "the replayed value has its original type");
      if (expected instanceof Error) {
        for (const got of [output.value, steps[0]?.output] as Error[]) {
          assert.ok(got instanceof Error);
          assert.equal(got.name, "PaymentError");
          assert.equal(got.message, "card declined");
          assert.equal(got.stack, expected.stack);
          assert.equal((got as Error & { code?: string }).code, "E_DECLINED");
          assert.equal((got.cause as Error).message, "insufficient funds");
        }
      }
    });
  }

  for (const [kind, what] of [
    ["instance", /instance of class Money/],
    ["function", /function/],
    ["circular", /circular/],
  ] as const) {
    it(`fail the workflow with an error naming the step when a step returns a ${kind} value`, async () => {
      // Prepare
      const workflowId = `bad-value-${kind}`;

      // Act
      const handle = await rt.client.startWorkflow(badValue, kind, { workflowId });
      const failure = await handle.getResult({ timeoutMs: 20_000 }).catch((err: unknown) => err);

      // Assess
      assert.ok(failure instanceof WorkflowFailedError);
      const status = await handle.getStatus();
      assert.equal(status.status, WorkflowStatus.ERROR);
      assert.equal(status.error?.name, "SerializationError");
      assert.match(status.error?.message ?? "", /step 2 "produce"/);
      assert.match(status.error?.message ?? "", what);
      const steps = await rt.client.listWorkflowSteps(workflowId);
      assert.equal(steps.length, 2);
      assert.equal(steps[1]?.status, StepStatus.ERROR);
      assert.equal(steps[1]?.attempts, 1, "a value that cannot be recorded is not retried");
      assert.equal(probe.count(workflowId, "never"), 0);
    });
  }

  it("fail the workflow with an error naming it when its output cannot be recorded", async () => {
    // Prepare
    const workflowId = "bad-output";

    // Act
    const handle = await rt.client.startWorkflow(badOutput, undefined, { workflowId });
    await assert.rejects(handle.getResult({ timeoutMs: 20_000 }), WorkflowFailedError);

    // Assess
    const status = await handle.getStatus();
    assert.equal(status.status, WorkflowStatus.ERROR);
    assert.equal(status.error?.name, "SerializationError");
    assert.match(status.error?.message ?? "", /output of workflow "wf\.badOutput"/);
    assert.match(status.error?.message ?? "", /Money/);
  });
});

describe("Step retries", { concurrency: true }, () => {
  it("retries a failing step with growing backoff until it succeeds", async () => {
    // Prepare
    const workflowId = "flaky-retries";

    // Act
    const output = await (await rt.client.startWorkflow(flaky, undefined, { workflowId })).getResult({ timeoutMs: 20_000 });

    // Assess
    assert.equal(output, "succeeded on attempt 3");
    const [step] = await rt.client.listWorkflowSteps(workflowId);
    assert.equal(step?.status, StepStatus.SUCCESS);
    assert.equal(step?.attempts, 3);
    const times = attemptTimes.get(workflowId)!;
    assert.equal(times.length, 3);
    // No attempt started before its backoff ended: intervalMs, then intervalMs * backoffRate.
    const gaps = [times[1]! - times[0]!, times[2]! - times[1]!];
    assert.ok(gaps[0]! >= 200, `first backoff ${gaps[0]} ms >= 200 ms`);
    assert.ok(gaps[1]! >= 400, `second backoff ${gaps[1]} ms >= 400 ms`);
    // Sub-second backoff is honoured as asked, not rounded up to SQS's whole seconds.
    assert.ok(gaps[0]! < 900, `first backoff ${gaps[0]} ms < 900 ms`);
  });

  it("schedules a retry due past a second through the queue, no earlier than its backoff", async () => {
    // Prepare
    const workflowId = "slow-retries";

    // Act
    const output = await (await rt.client.startWorkflow(slowFlaky, undefined, { workflowId })).getResult({ timeoutMs: 20_000 });

    // Assess
    assert.equal(output, "succeeded on attempt 2");
    const times = attemptTimes.get(workflowId)!;
    const [retry] = scheduledRetries.filter((r) => r.workflowId === workflowId);
    assert.ok(retry, "the retry went through the queue");
    assert.ok(retry.at - times[0]! >= 1_200, `scheduled ${retry.at - times[0]!} ms after the failure`);
    assert.ok(times[1]! >= retry.at - 250, "the attempt did not start before its backoff ended");
  });

  it("fails the workflow ERROR with the step error's name, message and stack once retries are exhausted", async () => {
    // Prepare
    const workflowId = "declined-exhausted";

    // Act
    const handle = await rt.client.startWorkflow(declined, undefined, { workflowId });
    const failure = await handle.getResult({ timeoutMs: 20_000 }).catch((err: unknown) => err);

    // Assess
    assert.ok(failure instanceof WorkflowFailedError);
    assert.equal(failure.failure.name, "CardDeclined");
    assert.equal(failure.failure.message, "card 4242 declined");
    const status: WorkflowStatusInfo = await handle.getStatus();
    assert.equal(status.status, WorkflowStatus.ERROR);
    assert.equal(status.error?.name, "CardDeclined");
    assert.equal(status.error?.message, "card 4242 declined");
    assert.match(status.error?.stack ?? "", /card 4242 declined/);
    assert.match(status.error?.stack ?? "", /chargeCard/);
    const steps = await rt.client.listWorkflowSteps(workflowId);
    assert.deepEqual(
      steps.map((s) => [s.name, s.status, s.attempts]),
      [
        ["reserve", StepStatus.SUCCESS, 1],
        ["charge", StepStatus.ERROR, 2],
      ],
    );
    assert.equal(probe.count(workflowId, "charge"), 2);
    assert.equal(probe.count(workflowId, "ship"), 0);
  });
});

describe("Determinism", () => {
  it("fails the workflow ERROR naming both step names when replay calls a different step", async () => {
    // Prepare
    const workflowId = "drifting";
    const gate = probe.hold(workflowId, "pause");
    const handle = await rt.client.startWorkflow(drifting, undefined, { workflowId });
    await gate.reached;

    // Act: the code changes while step 2 runs; step 3's replay of step 1 sees the new name.
    renameFirstStep = true;
    gate.open();
    const failure = await handle.getResult({ timeoutMs: 20_000 }).catch((err: unknown) => err);
    renameFirstStep = false;

    // Assess
    assert.ok(failure instanceof WorkflowFailedError);
    const status = await handle.getStatus();
    assert.equal(status.status, WorkflowStatus.ERROR);
    assert.equal(status.error?.name, "NonDeterminismError");
    assert.match(status.error?.message ?? "", /"checkOrder"/);
    assert.match(status.error?.message ?? "", /"validateOrder"/);
    assert.match(status.error?.message ?? "", /step 1/);
    assert.equal(probe.count(workflowId, "finish"), 0);
    assert.deepEqual(
      (await rt.client.listWorkflowSteps(workflowId)).map((s) => s.name),
      ["checkOrder", "pause"],
    );
  });
});
