import { DEFAULT_RETRY } from "../constants.js";
import { PayloadTooLargeError, SerializationError } from "../errors.js";
import { runInsideStep, type OperationCall } from "../engine/WorkflowContext.js";
import type { OperationOutcome } from "../engine/replay.js";
import { serialize } from "../serialization.js";
import type { RetryPolicy, WorkflowDefinition } from "../workflow.js";

export type StepCall = Extract<OperationCall, { kind: "step" }>;

/** Step options over workflow defaults over Cairn's defaults. */
export function retryPolicyFor(definition: WorkflowDefinition<any, any>, call: StepCall): Required<RetryPolicy> {
  return { ...DEFAULT_RETRY, ...definition.options.defaultRetries, ...call.options.retries };
}

/** Delay before attempt `attempt + 1`, after `attempt` failed. */
export function retryDelayMs(policy: Required<RetryPolicy>, attempt: number): number {
  return Math.round(policy.intervalMs * policy.backoffRate ** (attempt - 1));
}

/** Errors that the same step would raise again on every attempt. */
export function isPermanent(error: unknown): boolean {
  return error instanceof SerializationError || error instanceof PayloadTooLargeError;
}

/**
 * Run a step body and check that its result can be recorded, so a value that
 * cannot be stored fails the step (naming it) instead of corrupting the record.
 */
export async function runStepBody(call: StepCall): Promise<{ outcome: OperationOutcome; serialized?: string }> {
  let value: unknown;
  try {
    value = await runInsideStep(call.name, call.body);
  } catch (error) {
    return { outcome: { ok: false, error } };
  }
  try {
    return { outcome: { ok: true, value }, serialized: serialize(value, `output of step ${call.functionId} "${call.name}"`) };
  } catch (error) {
    return { outcome: { ok: false, error } };
  }
}
