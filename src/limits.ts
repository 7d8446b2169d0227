import { MAX_VALUE_BYTES } from "./constants.js";
import { ValidationError } from "./errors.js";
import { MAX_VALUE_DEPTH } from "./serialization.js";

/**
 * Every limit Cairn puts on what callers send and on what it answers, in one
 * place (the README's Limits section lists them). Inputs are checked against
 * these before anything is written, so an input over a limit is refused with a
 * `ValidationError` (or `PayloadTooLargeError` for a value) and changes nothing;
 * none of them is left for DynamoDB or Lambda to trip over.
 */
export const LIMITS = {
  /** workflowId (and a fork's new id): 1-200 letters, digits or "_.:@=+-" (it is part of DynamoDB keys). */
  workflowIdChars: 200,
  /** Workflow names (defineWorkflow, start, list's `name` filter): 1-128 letters, digits, "_", ".", ":" or "-", starting with a letter or digit. */
  workflowNameChars: 128,
  /** applicationVersion (start, fork): 1-128 characters. */
  applicationVersionChars: 128,
  /** A recorded value (workflow input or output, step result), serialized: 350 KB (DynamoDB items are limited to 400 KB). */
  valueBytes: MAX_VALUE_BYTES,
  /**
   * How deeply arrays and objects may nest in a value: no part of it may sit
   * inside more than this many of them (the serializer's limit, checked first on
   * control inputs).
   */
  valueDepth: MAX_VALUE_DEPTH,
  /** A message topic, an event key, an idempotency key of client.send: 1-256 characters. */
  keyChars: 256,
  /** A listing's `nextToken`, as returned (longer is not one Cairn made). */
  nextTokenChars: 2_048,
  /** A listing's `limit`: workflows per page. */
  listLimitMax: 1_000,
  listLimitDefault: 100,
  /** `startTime` / `endTime` of a listing: epoch ms from 0 to the largest Date. */
  maxEpochMs: 8_640_000_000_000_000,
  /** `timeoutMs` of waits (result, cancel with wait): a finite number of ms >= 0, at most this (about 24.8 days); control functions cap it further at the time the invocation has left. */
  timeoutMsMax: 2_147_483_647,
  /** Lambda's limit on a function's answer (6 MB), which control answers must stay under. */
  responseBytes: 6 * 1024 * 1024,
  /**
   * A page of workflows (list) or steps (steps) stops before its values reach this
   * many bytes and answers a `nextToken` with `sizeLimited: true`, so an answer
   * stays under `responseBytes` whatever the data (one workflow is at most two
   * 400 KB items). A page always holds at least one entry.
   */
  pageBytes: 4 * 1024 * 1024,
  /** Offending values echoed in error messages and logs are cut to this many characters. */
  echoedValueChars: 100,
  /** Error messages in control answers and logs are cut to this many characters. */
  errorMessageChars: 2_000,
} as const;

export const WORKFLOW_ID_PATTERN = /^[A-Za-z0-9_.:@=+-]{1,200}$/;
export const WORKFLOW_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/**
 * A value as it may be shown in a message or log: JSON, cut after `max`
 * characters with its full length, e.g. `"aaaa… (1048576 chars)`.
 */
export function clip(value: unknown, max: number = LIMITS.echoedValueChars): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return clipText(text, max, typeof value === "string" ? value.length : text.length);
}

/** Text cut after `max` characters, saying how long it was. */
export function clipText(text: string, max: number = LIMITS.errorMessageChars, length = text.length): string {
  return text.length > max ? `${text.slice(0, max)}… (${length} chars)` : text;
}

/** A ValidationError naming the input field at fault (also in `details.field` of control answers). */
export function invalid(field: string, message: string): ValidationError {
  return Object.assign(new ValidationError(message), { field });
}

export function checkWorkflowId(id: unknown, what = "workflowId"): asserts id is string {
  if (typeof id !== "string" || !WORKFLOW_ID_PATTERN.test(id)) {
    const detail = typeof id === "string" && id.length > LIMITS.workflowIdChars ? `got ${id.length} characters` : `got ${clip(id)}`;
    throw invalid(what, `Invalid ${what}: use 1-${LIMITS.workflowIdChars} letters, digits or "_.:@=+-" (${detail})`);
  }
}

export function checkWorkflowName(name: unknown, what = "workflowName"): asserts name is string {
  if (typeof name !== "string" || !WORKFLOW_NAME_PATTERN.test(name)) {
    const detail = typeof name === "string" && name.length > LIMITS.workflowNameChars ? `got ${name.length} characters` : `got ${clip(name)}`;
    throw invalid(
      what,
      `Invalid ${what}: use 1-${LIMITS.workflowNameChars} letters, digits, "_", ".", ":" or "-", starting with a letter or digit (${detail})`,
    );
  }
}

export function checkApplicationVersion(version: unknown, what = "applicationVersion"): asserts version is string {
  if (typeof version !== "string") throw invalid(what, `${what} must be a string, got ${describeType(version)}`);
  if (version.length < 1 || version.length > LIMITS.applicationVersionChars) {
    throw invalid(what, `${what} must have 1-${LIMITS.applicationVersionChars} characters, got ${version.length}`);
  }
}

/** A message topic, an event key or an idempotency key: a string of 1-`LIMITS.keyChars` characters. */
export function checkKey(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string") throw invalid(what, `${what} must be a string, got ${describeType(value)}`);
  if (value.length < 1 || value.length > LIMITS.keyChars) throw invalid(what, `${what} must have 1-${LIMITS.keyChars} characters, got ${value.length}`);
}

/** `timeoutMs` of a wait: a finite number >= 0 (undefined: no limit). */
export function checkTimeoutMs(timeoutMs: unknown, what = "timeoutMs"): asserts timeoutMs is number | undefined {
  if (timeoutMs === undefined) return;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > LIMITS.timeoutMsMax) {
    throw invalid(what, `${what} must be a number of milliseconds from 0 to ${LIMITS.timeoutMsMax}, got ${clip(timeoutMs)}`);
  }
}

/**
 * Refuse JSON data (a control payload's `input`) nested deeper than the
 * serializer allows, before anything walks it recursively: no value may sit
 * inside more than `LIMITS.valueDepth` arrays and objects. Iterative; stops at
 * the first level too deep.
 */
export function checkJsonDepth(value: unknown, what: string): void {
  // Containers only, each with the number of containers around it and itself.
  const stack: [object, number][] = value !== null && typeof value === "object" ? [[value, 1]] : [];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    const children = Array.isArray(v) ? v : Object.values(v);
    if (children.length > 0 && depth > LIMITS.valueDepth) {
      throw invalid(what, `The ${what} is nested more than ${LIMITS.valueDepth} levels deep`);
    }
    for (const child of children) if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
  }
}

export function describeType(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}
