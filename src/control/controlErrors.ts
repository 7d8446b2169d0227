import { randomUUID } from "node:crypto";
import { CairnError } from "../errors.js";
import { clipText, LIMITS } from "../limits.js";
import type { Logger } from "../logger.js";

/** An error as control answers carry it: a stable code, and facts in `details` rather than in the message. */
export interface ControlError {
  code: string;
  name: string;
  message: string;
  /**
   * Structured facts about the error, so callers need not parse the message:
   * e.g. `workflowId`, `status`, `timeoutMs` (RESULT_TIMEOUT), `field` (VALIDATION_ERROR),
   * `errorId` (INTERNAL_ERROR and AWS conditions: the id under which the detail was logged).
   */
  details?: Record<string, unknown>;
}

/** Codes of errors whose cause lies in the environment (AWS, configuration), not in the request. */
export const INTERNAL_ERROR = "INTERNAL_ERROR";

interface AwsCondition {
  code: string;
  name: string;
  message: string;
  matches: (e: { name?: unknown; code?: unknown; message?: unknown }) => boolean;
}

const named =
  (...names: string[]) =>
  (e: { name?: unknown; code?: unknown }): boolean =>
    names.includes(String(e.name)) || names.includes(String(e.code));

/**
 * AWS conditions a caller or operator can act on, as typed errors. The SDK's own
 * text never goes to the caller (it is logged): it may echo request values and
 * says nothing a caller can rely on.
 */
const AWS_CONDITIONS: readonly AwsCondition[] = [
  {
    code: "TABLE_NOT_FOUND",
    name: "TableNotFoundError",
    message: "The workflow table does not exist: check CAIRN_TABLE_NAME, the region and the DynamoDB endpoint",
    matches: named("ResourceNotFoundException"),
  },
  {
    code: "QUEUE_NOT_FOUND",
    name: "QueueNotFoundError",
    message: "The work queue does not exist: check CAIRN_QUEUE_URL, the region and the SQS endpoint",
    matches: named("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"),
  },
  {
    code: "THROTTLED",
    name: "ThrottledError",
    message: "AWS throttled the request; retry it later",
    matches: named(
      "ProvisionedThroughputExceededException",
      "ThrottlingException",
      "Throttling",
      "RequestLimitExceeded",
      "RequestThrottled",
      "TooManyRequestsException",
      "LimitExceededException",
    ),
  },
  {
    code: "ACCESS_DENIED",
    name: "AccessDeniedError",
    message: "AWS refused the request: the credentials are missing or invalid, or lack a permission Cairn needs",
    matches: named(
      "AccessDeniedException",
      "AccessDenied",
      "UnrecognizedClientException",
      "InvalidSignatureException",
      "InvalidClientTokenId",
      "ExpiredTokenException",
      "CredentialsProviderError",
      "KMSAccessDeniedException",
    ),
  },
  {
    code: "SERVICE_UNAVAILABLE",
    name: "ServiceUnavailableError",
    message: "AWS could not be reached or did not answer; retry it later",
    matches: named(
      "InternalServerError",
      "ServiceUnavailable",
      "ServiceUnavailableException",
      "TimeoutError",
      "RequestTimeout",
      "ECONNREFUSED",
      "ECONNRESET",
      "ENOTFOUND",
      "ETIMEDOUT",
      "EAI_AGAIN",
    ),
  },
  {
    // Inputs are checked against LIMITS before any write, so this is a backstop.
    code: "PAYLOAD_TOO_LARGE",
    name: "PayloadTooLargeError",
    message: "The request would write a DynamoDB item over its 400 KB limit",
    matches: (e) => e.name === "ValidationException" && /item size/i.test(String(e.message)),
  },
];

export interface ErrorContext {
  operation: string;
  logger?: Logger;
  /** Names the log entry of an unexpected error in the answer. @default a random UUID */
  errorId?: string;
}

/**
 * The one place errors become control answers: Cairn's errors keep their code,
 * clipped message and fields (as `details`); known AWS conditions become typed
 * errors; anything else is INTERNAL_ERROR with a generic message. The detail of
 * the last two goes to the log only, under an `errorId` the answer names.
 */
export function toControlError(err: unknown, context: ErrorContext): ControlError {
  if (err instanceof CairnError) return fromCairnError(err);
  const e = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  const errorId = context.errorId ?? randomUUID();
  const condition = AWS_CONDITIONS.find((c) => c.matches(e));
  context.logger?.error(condition ? `control operation failed: ${condition.code}` : "control operation failed unexpectedly", {
    operation: context.operation,
    errorId,
    error: loggableError(err),
  });
  if (condition) return { code: condition.code, name: condition.name, message: condition.message, details: { errorId } };
  return {
    code: INTERNAL_ERROR,
    name: "InternalError",
    message: `The ${context.operation} operation failed unexpectedly; its detail is logged under error id ${errorId}`,
    details: { errorId },
  };
}

const NOT_DETAILS = new Set(["code", "name", "message", "stack", "cause"]);

function fromCairnError(err: CairnError): ControlError {
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (!NOT_DETAILS.has(key) && value !== undefined) details[key] = clipStrings(value, 0);
  }
  return {
    code: err.code,
    name: err.name,
    message: clipText(err.message),
    ...(Object.keys(details).length ? { details } : {}),
  };
}

/** Strings in a value cut to the message limit, so no detail can grow an answer past reason. */
function clipStrings(value: unknown, depth: number): unknown {
  if (typeof value === "string") return clipText(value);
  if (value === null || typeof value !== "object") return value;
  if (depth >= 3) return undefined;
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => clipStrings(v, depth + 1));
  return Object.fromEntries(Object.entries(value).slice(0, 20).map(([k, v]) => [k, clipStrings(v, depth + 1)]));
}

/** An error for a log line: name, clipped message and stack, and its cause's. */
export function loggableError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { value: clipText(String(err)) };
  const e = err as Error & { code?: unknown; $metadata?: { httpStatusCode?: number; requestId?: string } };
  return {
    name: e.name,
    message: clipText(e.message),
    ...(e.code !== undefined ? { code: clipText(String(e.code), LIMITS.echoedValueChars) } : {}),
    ...(e.$metadata ? { httpStatusCode: e.$metadata.httpStatusCode, awsRequestId: e.$metadata.requestId } : {}),
    ...(e.stack !== undefined ? { stack: clipText(e.stack, 4 * LIMITS.errorMessageChars) } : {}),
    ...(e.cause !== undefined && depth < 3 ? { cause: loggableError(e.cause, depth + 1) } : {}),
  };
}
