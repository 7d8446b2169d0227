import type { RunningClaim, StepRecord, WorkflowRecord } from "./types.js";

/**
 * The rules about a workflow's state that several parts of Cairn apply (the
 * worker, the client, the status shown to users), each in one place.
 */

/** The highest recorded step's functionId, 0 when none is recorded. */
export function lastRecordedStep(steps: readonly StepRecord[]): number {
  return steps.reduce((max, s) => Math.max(max, s.functionId), 0);
}

/**
 * Whether a claim may still be running its step: the step is not recorded
 * (steps are recorded in order, so it lies past the last recorded one) and the
 * holder's lease (its Lambda deadline) has not passed. A claim on a recorded
 * step is a leftover: recording a step does not rewrite the workflow record, to
 * save a write.
 */
export function isLiveClaim(claim: RunningClaim | undefined, lastRecorded: number, now: number): claim is RunningClaim {
  return claim !== undefined && claim.until > now && claim.step > lastRecorded;
}

/** The claim on the workflow if a worker may still be running its step (see isLiveClaim). */
export function liveClaim(wf: WorkflowRecord, steps: readonly StepRecord[], now: number): RunningClaim | undefined {
  return isLiveClaim(wf.running, lastRecordedStep(steps), now) ? wf.running : undefined;
}

/**
 * The key of the workflow's claim if it is dead because its step is recorded:
 * a message for a later step may take that claim over without reading first.
 */
export function supersededClaim(wf: WorkflowRecord, steps: readonly StepRecord[]): string | undefined {
  const claim = wf.running;
  return claim && steps.some((s) => s.functionId === claim.step) ? claim.key : undefined;
}
