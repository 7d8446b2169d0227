import { WorkflowStatus } from "../constants.js";
import { SerializationError } from "../errors.js";
import { checkWorkflowName, clip, describeType, invalid, LIMITS } from "../limits.js";
import { serialize } from "../serialization.js";
import type { ListWorkflowsQuery } from "../store/WorkflowStore.js";

/** Checks of what callers hand the WorkflowClient, against LIMITS, before anything is read or written. */

export function validateListInput(input: ListWorkflowsQuery): void {
  if (input === null || typeof input !== "object") throw invalid("input", "listWorkflows needs an object of filters");
  const statuses = Object.values(WorkflowStatus) as string[];
  if (input.status !== undefined && !statuses.includes(input.status)) {
    throw invalid("status", `status must be one of ${statuses.join(", ")}, got ${clip(input.status)}`);
  }
  for (const key of ["startTime", "endTime"] as const) {
    const v = input[key];
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > LIMITS.maxEpochMs)) {
      throw invalid(key, `${key} must be epoch milliseconds from 0 to ${LIMITS.maxEpochMs}, got ${clip(v)}`);
    }
  }
  if (input.startTime !== undefined && input.endTime !== undefined && input.startTime > input.endTime) {
    throw invalid("startTime", `startTime (${input.startTime}) is after endTime (${input.endTime})`);
  }
  if (input.name !== undefined) checkWorkflowName(input.name, "name");
  if (input.sortDesc !== undefined && typeof input.sortDesc !== "boolean") throw invalid("sortDesc", `sortDesc must be a boolean, got ${describeType(input.sortDesc)}`);
  if (input.nextToken !== undefined && typeof input.nextToken !== "string") throw invalid("nextToken", `nextToken must be a string, got ${describeType(input.nextToken)}`);
}

/**
 * A workflow's input, serialized and checked against the value limits (size:
 * PayloadTooLargeError, anything that cannot be stored: SerializationError).
 */
export function serializeInput(input: unknown, name: string): string {
  try {
    return serialize(input, `input of workflow "${name}"`);
  } catch (err) {
    // A value too deep for the serializer's recursion must not surface as a RangeError.
    if (err instanceof RangeError) {
      throw new SerializationError(`Cannot record the input of workflow "${name}": it is nested too deeply (at most ${LIMITS.valueDepth} levels)`, { cause: err });
    }
    throw err;
  }
}
