import { SerializationError, ValidationError } from "../errors.js";
import type { CancelWorkflowResult, ListQueuedWorkflowsInput, ListWorkflowsOutput, WorkflowClient } from "../client/WorkflowClient.js";
import type { EnqueueOptions } from "../client/queueOptions.js";
import type { StepInfo, WorkflowStatusInfo } from "../client/status.js";
import { GET_EVENT_TIMEOUT_MS, WorkflowStatus } from "../constants.js";
import {
  checkApplicationVersion,
  checkJsonDepth,
  checkKey,
  checkTimeoutMs,
  checkWorkflowId,
  checkWorkflowName,
  clip,
  describeType,
  invalid,
  LIMITS,
} from "../limits.js";
import type { Logger } from "../logger.js";
import { toJsonValue } from "../serialization.js";
import { decodePageToken, encodePageToken, isAfterStep, queryFingerprint } from "../store/pageToken.js";
import { toControlError, type ControlError } from "./controlErrors.js";

export { toControlError, type ControlError } from "./controlErrors.js";

/**
 * The control operations, shared by the control Lambdas (one function each) and
 * the CLI's direct mode, so both validate and answer the same way. Every answer
 * is an envelope, never a thrown error, so callers across a process boundary get
 * a stable `code`. Every input is checked against LIMITS before anything is
 * written, so a refused request changes nothing.
 */
export const OPERATIONS = ["start", "status", "result", "cancel", "resume", "fork", "list", "steps", "send", "event", "queues", "queued"] as const;
export type OperationName = (typeof OPERATIONS)[number];

/** Operations that change workflows; the others only read. */
export const WRITE_OPERATIONS: readonly OperationName[] = ["start", "cancel", "resume", "fork", "send"];

export type ControlResponse<T = unknown> = { ok: true; result: T } | { ok: false; error: ControlError };

type Payload = Record<string, unknown>;
type FieldType = "string" | "number" | "boolean";

/** A payload field of one type; null counts as absent. */
function field<T>(payload: Payload, key: string, type: FieldType, required: true): T;
function field<T>(payload: Payload, key: string, type: FieldType, required?: false): T | undefined;
function field<T>(payload: Payload, key: string, type: FieldType, required = false): T | undefined {
  const value = payload[key];
  if (value === undefined || value === null) {
    if (required) throw invalid(key, `"${key}" is required`);
    return undefined;
  }
  if (typeof value !== type) throw invalid(key, `"${key}" must be a ${type}, got ${describeType(value)}`);
  if (type === "string" && (value as string).length === 0) throw invalid(key, `"${key}" must not be empty`);
  if (type === "number" && !Number.isFinite(value)) throw invalid(key, `"${key}" must be a finite number`);
  return value as T;
}

function workflowIdField(p: Payload, key?: string, required?: true): string;
function workflowIdField(p: Payload, key: string, required: false): string | undefined;
function workflowIdField(p: Payload, key = "workflowId", required = true): string | undefined {
  const id = required ? field<string>(p, key, "string", true) : field<string>(p, key, "string");
  if (id !== undefined) checkWorkflowId(id, key);
  return id;
}

/** A message topic, an idempotency key or an event key (LIMITS.keyChars). */
function keyField(p: Payload, key: string, required?: true): string;
function keyField(p: Payload, key: string, required: false): string | undefined;
function keyField(p: Payload, key: string, required = true): string | undefined {
  const value = required ? field<string>(p, key, "string", true) : field<string>(p, key, "string");
  if (value !== undefined) checkKey(value, key);
  return value;
}

function timeoutField(p: Payload): number | undefined {
  const timeoutMs = p.timeoutMs ?? undefined;
  checkTimeoutMs(timeoutMs);
  return timeoutMs;
}

function applicationVersionField(p: Payload): string | undefined {
  const version = p.applicationVersion ?? undefined;
  if (version === undefined) return undefined;
  checkApplicationVersion(version);
  return version;
}

/**
 * The queue a started, resumed or forked workflow waits in, and its place there
 * (the client checks them against the queues it knows).
 */
function enqueueFields(p: Payload): EnqueueOptions {
  return {
    ...optional("queueName", field<string>(p, "queueName", "string")),
    ...optional("priority", field<number>(p, "priority", "number")),
    ...optional("deduplicationId", field<string>(p, "deduplicationId", "string")),
    ...optional("partitionKey", field<string>(p, "partitionKey", "string")),
  };
}

/** Workflow fields as JSON data: values in Cairn's tagged JSON, times as epoch ms. */
export function statusToJson(s: WorkflowStatusInfo): Record<string, unknown> {
  return { ...s, input: toJsonValue(s.input), output: toJsonValue(s.output) };
}

