import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resumePoint } from "../../src/client/resumePoint.js";
import { StepStatus, WorkflowStatus } from "../../src/constants.js";
import type { RecordedError } from "../../src/serialization.js";
import type { StepRecord, WorkflowRecord } from "../../src/types.js";

const error = (message: string, extra: Record<string, unknown> = {}): RecordedError =>
  ({ name: "Error", message, stack: `Error: ${message}\n    at step`, ...extra }) as RecordedError;

function workflow(status: WorkflowRecord["status"], wfError?: RecordedError): WorkflowRecord {
  return {
    workflowId: "w",
    name: "n",
    status,
    input: "null",
    createdAt: 0,
    updatedAt: 0,
    cancelRequested: false,
    generation: 0,
    version: 3,
    ...(wfError ? { error: wfError } : {}),
  };
}

function steps(...outcomes: (RecordedError | "ok" | "sleep")[]): StepRecord[] {
  return outcomes.map((o, i) => ({
    workflowId: "w",
    functionId: i + 1,
    name: `s${i + 1}`,
    kind: o === "sleep" ? "sleep" : "step",
    attempts: 1,
    startedAt: 0,
    completedAt: 0,
    ...(o === "ok" || o === "sleep" ? { status: StepStatus.SUCCESS } : { status: StepStatus.ERROR, error: o }),
  }));
}

describe("resumePoint", () => {
  it("goes on after the last recorded step of a workflow that is not ERROR, deleting nothing", () => {
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.CANCELLED), steps("ok", error("x"))), { nextStep: 3 });
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.ENQUEUED), []), { nextStep: 1 });
  });

  it("restarts at the failed step whose error ended the workflow, even when later steps succeeded", () => {
    const a = error("a is broken");
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.ERROR, a), steps(a, "ok")), { nextStep: 1, deleteFrom: 1 });
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.ERROR, a), steps("ok", a)), { nextStep: 2, deleteFrom: 2 });
  });

  it("leaves a caught failure before the step whose error ended the workflow", () => {
    const caught = error("caught");
    const fatal = error("fatal");
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.ERROR, fatal), steps(caught, "ok", fatal, "ok")), { nextStep: 3, deleteFrom: 3 });
  });

  it("finds the step's error in the cause chain of the workflow's error", () => {
    const a = error("a is broken");
    const wrapped = error("charge failed", { cause: a });
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.ERROR, wrapped), steps("ok", a, "ok")), { nextStep: 2, deleteFrom: 2 });
  });

  it("re-runs the failures after the last successful step when the code failed for a reason of its own", () => {
    const own = error("gave up");
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.ERROR, own), steps("ok", "sleep", error("x"), error("y"))), { nextStep: 3, deleteFrom: 3 });
  });

  it("deletes nothing when the code failed on its own after its last step succeeded", () => {
    const own = error("a bug");
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.ERROR, own), steps(error("handled"), "ok")), { nextStep: 3 });
    assert.deepEqual(resumePoint(workflow(WorkflowStatus.ERROR, own), []), { nextStep: 1 });
  });
});
