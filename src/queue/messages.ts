import { MAX_SQS_DELAY_SECONDS } from "../constants.js";
import { MalformedMessageError, ValidationError } from "../errors.js";
import { STEP_KINDS, type AdmitMessage, type StepKind, type WorkMessage } from "../types.js";
import { checkWorkflowId, clip } from "../limits.js";

/** Marks our messages so foreign ones on the queue are told apart. */
const KIND = "cairn.step";
/** An admission pass of workflow queues (see src/queues/Admitter.ts). */
const ADMIT_KIND = "cairn.admit";
const VERSION = 1;
/** Longest operation name a message may carry (workflow code names its steps; nothing longer is plausible). */
export const MAX_OP_NAME_LENGTH = 256;
/** `supersedes` holds an SQS message id (a claim token): SQS ids are at most 128 characters. */
export const MAX_SUPERSEDES_LENGTH = 128;
/** How much of a foreign body or a bad value an error message echoes. */
const ECHO_CHARS = 120;

export function encodeMessage(message: WorkMessage): string {
  return JSON.stringify({ kind: KIND, v: VERSION, ...message });
}

/** A received value as an error message shows it: its JSON, clipped. */
const show = (value: unknown): string => (value === undefined ? "undefined" : clip(value, 40));

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Parse and validate a work message body. Anything a worker could not act on
 * safely is a MalformedMessageError, never another exception: numbers beyond
 * 2^53 (DynamoDB's SDK refuses them at every delivery), ids DynamoDB cannot use
 * as keys, a null or oversized op. Unknown fields are ignored, so newer senders
 * can add some. Error messages echo the body only clipped.
 */
export function decodeMessage(body: string): WorkMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new MalformedMessageError(`Not a Cairn message (not JSON): ${clip(body, ECHO_CHARS)}`);
  }
  if (!isPlainObject(parsed) || parsed.kind !== KIND) {
    throw new MalformedMessageError(`Not a Cairn message (no kind "${KIND}"): ${clip(body, ECHO_CHARS)}`);
  }
  const m = parsed;
  if (m.v !== VERSION) throw new MalformedMessageError(`Unsupported Cairn message version ${show(m.v)}`);
  const { workflowId, step, generation, notBefore, op, supersedes } = m;
  try {
    checkWorkflowId(workflowId);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new MalformedMessageError(`Cairn message with an invalid workflowId ${show(workflowId)} (1-200 letters, digits or "_.:@=+-")`);
  }
  if (!Number.isSafeInteger(step) || (step as number) < 1) throw new MalformedMessageError(`Cairn message with an invalid step ${show(step)}`);
  if (!Number.isSafeInteger(generation) || (generation as number) < 0) {
    throw new MalformedMessageError(`Cairn message with an invalid generation ${show(generation)}`);
  }
  if (notBefore !== undefined && (!Number.isSafeInteger(notBefore) || (notBefore as number) < 0)) {
    throw new MalformedMessageError(`Cairn message with an invalid notBefore ${show(notBefore)} (epoch milliseconds expected)`);
  }
  if (
    op !== undefined &&
    (!isPlainObject(op) ||
      !STEP_KINDS.includes(op.kind as StepKind) ||
      typeof op.name !== "string" ||
      op.name.length === 0 ||
      op.name.length > MAX_OP_NAME_LENGTH)
  ) {
    throw new MalformedMessageError(`Cairn message with an invalid op ${show(op)}`);
  }
  if (supersedes !== undefined && (typeof supersedes !== "string" || supersedes.length === 0 || supersedes.length > MAX_SUPERSEDES_LENGTH)) {
    throw new MalformedMessageError(`Cairn message with an invalid supersedes ${show(supersedes)} (1-${MAX_SUPERSEDES_LENGTH} characters expected)`);
  }
  // A fresh object with the known fields only: nothing else of the body (a "__proto__" key included) comes along.
  return {
    workflowId,
    step: step as number,
    generation: generation as number,
    ...(notBefore !== undefined ? { notBefore: notBefore as number } : {}),
    ...(op !== undefined ? { op: { kind: op.kind as StepKind, name: op.name as string } } : {}),
    ...(supersedes !== undefined ? { supersedes } : {}),
  };
}

export function encodeAdmitMessage(message: AdmitMessage): string {
  return JSON.stringify({ kind: ADMIT_KIND, v: VERSION, ...message });
}

/** Whether a body is an admission message (the worker handles those apart). */
export function isAdmitMessage(body: string): boolean {
  try {
    const parsed: unknown = JSON.parse(body);
    return isPlainObject(parsed) && parsed.kind === ADMIT_KIND;
  } catch {
    return false;
  }
}

/** Parse and validate an admission message (see isAdmitMessage); anything off is a MalformedMessageError. */
export function decodeAdmitMessage(body: string): AdmitMessage {
  const m = JSON.parse(body) as Record<string, unknown>;
  if (m.v !== VERSION) throw new MalformedMessageError(`Unsupported Cairn admission message version ${show(m.v)}`);
  const { queueName, partitionKey, notBefore } = m;
  const isName = (v: unknown) => typeof v === "string" && v.length > 0 && v.length <= MAX_OP_NAME_LENGTH;
  if (queueName !== undefined && !isName(queueName)) throw new MalformedMessageError(`Cairn admission message with an invalid queueName ${show(queueName)}`);
  if (partitionKey !== undefined && !isName(partitionKey)) throw new MalformedMessageError(`Cairn admission message with an invalid partitionKey ${show(partitionKey)}`);
  if (notBefore !== undefined && (!Number.isSafeInteger(notBefore) || (notBefore as number) < 0)) {
    throw new MalformedMessageError(`Cairn admission message with an invalid notBefore ${show(notBefore)}`);
  }
  return {
    ...(queueName !== undefined ? { queueName: queueName as string } : {}),
    ...(partitionKey !== undefined ? { partitionKey: partitionKey as string } : {}),
    ...(notBefore !== undefined ? { notBefore: notBefore as number } : {}),
  };
}

/** SQS DelaySeconds for a message: whole seconds, rounded up, between 0 and SQS's maximum. */
export function delaySecondsFor(message: { notBefore?: number }, now: number): number {
  if (message.notBefore === undefined) return 0;
  const seconds = Math.ceil((message.notBefore - now) / 1000);
  if (Number.isNaN(seconds)) return 0;
  return Math.min(MAX_SQS_DELAY_SECONDS, Math.max(0, seconds));
}
