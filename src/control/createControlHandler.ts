import middy, { type MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import { ENV, optionalListEnv } from "../config.js";
import { CONTROL_DEADLINE_BUFFER_MS, GET_EVENT_TIMEOUT_MS } from "../constants.js";
import { WorkflowClient } from "../client/WorkflowClient.js";
import { UnknownWorkflowError } from "../errors.js";
import { LIMITS, WORKFLOW_NAME_PATTERN } from "../limits.js";
import { logger as defaultLogger, type Logger } from "../logger.js";
import type { QueueDefinition } from "../queues/defineQueue.js";
import type { WorkflowDefinition } from "../workflow.js";
import { OPERATIONS, runOperation, toControlError, type ControlResponse, type OperationName } from "./operations.js";

export interface ControlHandlerOptions {
  /** @default a client on $CAIRN_TABLE_NAME and $CAIRN_QUEUE_URL, knowing `queues`, created on the first invocation */
  client?: WorkflowClient;
  /**
   * The workflow queues the worker registers (see defineQueue), for the client the
   * handler creates: start, resume and fork check queue options against them (an
   * unknown queue is a VALIDATION_ERROR), `queues` shows their limits and `queued`
   * lists them all when no queueName is given.
   * @default - the definitions in $CAIRN_QUEUES (JSON, as the construct's `queues` prop sets it); without it any queue name is accepted
   */
  queues?: Iterable<QueueDefinition>;
  logger?: Logger;
  /**
   * The workflows the worker runs (definitions or names). When given, `start`
   * refuses any other name with UNKNOWN_WORKFLOW instead of creating a workflow
   * the worker cannot run.
   * @default - the names in $CAIRN_WORKFLOW_NAMES (comma-separated); without it any name is accepted (the worker fails an unknown one)
   */
  workflows?: Iterable<WorkflowDefinition<any, any> | string>;
  /**
   * Time kept back before Lambda's deadline: waits (`result` and `cancel` with
   * `timeoutMs` or `wait`, `event`) are cut short to end this long before it, so the
   * caller gets an answer rather than a timed-out invocation (`result`:
   * RESULT_TIMEOUT; `cancel`: the cancel applied, with `idle: false`; `event`: `set: false`).
   * @default 1000
   */
  deadlineBufferMs?: number;
}

/** A control Lambda: the Invoke payload in, a `ControlResponse` envelope out; it never throws. */
export type ControlHandler = (event: unknown, context: Context) => Promise<ControlResponse>;


/** How long an operation waits when its payload has no `timeoutMs`. */
type UntimedWait = (payload: Record<string, unknown>) => number;

/** Operations whose answer may wait, and so must end before the function's deadline. */
const WAITING_OPERATIONS: ReadonlyMap<OperationName, UntimedWait> = new Map<OperationName, UntimedWait>([
  ["result", () => 0],
  // With wait: until the running step's lease ends, which may outlast the invocation.
  ["cancel", (payload) => (payload.wait === true ? Infinity : 0)],
  ["event", () => GET_EVENT_TIMEOUT_MS],
]);

/**
 * Answers any error that escapes the handler (a misconfigured environment, a bug)
 * with the same envelope as a failed operation, so callers always get `{ ok, ... }`.
 */
export function controlErrorEnvelope(log: Logger, operation = "control"): MiddlewareObj<unknown, ControlResponse, Error, Context> {
  return {
    name: "cairnControlErrorEnvelope",
    onError: (request) => {
      // toControlError logs the detail and answers a generic message.
      const errorId = request.context?.awsRequestId;
      request.response = { ok: false, error: toControlError(request.error, { operation, logger: log, ...(errorId ? { errorId } : {}) }) };
    },
  };
}

/**
 * Build the handler of one control Lambda (one function per operation, so IAM
 * can grant read-only access apart from cancel, resume and fork).
 *
 * @example
 * // functions/control/status.ts
 * export const handler = createControlHandler("status");
 */
export function createControlHandler(operation: OperationName, options: ControlHandlerOptions = {}): ControlHandler {
  if (!OPERATIONS.includes(operation)) {
    throw new TypeError(`Unknown control operation "${String(operation)}" (known: ${OPERATIONS.join(", ")})`);
  }
  const log = options.logger ?? defaultLogger;
  const bufferMs = options.deadlineBufferMs ?? CONTROL_DEADLINE_BUFFER_MS;
  // Created lazily: a missing environment variable becomes an answer, not a failed cold start.
  let client = options.client;
  const fromEnv = optionalListEnv(ENV.workflowNames);
  const names = options.workflows ? [...options.workflows].map((w) => (typeof w === "string" ? w : w.name)) : fromEnv;
  const known = names?.length ? new Set(names) : undefined;

  const handle = async (event: unknown, context: Context): Promise<ControlResponse> => {
    const errorId = context?.awsRequestId;
    client ??= WorkflowClient.fromEnv(process.env, options.queues);
    const unknown = operation === "start" && known ? unknownWorkflow(event, known) : undefined;
    if (unknown) return { ok: false, error: toControlError(unknown, { operation }) };
    const untimedWait = WAITING_OPERATIONS.get(operation);
    const payload = untimedWait ? boundWait(event, remainingMs(context) - bufferMs, untimedWait) : event;
    const response = await runOperation(client, operation, payload, { logger: log, ...(errorId ? { errorId } : {}) });
    // The answer's error is already clipped, so the log line stays small whatever the input.
    if (!response.ok) log.info("control operation refused", { operation, error: response.error });
    return response;
  };

  return middy<unknown, ControlResponse>({
    // Should a wait still overrun, answer just before Lambda would kill the invocation.
    timeoutEarlyInMillis: Math.max(1, Math.floor(bufferMs / 2)),
    timeoutEarlyResponse: () => ({
      ok: false,
      error: { code: "FUNCTION_TIMEOUT", name: "FunctionTimeoutError", message: `The ${operation} operation did not finish before the function's deadline` },
    }),
  })
    .use(controlErrorEnvelope(log, operation))
    .handler(handle as never) as unknown as ControlHandler;
}

function unknownWorkflow(event: unknown, known: ReadonlySet<string>): UnknownWorkflowError | undefined {
  if (event === null || typeof event !== "object" || Array.isArray(event)) return undefined;
  const name = (event as Record<string, unknown>).workflowName;
  // Anything but a well-formed name is left to the operation's own validation.
  return typeof name === "string" && WORKFLOW_NAME_PATTERN.test(name) && !known.has(name) ? new UnknownWorkflowError(name, [...known]) : undefined;
}

function remainingMs(context: Context | undefined): number {
  return typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() : Infinity;
}

/**
 * Cap the wait of `result` / `cancel` / `event` at the time the invocation has
 * left. Only well-formed waits are touched (a `timeoutMs` of null counts as none,
 * and is capped too when the operation's wait without one, `untimedWait`, is
 * longer); anything else goes to validation unchanged.
 */
function boundWait(event: unknown, availableMs: number, untimedWait: UntimedWait): unknown {
  if (!Number.isFinite(availableMs) || event === null || typeof event !== "object" || Array.isArray(event)) return event;
  const payload = event as Record<string, unknown>;
  const available = Math.max(0, Math.floor(availableMs));
  const timeoutMs = payload.timeoutMs ?? undefined;
  const valid = typeof timeoutMs === "number" && Number.isFinite(timeoutMs) && timeoutMs >= 0 && timeoutMs <= LIMITS.timeoutMsMax;
  if (valid && timeoutMs > available) return { ...payload, timeoutMs: available };
  if (timeoutMs === undefined && untimedWait(payload) > available) return { ...payload, timeoutMs: available };
  return event;
}
