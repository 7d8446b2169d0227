import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { randomUUID } from "node:crypto";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { encodeMessage } from "../../src/queue/messages.js";
import type { WorkMessage } from "../../src/types.js";
import { processMessage } from "../../src/worker/processMessage.js";
import { WorkflowRegistry } from "../../src/workflow.js";
import { defineWorkflow, registerErrorClass, StepAttemptsExhaustedError, StepStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { CrashPoint, FaultInjector, withFaults } from "../../src/testing/index.js";
import { quietLogger } from "../faults/helpers.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";

// The first run of a workflow and every replay of it take the same path, on the
// embedded stack: each step here is followed by another, so the branch a step
// chose is replayed by a later invocation.

class Declined extends Error {
  override name = "Declined";
}
registerErrorClass(Declined);

type Failure = "class" | "code" | "string";

const branches = defineWorkflow("fidelity.branches", async (ctx, input: { failure: Failure }) => {
  let route = "charged";
  try {
    await ctx.step("charge", () => {
      if (input.failure === "class") throw new Declined("card declined");
      if (input.failure === "code") throw Object.assign(new Error("slow down"), { code: "THROTTLED" });
      throw "THROTTLED";
    });
  } catch (e) {
    const known = e instanceof Declined || (e as { code?: unknown } | undefined)?.code === "THROTTLED" || typeof e === "string";
    route = known ? "notify-customer" : "page-oncall";
  }
  await ctx.step(route, () => route);
  return ctx.step("done", () => route);
});

const digest = defineWorkflow("fidelity.digest", async (ctx) => {
  const bytes = await ctx.step("hash", () => createHash("sha256").update("cairn").digest());
  const hex = await ctx.step("hex", () => bytes.toString("hex"));
  return ctx.step("done", () => hex);
});

const raceSleep = defineWorkflow("fidelity.raceSleep", async (ctx) => {
  const winner = await Promise.race([ctx.step("fast", () => "step"), ctx.sleep(10_000).then(() => "timer")]);
  return ctx.step("after", () => winner);
});

const twoSleeps = defineWorkflow("fidelity.twoSleeps", async (ctx) => {
  await Promise.all([ctx.sleep(3_000), ctx.sleep(3_000)]);
  return ctx.step("after", () => "slept");
});

const napper = defineWorkflow("fidelity.napper", async (ctx) => {
  await ctx.sleep(60_000);
  return "rested";
});

const probe = new StepProbe();

const fragile = defineWorkflow("fidelity.fragile", async (ctx) => {
  try {
    await ctx.step("fragile", () => probe.ran(ctx.workflowId, "fragile"), { retries: { maxAttempts: 2, intervalMs: 0 } });
    return "finished";
  } catch (e) {
    return e instanceof StepAttemptsExhaustedError ? `gave up after ${e.maxAttempts}` : `other: ${String(e)}`;
  }
});

const held = defineWorkflow("fidelity.held", async (ctx) => {
  await ctx.step("one", () => probe.ran(ctx.workflowId, "one"));
  await ctx.step("two", () => probe.ran(ctx.workflowId, "two"));
  return ctx.step("three", () => probe.ran(ctx.workflowId, "three"));
});

const huge = "x".repeat(500 * 1024);

const bigError = defineWorkflow("fidelity.bigError", async (ctx) => {
  try {
    await ctx.step("explode", async () => {
      await probe.ran(ctx.workflowId, "explode");
      throw Object.assign(new Error(huge), { code: "E_BIG" });
    });
    return "not reached";
  } catch (e) {
    return ctx.step("handled", () => `caught ${(e as { code?: string }).code}`);
  }
});

const bigWorkflowError = defineWorkflow("fidelity.bigWorkflowError", async (ctx) => {
  await ctx.step("before", () => 1);
  throw new Error("y".repeat(450 * 1024));
});

const bigOutput = defineWorkflow("fidelity.bigOutput", async (ctx) => {
  try {
    await ctx.step("produce", async () => {
      await probe.ran(ctx.workflowId, "produce");
      return huge;
    });
    return "not reached";
  } catch (e) {
    return `${(e as Error).name} once`;
  }
});

let rt: LocalRuntime;

before(async () => {
  // Two worker deaths in the middle of "fragile"'s body: both of its attempts.
  const faults = new FaultInjector({ seed: 3, rules: [{ point: CrashPoint.midStep, workflowId: "fragile-dies", step: 1, times: 2 }] });
  rt = await startTestRuntime([branches, digest, raceSleep, twoSleeps, napper, fragile, held, bigError, bigWorkflowError, bigOutput], {
    visibilityTimeoutSeconds: 2,
    batchSize: 1,
    logger: quietLogger,
    ...withFaults(faults),
  });
});

after(() => rt?.stop());

describe("replay fidelity", { concurrency: true }, () => {
  for (const failure of ["class", "code", "string"] as const) {
    it(`takes the branch the first run took after catching a ${failure === "string" ? "thrown string" : `step error (${failure})`}`, async () => {
      // Act
      const workflowId = `branches-${failure}`;
      const output = await (await rt.client.startWorkflow(branches, { failure }, { workflowId })).getResult({ timeoutMs: 20_000 });

      // Assess
      assert.equal(output, "notify-customer");
      const steps = await rt.client.listWorkflowSteps(workflowId);
      assert.deepEqual(
        steps.map((s) => [s.name, s.status]),
        [
          ["charge", StepStatus.ERROR],
          ["notify-customer", StepStatus.SUCCESS],
          ["done", StepStatus.SUCCESS],
        ],
      );
    });
  }

  it("hands a later step the same Buffer on every run", async () => {
    // Act
    const output = await (await rt.client.startWorkflow(digest, undefined, { workflowId: "digest" })).getResult({ timeoutMs: 20_000 });

    // Assess
    assert.equal(output, createHash("sha256").update("cairn").digest("hex"));
  });
});

describe("durable timers", { concurrency: true }, () => {
  it("does not wait for a sleep that lost a race against a step", async () => {
    // Act
    const started = Date.now();
    const output = await (await rt.client.startWorkflow(raceSleep, undefined, { workflowId: "race-sleep" })).getResult({ timeoutMs: 20_000 });

    // Assess
    assert.equal(output, "step");
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms, the 10 s timer was not waited for`);
  });

  it("waits for concurrent sleeps together", async () => {
    // Act
    const started = Date.now();
    const output = await (await rt.client.startWorkflow(twoSleeps, undefined, { workflowId: "two-sleeps" })).getResult({ timeoutMs: 20_000 });

    // Assess
    const took = Date.now() - started;
    assert.equal(output, "slept");
    assert.ok(took >= 3_000, `took ${took} ms, at least the sleep`);
    // From the records, not the wall clock (a loaded machine stretches that): the second
    // sleep started before the first one's timer fired, so both were waited for together.
    const sleeps = (await rt.client.listWorkflowSteps("two-sleeps")).filter((s) => s.kind === "sleep");
    assert.equal(sleeps.length, 2);
    const wake = (s: (typeof sleeps)[number]) => (s.output as { wakeAt: number }).wakeAt;
    assert.ok(sleeps[1]!.startedAt < wake(sleeps[0]!), `the second sleep started at ${sleeps[1]!.startedAt}, before the first woke at ${wake(sleeps[0]!)}`);
  });

  it("shows a sleep as running until its wake time", async () => {
    // Prepare
    const workflowId = "napping";
    await rt.client.startWorkflow(napper, undefined, { workflowId });

    // Act
    const sleep = await waitFor("the sleep's record", async () => (await rt.client.listWorkflowSteps(workflowId)).find((s) => s.kind === "sleep"));

    // Assess
    assert.equal(sleep.status, StepStatus.PENDING);
    assert.equal(sleep.completedAt, undefined);
    assert.ok((sleep.output as { wakeAt: number }).wakeAt > Date.now() + 50_000);
    await rt.client.cancelWorkflow(workflowId);
  });
});

describe("hard limits", { concurrency: true }, () => {
  it("records a step error over the item limit truncated, once, and lets the workflow catch it", async () => {
    // Act
    const workflowId = "big-error";
    const output = await (await rt.client.startWorkflow(bigError, undefined, { workflowId })).getResult({ timeoutMs: 20_000 });

    // Assess
    assert.equal(output, "caught E_BIG");
    assert.equal(probe.count(workflowId, "explode"), 1, "the body ran once");
    const [step] = await rt.client.listWorkflowSteps(workflowId);
    assert.equal(step?.status, StepStatus.ERROR);
    assert.ok((step?.error?.truncated?.originalBytes ?? 0) > 500 * 1024, "the original size is recorded");
  });

  it("ends a workflow whose own error is over the item limit in ERROR, truncated", async () => {
    // Act
    const workflowId = "big-workflow-error";
    const handle = await rt.client.startWorkflow(bigWorkflowError, undefined, { workflowId });
    await handle.getResult({ timeoutMs: 20_000 }).catch(() => undefined);

    // Assess
    const status = await handle.getStatus();
    assert.equal(status.status, "ERROR");
    assert.ok(status.error?.truncated, "recorded truncated");
    assert.equal((await rt.client.listWorkflowSteps(workflowId)).length, 1);
  });

  it("fails a step whose output is over the value limit once, without retrying it", async () => {
    // Act
    const workflowId = "big-output";
    const output = await (await rt.client.startWorkflow(bigOutput, undefined, { workflowId })).getResult({ timeoutMs: 20_000 });

    // Assess
    assert.equal(output, "PayloadTooLargeError once");
    assert.equal(probe.count(workflowId, "produce"), 1);
  });
});

describe("attempts", () => {
  it("counts a worker that died mid-step as an attempt and throws a catchable error once they are used up", async () => {
    // Act
    const workflowId = "fragile-dies";
    const output = await (await rt.client.startWorkflow(fragile, undefined, { workflowId })).getResult({ timeoutMs: 30_000 });

    // Assess
    assert.equal(output, "gave up after 2");
    assert.equal(probe.count(workflowId, "fragile"), 2, "the body ran once per attempt, no more");
    const [step] = await rt.client.listWorkflowSteps(workflowId);
    assert.equal(step?.status, StepStatus.ERROR);
    assert.equal(step?.error?.name, "StepAttemptsExhaustedError");
  });
});

describe("a stale message", () => {
  it("never displaces the claim of a step that is running", async () => {
    // Prepare: step 2 runs and is held open.
    const workflowId = "held-claim";
    const gate = probe.hold(workflowId, "two");
    const handle = await rt.client.startWorkflow(held, undefined, { workflowId });
    await gate.reached;
    const before = await rt.store.getWorkflow(workflowId);
    assert.equal(before?.running?.step, 2);

    // Act: a message for step 3 (last recorded + 2) of the current generation.
    await rt.queue.send([{ workflowId, step: 3, generation: before!.generation, op: { kind: "step", name: "x" } }]);
    await waitFor("the stale message to be handled", queueHoldsOnlyTheRunningStep);
    const during = await rt.store.getWorkflow(workflowId);
    gate.open();
    await handle.getResult({ timeoutMs: 20_000 });

    // Assess
    assert.deepEqual(during?.running, before?.running, "step 2's claim is untouched");
    assert.equal(probe.count(workflowId, "two"), 1, "step 2's body ran once");
  });
});

/** Nothing waits on the queue and one message (the held step's) is in flight. */
describe("a delayed message", () => {
  /** Deliver a message straight to the worker's algorithm; what it sent back to the queue. */
  async function deliver(message: WorkMessage): Promise<{ outcome: string; sent: WorkMessage[] }> {
    const sent: WorkMessage[] = [];
    const queue = { send: async (m: readonly WorkMessage[]) => void sent.push(...m), sendAdmit: async () => undefined, extendVisibility: async () => undefined };
    const deps = { store: rt.store, queue, registry: new WorkflowRegistry([napper]) };
    const outcome = await processMessage(deps, { messageId: randomUUID(), receiptHandle: "r", body: encodeMessage(message) }, Date.now() + 10_000);
    return { outcome, sent };
  }

  it("is dropped, not re-queued until its wake time, once its workflow is cancelled", async () => {
    // Prepare: a workflow that sleeps an hour, cancelled.
    const workflowId = "cancelled-long-sleep";
    await rt.client.startWorkflow(napper, undefined, { workflowId });
    await waitFor("the sleep's record", async () => (await rt.client.listWorkflowSteps(workflowId)).some((s) => s.kind === "sleep"));
    await rt.client.cancelWorkflow(workflowId);

    // Act: the sleep's continuation surfaces after its first 15 minutes.
    const { outcome, sent } = await deliver({ workflowId, step: 2, generation: 0, notBefore: Date.now() + 3_600_000 });

    // Assess
    assert.equal(outcome, "inactive");
    assert.deepEqual(sent, []);
  });

  it("is dropped when its workflow does not exist", async () => {
    // Act
    const { outcome, sent } = await deliver({ workflowId: "never-started", step: 1, generation: 0, notBefore: Date.now() + 3_600_000 });

    // Assess
    assert.equal(outcome, "missing");
    assert.deepEqual(sent, []);
  });
});

async function queueHoldsOnlyTheRunningStep(): Promise<boolean> {
  const out = await rt.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: rt.queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }),
  );
  return out.Attributes?.ApproximateNumberOfMessages === "0" && out.Attributes?.ApproximateNumberOfMessagesNotVisible === "1";
}
