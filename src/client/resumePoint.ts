import { StepStatus, WorkflowStatus } from "../constants.js";
import type { StepRecord, WorkflowRecord } from "../types.js";

/** Where a resume restarts a workflow, and which step records it removes first. */
export interface ResumePoint {
  /** The step the first message of the new generation is for. */
  nextStep: number;
  /** Delete this step's record and every step recorded after it, so they run again. */
  deleteFrom?: number;
}

/**
 * Where resume restarts a workflow.
 *
 * A workflow that is not ERROR (CANCELLED, MAX_RECOVERY_ATTEMPTS_EXCEEDED,
 * ENQUEUED) goes on from the step after its last recorded one; nothing is deleted.
 *
 * An ERROR workflow must not replay the failure that ended it, or it would be
 * back in ERROR at once. The failure is found in its history:
 *
 * 1. The earliest failed step whose recorded error is the workflow's error (or an
 *    error in its `cause` chain): the code let that step's error escape. With
 *    `Promise.all([a, b])` where a (step 1) fails and b (step 2) succeeds, that
 *    is step 1, although step 2 is the last recorded.
 * 2. Otherwise the code caught its step errors and then failed for a reason of
 *    its own (it gave up, a bug, a non-determinism): the failed steps after the
 *    last successful step, from the first of them, are the ones that can have
 *    made it give up. If the last recorded step succeeded, nothing is deleted:
 *    every step replays and the (presumably fixed) code runs on from there; to
 *    run earlier steps again, fork the workflow from the step wanted.
 *
 * The step found and every step recorded after it are deleted, successful ones
 * included, and the workflow restarts at that step. Keeping later successful
 * records would be unsound: a step recorded after the failure may have been
 * called because of it (`catch (e) { await ctx.step("log", ...); throw e }`), and
 * once the failed step succeeds the code takes another path, where the kept
 * record would stand at the wrong position (a NonDeterminismError, for good).
 * The price: a step that ran alongside the failed one (the `b` above) runs
 * again, which at-least-once execution allows (step bodies are idempotent).
 */
export function resumePoint(wf: WorkflowRecord, steps: readonly StepRecord[]): ResumePoint {
  const ordered = [...steps].sort((x, y) => x.functionId - y.functionId);
  const lastRecorded = ordered.at(-1)?.functionId ?? 0;
  if (wf.status !== WorkflowStatus.ERROR) return { nextStep: lastRecorded + 1 };

  const failed = ordered.filter((s) => s.status === StepStatus.ERROR);
  const escaped = wf.error === undefined ? [] : errorChain(wf.error);
  const culprit =
    failed.find((s) => s.error !== undefined && escaped.some((e) => sameError(e, s.error))) ??
    failed.find((s) => s.functionId > lastSucceeded(ordered));
  return culprit ? { nextStep: culprit.functionId, deleteFrom: culprit.functionId } : { nextStep: lastRecorded + 1 };
}

function lastSucceeded(steps: readonly StepRecord[]): number {
  return steps.reduce((max, s) => (s.status === StepStatus.SUCCESS ? Math.max(max, s.functionId) : max), 0);
}

/** A recorded error and the errors of its `cause` chain (recorded errors may carry one). */
function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = error; isErrorLike(e) && chain.length < 20; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

function isErrorLike(value: unknown): value is { name: unknown; message: unknown; stack?: unknown } {
  return typeof value === "object" && value !== null && "name" in value && "message" in value;
}

/** The same error recorded twice (a step's, rethrown by the workflow): name, message and, when both have it, stack. */
function sameError(a: unknown, b: unknown): boolean {
  if (!isErrorLike(a) || !isErrorLike(b)) return false;
  if (a.name !== b.name || a.message !== b.message) return false;
  return a.stack === undefined || b.stack === undefined || a.stack === b.stack;
}
