import { DEFAULT_RETRY } from "../constants.js";
import { PayloadTooLargeError, SerializationError } from "../errors.js";
import { runInsideStep } from "../engine/WorkflowContext.js";
import type { OperationOutcome, StepCall } from "../engine/types.js";
import { serialize, toRecordedError } from "../serialization.js";
import type { RetryPolicy, WorkflowDefinition } from "../workflow.js";

/** Step options over workflow defaults over Cairn's defaults. */
export function retryPolicyFor(definition: WorkflowDefinition<any, any>, call: StepCall): Required<RetryPolicy> {
  return { ...DEFAULT_RETRY, ...definition.options.defaultRetries, ...call.options.retries };
}

/** Delay before attempt `attempt + 1`, after `attempt` failed. */
export function retryDelayMs(policy: Required<RetryPolicy>, attempt: number): number {
  return Math.round(policy.intervalMs * policy.backoffRate ** (attempt - 1));
}

export interface StepBodyResult {
  /** The outcome in recorded form: what the workflow code is handed, on this run and every replay. */
  outcome: OperationOutcome;
  /** The same step would fail the same way on every attempt: retrying is pointless. */
  permanent: boolean;
}

/**
 * Run a step body and put its outcome in recorded form, so a value that cannot
 * be stored fails the step (naming it) instead of corrupting the record.
 */
export async function runStepBody(call: StepCall): Promise<StepBodyResult> {
  let value: unknown;
  try {
    value = await runInsideStep(call.name, call.body);
  } catch (error) {
    return failed(error);
  }
  try {
    return { outcome: { ok: true, output: serialize(value, `output of step ${call.functionId} "${call.name}"`) }, permanent: false };
  } catch (error) {
    return failed(error);
  }
}

function failed(error: unknown): StepBodyResult {
  const permanent = error instanceof SerializationError || error instanceof PayloadTooLargeError;
  return { outcome: { ok: false, error: toRecordedError(error) }, permanent };
}
