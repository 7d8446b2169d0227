import { StepStatus, WorkflowStatus } from "../constants.js";
import type { ExecutedOperation, Settlement } from "../engine/types.js";
import { serialize, toRecordedError } from "../serialization.js";
import type { Completion } from "../store/WorkflowStore.js";
import type { StepRecord, WorkflowRecord } from "../types.js";

/** The record of an operation an invocation ran. A sleep's record says when its timer fires. */
export function toStepRecord(workflowId: string, executed: ExecutedOperation, completedAt: number): StepRecord {
  const { call, outcome } = executed;
  const base = {
    workflowId,
    functionId: call.functionId,
    name: call.name,
    kind: call.kind,
    attempts: executed.attempt,
    startedAt: executed.startedAt,
    ...executed.details,
  };
  if (call.kind === "sleep") {
    const wakeAt = executed.wakeAt ?? executed.startedAt;
    return { ...base, status: StepStatus.SUCCESS, wakeAt, completedAt: wakeAt };
  }
  if (outcome.ok) return { ...base, status: StepStatus.SUCCESS, completedAt, ...(outcome.output !== undefined ? { output: outcome.output } : {}) };
  return { ...base, status: StepStatus.ERROR, completedAt, error: outcome.error };
}

/** How the workflow ends, in recorded form; an output that cannot be recorded ends it in ERROR. */
export function toCompletion(settlement: Settlement, wf: WorkflowRecord): Completion {
  if (settlement.type === "fail") return { status: WorkflowStatus.ERROR, error: toRecordedError(settlement.error) };
  try {
    return { status: WorkflowStatus.SUCCESS, output: serialize(settlement.output, `output of workflow "${wf.name}" (${wf.workflowId})`) };
  } catch (error) {
    return { status: WorkflowStatus.ERROR, error: toRecordedError(error) };
  }
}
