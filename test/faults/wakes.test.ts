import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { defineWorkflow, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { CrashPoint, FaultInjector, TransientFault, withFaults } from "../../src/testing/index.js";
import { startTestRuntime, waitFor } from "../helpers/runtime.js";
import { quietLogger } from "./helpers.js";

/**
 * A worker that dies right after recording what wakes another workflow (a
 * child's last step, a sent message) and before the wake-up message goes out:
 * the redelivery of its message finds the step recorded and sends the wake-up
 * then, so the waiting parent or receiver is not left blocked.
 */
describe("a worker that crashes between a record and its wake-up", () => {
  const leaf = defineWorkflow("wakes.leaf", async (ctx) => ctx.step("only", async () => "leaf done"));
  const parent = defineWorkflow("wakes.parent", async (ctx) => ctx.invoke(leaf, undefined));
  const receiver = defineWorkflow("wakes.receiver", async (ctx) => ctx.recv<string>());
  const sender = defineWorkflow("wakes.sender", async (ctx, to: string) => {
    await ctx.send(to, "hello");
    return ctx.step("after", async () => "sent");
  });
  const lastSender = defineWorkflow("wakes.lastSender", async (ctx, to: string) => {
    await ctx.step("a", async () => "a");
    await ctx.send(to, "last words"); // its last operation: the record also ends the workflow
  });
  const faults = new FaultInjector({
    seed: 5,
    rules: [
      // The child's only step, recorded with the child's end.
      { point: CrashPoint.afterRecord, workflowId: "wake-parent-1", step: 1, times: 1 },
      // The send, recorded with the message.
      { point: CrashPoint.afterRecord, workflowId: "wake-sender", step: 1, times: 1 },
      // SQS refuses the wake-up of a receiver whose sender ended with that send.
      { point: TransientFault.queueSendFailure, workflowId: "wake-last-rx", step: 1, operations: ["send"], times: 1 },
    ],
  });
  let rt: LocalRuntime;

  before(async () => {
    rt = await startTestRuntime([leaf, parent, receiver, sender, lastSender], { visibilityTimeoutSeconds: 2, functionTimeoutMs: 4_000, batchSize: 1, logger: quietLogger, ...withFaults(faults) });
  });
  after(() => rt?.stop());

  it("wakes a parent whose child's worker died after recording the child's end", async () => {
    const handle = await rt.client.startWorkflow(parent, undefined, { workflowId: "wake-parent" });
    assert.equal(await handle.getResult({ timeoutMs: 30_000 }), "leaf done");
    assert.ok(faults.log.some((f) => f.workflowId === "wake-parent-1"), `the crash was injected (${JSON.stringify(faults.counts())})`);
  });

  it("wakes a receiver whose wake-up failed after its sender ended with the send", async () => {
    const rx = await rt.client.startWorkflow(receiver, undefined, { workflowId: "wake-last-rx" });
    await waitFor("the receiver waiting", async () => (await rx.getStatus()).status === WorkflowStatus.PENDING);
    const tx = await rt.client.startWorkflow(lastSender, "wake-last-rx", { workflowId: "wake-last-tx" });
    await tx.getResult({ timeoutMs: 30_000 });
    assert.equal(await rx.getResult({ timeoutMs: 30_000 }), "last words");
    assert.ok(faults.log.some((f) => f.workflowId === "wake-last-rx"), `the send failure was injected (${JSON.stringify(faults.counts())})`);
  });

  it("wakes a receiver whose sender's worker died after recording the send", async () => {
    const rx = await rt.client.startWorkflow(receiver, undefined, { workflowId: "wake-receiver" });
    // Blocked in recv (a waiting workflow is PENDING) before anything is sent to it.
    await waitFor("the receiver waiting", async () => (await rx.getStatus()).status === WorkflowStatus.PENDING);
    const tx = await rt.client.startWorkflow(sender, "wake-receiver", { workflowId: "wake-sender" });
    assert.equal(await rx.getResult({ timeoutMs: 30_000 }), "hello");
    assert.equal(await tx.getResult({ timeoutMs: 30_000 }), "sent");
    assert.ok(faults.log.some((f) => f.workflowId === "wake-sender"), `the crash was injected (${JSON.stringify(faults.counts())})`);
  });
});
