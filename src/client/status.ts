import { StepStatus, type WorkflowStatus } from "../constants.js";
import { deserialize, type RecordedError } from "../serialization.js";
import type { StepKind, StepRecord, WorkflowRecord } from "../types.js";
import { isLiveClaim } from "../workflowState.js";

/** A workflow as users see it (the one place records turn into public types). */
export interface WorkflowStatusInfo {
  workflowId: string;
  name: string;
  status: WorkflowStatus;
  input: unknown;
  output: unknown;
  error: RecordedError | undefined;
  /** Epoch milliseconds. */
  createdAt: number;
  updatedAt: number;
  applicationVersion: string | undefined;
  forkedFrom: { workflowId: string; startStep: number } | undefined;
  /** The workflow that started this one as a child. */
  parentWorkflowId?: string;
  /** The queue it was started, resumed or forked on, and its place there. */
  queueName?: string;
  priority?: number;
  deduplicationId?: string;
  partitionKey?: string;
  /** While it waits in its queue (getWorkflowStatus): how many workflows wait before it. */
  queuePosition?: number;
  cancelRequested: boolean;
  /** Steps recorded so far (listings leave it out: it costs a query per workflow). */
  recordedSteps?: number;
  /** Why the workflow went to MAX_RECOVERY_ATTEMPTS_EXCEEDED. */
  recoveryReason?: string;
  /** The step a worker is running now, if any. */
  runningStep?: { functionId: number; name: string; startedAt: number; attempt: number };
}

export interface StepInfo {
  functionId: number;
  name: string;
  kind: StepKind;
  /** PENDING for the step a worker is running now. */
  status: StepStatus;
  output: unknown;
  error: RecordedError | undefined;
  attempts: number;
  startedAt: number;
  completedAt: number | undefined;
  /** Set on steps a fork reused from its original. */
  copiedFrom?: string;
  /** For a child start (start, invoke) and getResult: the child's id. */
  childWorkflowId?: string;
  /** For send: the receiver; for getEvent: the workflow whose event was read. */
  targetWorkflowId?: string;
  /** For send and recv: the topic (absent: the default topic). */
  topic?: string;
  /** For recv and getEvent: nothing came before the timeout. */
  timedOut?: boolean;
}

export function toWorkflowStatus(record: WorkflowRecord, recordedSteps?: number, now: number = Date.now()): WorkflowStatusInfo {
  return {
    workflowId: record.workflowId,
    name: record.name,
    status: record.status,
    input: deserialize(record.input),
    output: deserialize(record.output),
    error: record.error,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    applicationVersion: record.applicationVersion,
    forkedFrom: record.forkedFrom,
    ...(record.parentWorkflowId !== undefined ? { parentWorkflowId: record.parentWorkflowId } : {}),
    ...(record.queueName !== undefined ? { queueName: record.queueName } : {}),
    ...(record.priority !== undefined ? { priority: record.priority } : {}),
    ...(record.deduplicationId !== undefined ? { deduplicationId: record.deduplicationId } : {}),
    ...(record.partitionKey !== undefined ? { partitionKey: record.partitionKey } : {}),
    cancelRequested: record.cancelRequested,
    ...(recordedSteps !== undefined ? { recordedSteps } : {}),
    ...(record.recoveryReason !== undefined ? { recoveryReason: record.recoveryReason } : {}),
    // Without the step count (listings) a leftover claim on a recorded step cannot be told apart, so it is left out.
    ...(recordedSteps !== undefined && isLiveClaim(record.running, recordedSteps, now)
      ? {
          runningStep: {
            functionId: record.running.step,
            name: record.running.name,
            startedAt: record.running.startedAt,
            attempt: record.running.attempt,
          },
        }
      : {}),
  };
}

/** A step as users see it; a sleep whose timer has not fired yet shows as PENDING with its wake time. */
export function toStepInfo(step: StepRecord, now: number = Date.now()): StepInfo {
  const sleeping = step.kind === "sleep" && step.wakeAt !== undefined && step.wakeAt > now;
  return {
    functionId: step.functionId,
    name: step.name,
    kind: step.kind,
    status: sleeping ? StepStatus.PENDING : step.status,
    output: step.kind === "sleep" ? (step.wakeAt !== undefined ? { wakeAt: step.wakeAt } : undefined) : deserialize(step.kind === "setEvent" ? step.eventValue : step.output),
    error: step.error,
    attempts: step.attempts,
    startedAt: step.startedAt,
    completedAt: sleeping ? undefined : step.completedAt,
    ...(step.copiedFrom !== undefined ? { copiedFrom: step.copiedFrom } : {}),
    ...(step.childWorkflowId !== undefined ? { childWorkflowId: step.childWorkflowId } : {}),
    ...(step.targetWorkflowId !== undefined ? { targetWorkflowId: step.targetWorkflowId } : {}),
    ...(step.topic !== undefined ? { topic: step.topic } : {}),
    ...(step.timedOut ? { timedOut: true } : {}),
  };
}

/** The step a worker holds a claim on, shown as PENDING after the recorded ones. */
export function runningStepInfo(record: WorkflowRecord): StepInfo | undefined {
  const r = record.running;
  if (!r) return undefined;
  return {
    functionId: r.step,
    name: r.name,
    kind: "step",
    status: StepStatus.PENDING,
    output: undefined,
    error: undefined,
    attempts: r.attempt,
    startedAt: r.startedAt,
    completedAt: undefined,
  };
}
