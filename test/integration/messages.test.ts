import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { defineWorkflow, PayloadTooLargeError, StepStatus, ValidationError, WorkflowNotFoundError, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";

// Messages and events between workflows and from outside, on the embedded stack.

const probe = new StepProbe();

const inbox = defineWorkflow("msg.inbox", async (ctx, n: number) => {
  const got: unknown[] = [];
  for (let i = 0; i < n; i++) got.push(await ctx.recv({ topic: "t" }));
  return got;
});

const sender = defineWorkflow("msg.sender", async (ctx, to: string) => {
  for (let i = 1; i <= 5; i++) await ctx.send(to, { i }, { topic: "t" });
  try {
    await ctx.send("msg-nobody", "hello");
    return "sent to nobody";
  } catch (err) {
    return err instanceof WorkflowNotFoundError ? "nobody there" : String(err);
  }
});

/** A recv that times out records the timeout: the step after it takes the same branch on replay. */
const timeoutThenLate = defineWorkflow("msg.timeout", async (ctx) => {
  const first = await ctx.recv<string>({ timeoutMs: 1_500 });
  const route = await ctx.step("route", async () => {
    await probe.ran(ctx.workflowId, "route");
    return first === undefined ? "timed out" : `got ${first}`;
  });
  const late = await ctx.recv<string>({ timeoutMs: 20_000 });
  return { route, late };
});

const sleepy = defineWorkflow("msg.sleepy", async (ctx) => {
  await ctx.step("a", async () => probe.ran(ctx.workflowId, "a"));
  await ctx.sleep(1_500);
  return ctx.recv<string>({ topic: "wake" });
});

const hook = defineWorkflow("msg.hook", async (ctx) => {
  const first = await ctx.recv<string>({ topic: "hook" });
  const second = await ctx.recv<string>({ topic: "hook", timeoutMs: 1_500 });
  return { first, second };
});

const progress = defineWorkflow("msg.progress", async (ctx) => {
  await ctx.setEvent("progress", { pct: 40 });
  await ctx.sleep(1_200);
  await ctx.setEvent("progress", { pct: 100 });
  await ctx.setEvent("ready", "yes");
  return "done";
});

const eventWaiter = defineWorkflow("msg.eventWaiter", async (ctx, target: string) => {
  const ready = await ctx.getEvent<string>(target, "ready", { timeoutMs: 20_000 });
  const never = await ctx.getEvent<string>(target, "never", { timeoutMs: 500 });
  return { ready, never: never ?? "timed out" };
});

/** Messages to itself: one received, one left in the mailbox as the workflow ends (written with its end). */
const selfMail = defineWorkflow("msg.self", async (ctx) => {
  await ctx.send(ctx.workflowId, "to myself");
  const got = await ctx.recv<string>();
  await ctx.send(ctx.workflowId, "left behind");
  return got;
});

let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([inbox, sender, timeoutThenLate, sleepy, hook, progress, eventWaiter, selfMail], { functionTimeoutMs: 10_000, maxConcurrency: 8 });
});

after(async () => {
  await rt?.stop();
});

describe("messages", () => {
  it("delivers a workflow's messages exactly once, in send order, and refuses an unknown receiver as a catchable error", async () => {
    const receiver = await rt.client.startWorkflow(inbox, 5, { workflowId: "msg-receiver" });
    const from = await rt.client.startWorkflow(sender, "msg-receiver", { workflowId: "msg-sender" });
    assert.equal(await from.getResult({ timeoutMs: 20_000 }), "nobody there");
    assert.deepEqual(await receiver.getResult({ timeoutMs: 20_000 }), [1, 2, 3, 4, 5].map((i) => ({ i })));
    const steps = await rt.client.listWorkflowSteps("msg-sender");
    assert.deepEqual(
      steps.slice(0, 5).map((s) => [s.kind, s.targetWorkflowId, s.topic]),
      Array.from({ length: 5 }, () => ["send", "msg-receiver", "t"]),
    );
    assert.equal(steps[5]?.error?.name, "WorkflowNotFoundError", "the failed send is recorded with its error");
  });

  it("records a recv's timeout, so the run goes on the same way, and keeps a message that comes later", async () => {
    const handle = await rt.client.startWorkflow(timeoutThenLate, undefined, { workflowId: "msg-timeout" });
    await waitFor("the timeout recorded", async () => (await rt.client.listWorkflowSteps("msg-timeout")).some((s) => s.name === "route"));
    const first = (await rt.client.listWorkflowSteps("msg-timeout"))[0]!;
    assert.equal(first.kind, "recv");
    assert.equal(first.timedOut, true);
    await rt.client.send("msg-timeout", "late one");
    assert.deepEqual(await handle.getResult({ timeoutMs: 20_000 }), { route: "timed out", late: "late one" });
    assert.equal(probe.count("msg-timeout", "route"), 1);
  });

  it("keeps a message sent while the receiver sleeps until it calls recv", async () => {
    const handle = await rt.client.startWorkflow(sleepy, undefined, { workflowId: "msg-sleepy" });
    await waitFor("the receiver asleep", () => probe.count("msg-sleepy", "a") === 1);
    await rt.client.send("msg-sleepy", "while you slept", { topic: "wake" });
    await rt.client.send("msg-sleepy", "wrong topic", { topic: "other" });
    assert.equal(await handle.getResult({ timeoutMs: 20_000 }), "while you slept");
  });

  it("delivers one message for ten concurrent sends with one idempotency key", async () => {
    const handle = await rt.client.startWorkflow(hook, undefined, { workflowId: "msg-hook" });
    await Promise.all(Array.from({ length: 10 }, (_, i) => rt.client.send("msg-hook", `payment ${i}`, { topic: "hook", idempotencyKey: "payment-42" })));
    const result = (await handle.getResult({ timeoutMs: 20_000 })) as { first: string; second: string | undefined };
    assert.match(result.first, /^payment \d$/);
    assert.equal(result.second, undefined, "no second message");
  });

  it("sends a workflow messages to itself, also as its last operation", async () => {
    const handle = await rt.client.startWorkflow(selfMail, undefined, { workflowId: "msg-self" });
    assert.equal(await handle.getResult({ timeoutMs: 20_000 }), "to myself");
    assert.equal(await rt.store.oldestMessage("msg-self", undefined).then((m) => m?.payload), JSON.stringify("left behind"));
  });

  it("refuses bad sends with typed errors and writes nothing", async () => {
    await assert.rejects(rt.client.send("msg-unknown", "x"), WorkflowNotFoundError);
    await assert.rejects(rt.client.send("msg-receiver", "x".repeat(400 * 1024)), PayloadTooLargeError);
    await assert.rejects(rt.client.send("msg-receiver", "x", { topic: "" }), ValidationError);
    await assert.rejects(rt.client.send("msg-receiver", "x", { idempotencyKey: "k".repeat(257) }), ValidationError);
    await assert.rejects(rt.client.send("bad id!", "x"), ValidationError);
  });
});

