import { createHash } from "node:crypto";
import { WorkflowStatus } from "../constants.js";
import { SerializationError } from "../errors.js";
import { checkKey, checkWorkflowId, checkWorkflowName, clip, describeType, invalid, LIMITS } from "../limits.js";
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
  if (input.parentWorkflowId !== undefined) checkWorkflowId(input.parentWorkflowId, "parentWorkflowId");
  if (input.sortDesc !== undefined && typeof input.sortDesc !== "boolean") throw invalid("sortDesc", `sortDesc must be a boolean, got ${describeType(input.sortDesc)}`);
  if (input.nextToken !== undefined && typeof input.nextToken !== "string") throw invalid("nextToken", `nextToken must be a string, got ${describeType(input.nextToken)}`);
}

/**
 * A value a caller hands over (a workflow's input, a message), serialized and
 * checked against the value limits (size: PayloadTooLargeError, anything that
 * cannot be stored: SerializationError). `what` names it in errors.
 */
export function serializeValue(value: unknown, what: string): string {
  try {
    return serialize(value, what);
  } catch (err) {
    // A value too deep for the serializer's recursion must not surface as a RangeError.
    if (err instanceof RangeError) {
      throw new SerializationError(`Cannot record the ${what}: it is nested too deeply (at most ${LIMITS.valueDepth} levels)`, { cause: err });
    }
    throw err;
  }
}

export const serializeInput = (input: unknown, name: string): string => serializeValue(input, `input of workflow "${name}"`);

/** The options of WorkflowClient.send, checked. */
export function validateSendOptions(options: { topic?: unknown; idempotencyKey?: unknown }): void {
  if (options === null || typeof options !== "object") throw invalid("options", `send options must be an object, got ${describeType(options)}`);
  if (options.topic !== undefined) checkKey(options.topic, "topic");
  if (options.idempotencyKey !== undefined) checkKey(options.idempotencyKey, "idempotencyKey");
}

/** The id a client message gets from its idempotency key: bounded and key-safe, whatever the key. */
export const clientMessageId = (idempotencyKey: string): string => `client:${createHash("sha256").update(idempotencyKey).digest("base64url")}`;
