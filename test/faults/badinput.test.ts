import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  defineWorkflow,
  PayloadTooLargeError,
  ValidationError,
  WorkflowFailedError,
  WorkflowStatus,
} from "../../src/index.js";
import { MAX_VALUE_BYTES } from "../../src/constants.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { startTestRuntime } from "../helpers/runtime.js";
import { quietLogger, recordedSteps } from "./helpers.js";

const big = (bytes: number) => "x".repeat(bytes);

const producer = defineWorkflow("faults.badOutput", async (ctx, kind: "function" | "tooBig" | "bigOutput" | "fine") => {
  const value = await ctx.step("produce", (): unknown => {
    if (kind === "function") return { callback: () => 1 };
    if (kind === "tooBig") return big(MAX_VALUE_BYTES + 10);
    return "small";
  });
  if (kind === "bigOutput") return big(MAX_VALUE_BYTES + 10);
  return value;
});

async function failureOf(rt: LocalRuntime, id: string): Promise<WorkflowFailedError> {
  const err = await rt.client.retrieveWorkflow(id).getResult({ timeoutMs: 20_000 }).then(
    () => assert.fail(`${id} should fail`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  return err;
}

describe("bad input", () => {
  let rt: LocalRuntime;
  before(async () => {
    rt = await startTestRuntime([producer], { logger: quietLogger });
  });
  after(() => rt?.stop());

  it("fails the workflow, naming the step, when a step result cannot be serialized", async () => {
    await rt.client.startWorkflow(producer, "function", { workflowId: "bad-function" });
    const err = await failureOf(rt, "bad-function");
    assert.equal(err.failure.name, "SerializationError");
    assert.match(err.failure.message, /step 1 "produce"/);
    assert.match(err.failure.message, /function at \$\.callback/);
    const [step] = await recordedSteps(rt.store, "bad-function");
    assert.equal(step?.status, "ERROR", "the failed step is recorded once, as an error");
  });

  it("fails the workflow with the size and the limit when a step result is over the item limit", async () => {
    await rt.client.startWorkflow(producer, "tooBig", { workflowId: "bad-size" });
    const err = await failureOf(rt, "bad-size");
    assert.equal(err.failure.name, "PayloadTooLargeError");
    assert.match(err.failure.message, new RegExp(`${MAX_VALUE_BYTES + 12} bytes, over the ${MAX_VALUE_BYTES}-byte limit`));
    assert.match(err.failure.message, /step 1 "produce"/);
  });

  it("fails the workflow when its own output is over the item limit", async () => {
    await rt.client.startWorkflow(producer, "bigOutput", { workflowId: "bad-output" });
    const err = await failureOf(rt, "bad-output");
    assert.equal(err.failure.name, "PayloadTooLargeError");
    assert.match(err.failure.message, /output of workflow "faults\.badOutput"/);
  });

  it("refuses an input over the item limit before anything is written", async () => {
    await assert.rejects(rt.client.startWorkflow(producer, big(MAX_VALUE_BYTES) as never, { workflowId: "bad-input" }), (err: Error) => {
      assert.ok(err instanceof PayloadTooLargeError);
      assert.match(err.message, new RegExp(`input of workflow "faults\\.badOutput".*${MAX_VALUE_BYTES + 2} bytes, over the ${MAX_VALUE_BYTES}-byte limit`));
      return true;
    });
    assert.equal(await rt.store.getWorkflow("bad-input"), undefined);
  });

  it("refuses invalid workflow ids with a ValidationError", async () => {
    const client = rt.client;
    for (const id of ["", "has space", "slash/y", "x".repeat(201), "émoji", 42 as unknown as string]) {
      await assert.rejects(client.startWorkflow(producer, "fine", { workflowId: id }), ValidationError, `start ${JSON.stringify(id)}`);
      await assert.rejects(client.getWorkflowStatus(id), ValidationError);
      await assert.rejects(client.cancelWorkflow(id), ValidationError);
      await assert.rejects(client.resumeWorkflow(id), ValidationError);
      await assert.rejects(client.forkWorkflow(id, 1), ValidationError);
      await assert.rejects(client.listWorkflowSteps(id), ValidationError);
      assert.throws(() => client.retrieveWorkflow(id), ValidationError);
    }
    const ok = await client.startWorkflow(producer, "fine", { workflowId: "fine-1" });
    await assert.rejects(client.forkWorkflow("fine-1", 1, { workflowId: "bad id" }), ValidationError);
    await assert.rejects(client.forkWorkflow("fine-1", 1.5), ValidationError);
    assert.equal(await ok.getResult({ timeoutMs: 20_000 }), "small");
    assert.equal((await client.getWorkflowStatus("fine-1")).status, WorkflowStatus.SUCCESS);
  });
});