describe("events", () => {
  it("returns the latest value of an event, waits for one set later, and keeps events after the workflow ends", async () => {
    const handle = await rt.client.startWorkflow(progress, undefined, { workflowId: "evt-progress" });
    assert.deepEqual(await rt.client.getEvent("evt-progress", "progress", { timeoutMs: 10_000 }), { pct: 40 });
    const started = Date.now();
    assert.equal(await rt.client.getEvent("evt-progress", "ready", { timeoutMs: 20_000 }), "yes", "waited for a key set later");
    assert.ok(Date.now() - started >= 500, "the wait lasted until the event was set");
    assert.equal(await handle.getResult({ timeoutMs: 10_000 }), "done");
    assert.deepEqual(await rt.client.getEvent("evt-progress", "progress", { timeoutMs: 0 }), { pct: 100 }, "the latest value, after the end");
    assert.equal(await rt.client.getEvent("evt-progress", "unset", { timeoutMs: 200 }), undefined);
    await assert.rejects(rt.client.getEvent("evt-nobody", "x", { timeoutMs: 0 }), WorkflowNotFoundError);
    await assert.rejects(rt.client.getEvent("evt-progress", "", { timeoutMs: 0 }), ValidationError);
  });

  it("gives a fork the events its copied steps set, and lists a setEvent with its value", async () => {
    await rt.client.startWorkflow(progress, undefined, { workflowId: "evt-original" }).then((h) => h.getResult({ timeoutMs: 20_000 }));
    const fork = await rt.client.forkWorkflow("evt-original", 2, { workflowId: "evt-fork" });
    assert.deepEqual(await rt.client.getEvent("evt-fork", "progress", { timeoutMs: 0 }), { pct: 40 }, "set by the copied step 1, before the fork runs on");
    assert.equal(await rt.client.getEvent("evt-fork", "ready", { timeoutMs: 0 }), undefined, "not set by a copied step");
    await fork.getResult({ timeoutMs: 20_000 });
    assert.deepEqual(await rt.client.getEvent("evt-fork", "progress", { timeoutMs: 0 }), { pct: 100 });
    const [first] = await rt.client.listWorkflowSteps("evt-original");
    assert.deepEqual([first?.kind, first?.name, first?.output], ["setEvent", "progress", { pct: 40 }]);
  });

  it("lets a workflow wait durably for another's event, and time out on one never set", async () => {
    const target = await rt.client.startWorkflow(progress, undefined, { workflowId: "evt-target" });
    const waiter = await rt.client.startWorkflow(eventWaiter, "evt-target", { workflowId: "evt-waiter" });
    assert.deepEqual(await waiter.getResult({ timeoutMs: 20_000 }), { ready: "yes", never: "timed out" });
    await target.getResult({ timeoutMs: 10_000 });
    const steps = await rt.client.listWorkflowSteps("evt-waiter");
    assert.deepEqual(
      steps.map((s) => [s.kind, s.name, s.status, s.timedOut ?? false]),
      [
        ["getEvent", "ready", StepStatus.SUCCESS, false],
        ["getEvent", "never", StepStatus.SUCCESS, true],
      ],
    );
    assert.equal((await rt.client.getWorkflowStatus("evt-waiter")).status, WorkflowStatus.SUCCESS);
  });
});
