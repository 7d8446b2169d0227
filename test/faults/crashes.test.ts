import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { CrashPoint, FaultInjector, withFaults } from "../../src/testing/index.js";
import { StepProbe, startTestRuntime } from "../helpers/runtime.js";
import { assertRecordedOnce, quietLogger, threeSteps, threeStepsOutputs } from "./helpers.js";

/**
 * One crash per workflow, at each point of the worker's algorithm, on step 2
 * ("b"). SQS delivers the message again and the same algorithm finishes the job.
 * `bodyRuns` is how often b's body must have run: a crash before the body leaves
 * it to the redelivery; one after the body but before its record runs it again;
 * one after the record never runs it again.
 */
const cases: { point: CrashPoint; bodyRuns: number }[] = [
  { point: CrashPoint.beforeClaim, bodyRuns: 1 },
  { point: CrashPoint.beforeStep, bodyRuns: 1 },
  { point: CrashPoint.midStep, bodyRuns: 2 },
  { point: CrashPoint.beforeRecord, bodyRuns: 2 },
  { point: CrashPoint.afterRecord, bodyRuns: 1 },
  { point: CrashPoint.afterEnqueue, bodyRuns: 1 },
  { point: CrashPoint.beforeAck, bodyRuns: 1 },
];

describe("a worker that crashes", () => {
  const probe = new StepProbe();
  const workflow = threeSteps("faults.crash", probe);
  const faults = new FaultInjector({
    seed: 11,
    rules: cases.map(({ point }) => ({ point, workflowId: `crash-${point}`, step: 2, times: 1 })),
  });
  let rt: LocalRuntime;

  before(async () => {
    // One message per invocation, so a crash of one workflow's invocation takes no other workflow's step with it.
    rt = await startTestRuntime([workflow], { visibilityTimeoutSeconds: 4, functionTimeoutMs: 4_000, batchSize: 1, logger: quietLogger, ...withFaults(faults) });
  });
  after(() => rt?.stop());

  it("loses no workflow and records every step once, whatever the crash point", async () => {
    // Prepare / Act: all seven at once, each with its own crash.
    const handles = await Promise.all(cases.map(({ point }, i) => rt.client.startWorkflow(workflow, { n: i }, { workflowId: `crash-${point}` })));
    const results = await Promise.all(handles.map((h) => h.getResult({ timeoutMs: 45_000 })));

    // Assess
    for (const [i, { point, bodyRuns }] of cases.entries()) {
      const id = `crash-${point}`;
      const expected = threeStepsOutputs(i);
      assert.equal(results[i], expected.result, `${point}: result`);
      assert.equal((await rt.client.getWorkflowStatus(id)).status, WorkflowStatus.SUCCESS);
      await assertRecordedOnce(rt.store, id, expected.outputs);
      assert.ok(
        faults.log.some((f) => f.point === point && f.workflowId === id),
        `${point}: the crash was injected (${JSON.stringify(faults.counts())})`,
      );
      assert.equal(probe.count(id, "a"), 1, `${point}: step a ran once`);
      assert.equal(probe.count(id, "b"), bodyRuns, `${point}: step b ran ${bodyRuns} time(s)`);
      assert.equal(probe.count(id, "c"), 1, `${point}: step c ran once`);
    }
  });
});
