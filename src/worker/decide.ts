import { FINISHED_STATUSES } from "../constants.js";
import type { RunningClaim, WorkflowState, WorkMessage } from "../types.js";
import { lastRecordedStep, liveClaim } from "../workflowState.js";

/** How early a delayed message may surface and still count as due. */
export const EARLY_TOLERANCE_MS = 250;

/** What one delivery does before it runs anything, decided from the state it read. */
export type DeliveryDecision =
  /** An older generation, or a step out of order: run nothing. */
  | { type: "stale" }
  /** The workflow is cancelled or finished: run nothing. */
  | { type: "inactive" }
  /** The workflow waits in its queue: run nothing (its admission sends the message that starts it). */
  | { type: "queued" }
  /** The step is recorded: make sure its continuation exists. */
  | { type: "duplicate"; lastRecorded: number }
  /** Too early (the message's own delay, or the step's retry backoff): come back at `until`. */
  | { type: "defer"; until: number; retryAt?: number }
  /** Another delivery of this generation runs the step now. */
  | { type: "busy" }
  /** A claim of an older generation may still run the step: look again once it ends. */
  | { type: "olderClaim"; claim: RunningClaim }
  /** Another delivery of this very message runs the step now (SQS delivered it twice at once). */
  | { type: "sameMessage"; claim: RunningClaim }
  | { type: "run" };

/**
 * The early exits of the worker's algorithm (docs/ARCHITECTURE.md, "One message"),
 * in the order they apply. `holdsClaim`: this delivery claimed the step while
 * reading, so no other claim can be live.
 */
export function decideDelivery(state: WorkflowState, message: WorkMessage, token: string, now: number, holdsClaim: boolean): DeliveryDecision {
  const wf = state.workflow;
  if (wf.generation !== message.generation) return { type: "stale" };
  if (FINISHED_STATUSES.includes(wf.status) || wf.cancelRequested) return { type: "inactive" };
  if (wf.queued) return { type: "queued" };
  const lastRecorded = lastRecordedStep(state.steps);
  if (message.step <= lastRecorded) return { type: "duplicate", lastRecorded };
  if (message.step !== lastRecorded + 1) return { type: "stale" };

  const retryAt = wf.retryStep === message.step ? wf.retryAt : undefined;
  const until = Math.max(message.notBefore ?? 0, retryAt ?? 0);
  if (until > now + EARLY_TOLERANCE_MS) return { type: "defer", until, ...(retryAt !== undefined ? { retryAt } : {}) };

  const claim = holdsClaim ? undefined : liveClaim(wf, state.steps, now);
  if (!claim) return { type: "run" };
  // Never our own claim (a delivery does not read back a claim it made).
  if (claim.token === token) return { type: "sameMessage", claim };
  return claim.generation === wf.generation ? { type: "busy" } : { type: "olderClaim", claim };
}
