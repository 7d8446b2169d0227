import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { defineWorkflow, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { StepProbe, startTestRuntime } from "../helpers/runtime.js";
import { assertRecordedOnce, quietLogger } from "./helpers.js";

const probe = new StepProbe();
const STEPS = 6;
/** Six steps of ~150 ms, so a restart lands in the middle of the run. */
const steady = defineWorkflow("faults.restart", async (ctx, input: { n: number }) => {
  let total = input.n;
  for (let i = 1; i <= STEPS; i++) {
    total = await ctx.step(`s${i}`, async () => {
      await probe.ran(ctx.workflowId, `s${i}`);
      await sleep(150);
      return total + i;
    });
  }
  return total;
});
const outputsFor = (n: number) => Array.from({ length: STEPS }, (_, i) => n + ((i + 1) * (i + 2)) / 2);

describe("DynamoDB Local restarted in the middle of a run", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "cairn-restart-"));
  let rt: LocalRuntime;
  before(async () => {
    rt = await startTestRuntime([steady], { dynamoDataDir: dataDir, logger: quietLogger });
  });
  after(async () => {
    await rt?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("loses no workflow and records every step once", async () => {
    // Prepare
    const ids = Array.from({ length: 5 }, (_, i) => `restart-${i}`);
    const handles = await Promise.all(ids.map((id, i) => rt.client.startWorkflow(steady, { n: i * 1000 }, { workflowId: id })));
    await sleep(500);
    const recordedBefore = await rt.store.countSteps(ids[0]!);

    // Act: the database dies (SIGKILL) and comes back with its files.
    await rt.restartDynamo();

    // Assess
    const results = await Promise.all(handles.map((h) => h.getResult({ timeoutMs: 60_000 })));
    assert.ok(recordedBefore < STEPS, "the restart happened mid-run");
    for (const [i, id] of ids.entries()) {
      const outputs = outputsFor(i * 1000);
      assert.equal(results[i], outputs.at(-1));
      assert.equal((await rt.client.getWorkflowStatus(id)).status, WorkflowStatus.SUCCESS);
      await assertRecordedOnce(rt.store, id, outputs);
      for (let s = 1; s <= STEPS; s++) assert.ok(probe.count(id, `s${s}`) >= 1);
    }
  });
});