export function stepToJson(s: StepInfo): Record<string, unknown> {
  return { ...s, output: toJsonValue(s.output) };
}

/**
 * Write `value` (JSON data of the payload's `key`) with `write`. A value that
 * cannot be recorded is bad input of this request, and nothing was written.
 */
async function recording<T>(key: string, value: unknown, write: () => Promise<T>): Promise<T> {
  // Before the serializer walks it recursively.
  checkJsonDepth(value, key);
  try {
    return await write();
  } catch (err) {
    if (err instanceof SerializationError) throw Object.assign(new ValidationError(err.message, { cause: err }), { field: key });
    throw err;
  }
}

const handlers: Record<OperationName, (client: WorkflowClient, p: Payload) => Promise<unknown>> = {
  async start(client, p) {
    const workflowName = field<string>(p, "workflowName", "string", true);
    checkWorkflowName(workflowName);
    const workflowId = workflowIdField(p, "workflowId", false);
    const applicationVersion = applicationVersionField(p);
    const queue = enqueueFields(p);
    const handle = await recording("input", p.input, () =>
      client.startWorkflow(workflowName, p.input, {
        ...(workflowId !== undefined ? { workflowId } : {}),
        ...(applicationVersion !== undefined ? { applicationVersion } : {}),
        ...queue,
      }),
    );
    return { workflowId: handle.workflowId, ...optional("queueName", queue.queueName) };
  },
  async status(client, p) {
    return statusToJson(await client.getWorkflowStatus(workflowIdField(p)));
  },
  async result(client, p) {
    const workflowId = workflowIdField(p);
    const timeoutMs = timeoutField(p) ?? 0;
    const output = await client.retrieveWorkflow(workflowId).getResult({ timeoutMs });
    return { workflowId, status: WorkflowStatus.SUCCESS, output: toJsonValue(output) };
  },
  async cancel(client, p) {
    const workflowId = workflowIdField(p);
    const wait = field<boolean>(p, "wait", "boolean") ?? false;
    const timeoutMs = timeoutField(p);
    const cancelled: CancelWorkflowResult = await client.cancelWorkflow(workflowId, { wait, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    return statusToJson(cancelled);
  },
  async resume(client, p) {
    const workflowId = workflowIdField(p);
    const queue = enqueueFields(p);
    const handle = await client.resumeWorkflow(workflowId, queue);
    return { workflowId: handle.workflowId, ...optional("queueName", queue.queueName) };
  },
  async fork(client, p) {
    const workflowId = workflowIdField(p);
    const startStep = field<number>(p, "startStep", "number", true);
    if (!Number.isSafeInteger(startStep)) throw invalid("startStep", `"startStep" must be an integer, got ${clip(startStep)}`);
    const newWorkflowId = workflowIdField(p, "newWorkflowId", false);
    const applicationVersion = applicationVersionField(p);
    const queue = enqueueFields(p);
    const handle = await client.forkWorkflow(workflowId, startStep, {
      ...(newWorkflowId !== undefined ? { workflowId: newWorkflowId } : {}),
      ...(applicationVersion !== undefined ? { applicationVersion } : {}),
      ...queue,
    });
    return { workflowId: handle.workflowId, forkedFrom: { workflowId, startStep }, ...optional("queueName", queue.queueName) };
  },
  async list(client, p) {
    const name = field<string>(p, "name", "string");
    if (name !== undefined) checkWorkflowName(name, "name");
    const out = await client.listWorkflows({
      ...optional("name", name),
      ...optional("parentWorkflowId", workflowIdField(p, "parentWorkflowId", false)),
      ...optional("status", field<string>(p, "status", "string") as WorkflowStatus | undefined),
      ...optional("startTime", field<number>(p, "startTime", "number")),
      ...optional("endTime", field<number>(p, "endTime", "number")),
      ...optional("limit", field<number>(p, "limit", "number")),
      ...optional("nextToken", field<string>(p, "nextToken", "string")),
      ...optional("sortDesc", field<boolean>(p, "sortDesc", "boolean")),
    });
    return listingToJson(out);
  },
  async steps(client, p) {
    const workflowId = workflowIdField(p);
    // Steps come a size-budgeted page at a time, so the answer stays under Lambda's limit.
    const fingerprint = queryFingerprint(["steps", workflowId]);
    const after = decodePageToken(field<string>(p, "nextToken", "string"), fingerprint, isAfterStep)?.after ?? 0;
    const steps: Record<string, unknown>[] = [];
    let last = after;
    let bytes = 0;
    for await (const step of client.iterateWorkflowSteps(workflowId)) {
      if (step.functionId <= after) continue;
      const json = stepToJson(step);
      const size = Buffer.byteLength(JSON.stringify(json), "utf8");
      if (steps.length > 0 && bytes + size > LIMITS.pageBytes) {
        return { steps, nextToken: encodePageToken(fingerprint, { after: last }), sizeLimited: true };
      }
      steps.push(json);
      bytes += size;
      last = step.functionId;
    }
    return { steps };
  },
  async send(client, p) {
    const workflowId = workflowIdField(p);
    // null is a message; a payload without the field is a mistake (a misspelt key, say), not an empty message.
    if (!Object.hasOwn(p, "message")) throw invalid("message", `"message" is required (any JSON value, null included)`);
    const topic = keyField(p, "topic", false);
    const idempotencyKey = keyField(p, "idempotencyKey", false);
    await recording("message", p.message, () =>
      client.send(workflowId, p.message, { ...optional("topic", topic), ...optional("idempotencyKey", idempotencyKey) }),
    );
    return { workflowId, ...optional("topic", topic), delivered: true };
  },
  async event(client, p) {
    const workflowId = workflowIdField(p);
    const key = keyField(p, "key");
    // Explicit, so the default a control function caps at its deadline is the one used.
    const timeoutMs = timeoutField(p) ?? GET_EVENT_TIMEOUT_MS;
    const value = await client.getEvent(workflowId, key, { timeoutMs });
    // getEvent answers undefined for an event not set (an event set to undefined reads the same).
    return value === undefined ? { workflowId, key, set: false } : { workflowId, key, set: true, value: toJsonValue(value) };
  },
  async queues(client, p) {
    return { queues: await client.listQueues(optional("queueName", field<string>(p, "queueName", "string"))) };
  },
  async queued(client, p) {
    const input = {
      ...optional("queueName", field<string>(p, "queueName", "string")),
      ...optional("status", field<string>(p, "status", "string") as ListQueuedWorkflowsInput["status"]),
      ...optional("nextToken", field<string>(p, "nextToken", "string")),
    };
    const limit = field<number>(p, "limit", "number");
    let out: ListWorkflowsOutput;
    try {
      out = await client.listQueuedWorkflows({ ...input, ...optional("limit", limit) });
    } catch (err) {
      if (input.queueName === undefined && err instanceof ValidationError && (err as { field?: unknown }).field === "queueName") {
        throw invalid("queueName", `"queueName" is required: no queue definitions are configured here to list every queue (CAIRN_QUEUES, which the construct's queues prop sets)`);
      }
      throw err;
    }
    // The line is paged by count: a page whose values would outgrow the answer stops early.
    const fits = fittingCount(out.workflows);
    if (fits < out.workflows.length) {
      return { ...listingToJson(await client.listQueuedWorkflows({ ...input, limit: fits })), sizeLimited: true };
    }
    return listingToJson(out);
  },
};

/** A page of workflows as the list and queued operations answer it. */
function listingToJson(out: ListWorkflowsOutput): Record<string, unknown> {
  return {
    workflows: out.workflows.map(statusToJson),
    ...(out.nextToken ? { nextToken: out.nextToken } : {}),
    ...(out.sizeLimited ? { sizeLimited: true } : {}),
  };
}

/** How many of the first workflows fit in one page (LIMITS.pageBytes); at least one. */
function fittingCount(workflows: readonly WorkflowStatusInfo[]): number {
  let bytes = 0;
  for (let i = 0; i < workflows.length; i++) {
    bytes += Buffer.byteLength(JSON.stringify(statusToJson(workflows[i]!)), "utf8");
    if (bytes > LIMITS.pageBytes) return Math.max(1, i);
  }
  return workflows.length;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export interface RunOperationOptions {
  /** Where unexpected errors and AWS conditions are logged, with their detail. */
  logger?: Logger;
  /** Names the log entry of an unexpected error (a control Lambda uses its request id). @default a random UUID */
  errorId?: string;
}

/** Run one control operation; bad input and failed operations come back as `{ ok: false, error }`. */
export async function runOperation(
  client: WorkflowClient,
  operation: OperationName,
  payload: unknown,
  options: RunOperationOptions = {},
): Promise<ControlResponse> {
  try {
    if (!OPERATIONS.includes(operation)) throw invalid("operation", `Unknown operation ${clip(operation)} (known: ${OPERATIONS.join(", ")})`);
    if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
      throw new ValidationError(`The ${operation} operation needs a JSON object, got ${payload === null ? "null" : Array.isArray(payload) ? "an array" : typeof payload}`);
    }
    return { ok: true, result: await handlers[operation](client, payload as Payload) };
  } catch (err) {
    return {
      ok: false,
      error: toControlError(err, {
        operation: String(operation).slice(0, LIMITS.echoedValueChars),
        ...(options.logger ? { logger: options.logger } : {}),
        ...(options.errorId ? { errorId: options.errorId } : {}),
      }),
    };
  }
}
