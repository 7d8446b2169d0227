import assert from "node:assert/strict";
import { createLogger, defineWorkflow, type WorkflowDefinition } from "../../src/index.js";
import type { WorkflowStore } from "../../src/store/WorkflowStore.js";
import type { StepRecord } from "../../src/types.js";
import { deserialize } from "../../src/serialization.js";
import type { StepProbe } from "../helpers/runtime.js";

/** Every recorded step of a workflow, read page by page from the store. */
export async function recordedSteps(store: WorkflowStore, workflowId: string): Promise<StepRecord[]> {
  const steps: StepRecord[] = [];
  let nextToken: string | undefined;
  do {
    const page = await store.listSteps(workflowId, { limit: 500, ...(nextToken ? { nextToken } : {}) });
    steps.push(...page.items);
    nextToken = page.nextToken;
  } while (nextToken);
  return steps;
}

/** Steps 1..count are recorded, each exactly once, with the outputs given. */
export async function assertRecordedOnce(store: WorkflowStore, workflowId: string, outputs: readonly unknown[]): Promise<void> {
  const steps = await recordedSteps(store, workflowId);
  const ids = steps.map((s) => s.functionId);
  assert.deepEqual(ids, outputs.map((_, i) => i + 1), `${workflowId}: one record per step, in order`);
  assert.equal(new Set(ids).size, ids.length, `${workflowId}: no step recorded twice`);
  assert.deepEqual(
    steps.map((s) => deserialize(s.output)),
    outputs,
    `${workflowId}: recorded outputs`,
  );
}

/**
 * A three-step workflow whose bodies report to the probe: a, b, c. A worker that
 * dies mid-step uses up an attempt, so each step has a few to heal from crashes.
 */
export function threeSteps(name: string, probe: StepProbe): WorkflowDefinition<{ n: number }, number> {
  const crashProof = { retries: { maxAttempts: 3, intervalMs: 0 } };
  return defineWorkflow(name, async (ctx, input: { n: number }) => {
    const a = await ctx.step(
      "a",
      async () => {
        await probe.ran(ctx.workflowId, "a");
        return input.n + 1;
      },
      crashProof,
    );
    const b = await ctx.step(
      "b",
      async () => {
        await probe.ran(ctx.workflowId, "b");
        return a * 2;
      },
      crashProof,
    );
    return ctx.step(
      "c",
      async () => {
        await probe.ran(ctx.workflowId, "c");
        return b + 100;
      },
      crashProof,
    );
  });
}

/** The step outputs and result of threeSteps for input n. */
export function threeStepsOutputs(n: number): { outputs: number[]; result: number } {
  const a = n + 1;
  const b = a * 2;
  return { outputs: [a, b, b + 100], result: b + 100 };
}

/** Keeps expected failure noise (injected crashes) out of the test output; CAIRN_LOG_LEVEL still wins. */
export const quietLogger = createLogger((process.env.CAIRN_LOG_LEVEL?.toUpperCase() as "SILENT" | undefined) ?? "SILENT");
