import { CairnError, ValidationError } from "../errors.js";
import type { WorkflowClient } from "../client/WorkflowClient.js";
import type { StepInfo, WorkflowStatusInfo } from "../client/status.js";
import { WorkflowStatus } from "../constants.js";
import { toJsonValue } from "../serialization.js";

/**
 * The control operations, shared by the control Lambdas (one function each) and
 * the CLI's direct mode, so both validate and answer the same way. Every answer
 * is an envelope, never a thrown error, so callers across a process boundary get
 * a stable `code`.
 */
export const OPERATIONS = ["start", "status", "result", "cancel", "resume", "fork", "list", "steps"] as const;
export type OperationName = (typeof OPERATIONS)[number];

/** Operations that change workflows; the others only read. */
export const WRITE_OPERATIONS: readonly OperationName[] = ["start", "cancel", "resume", "fork"];

export interface ControlError {
  code: string;
  name: string;
  message: string;
}

export type ControlResponse<T = unknown> = { ok: true; result: T } | { ok: false; error: ControlError };

type Payload = Record<string, unknown>;

function field<T>(payload: Payload, key: string, type: "string" | "number" | "boolean", required: true): T;
function field<T>(payload: Payload, key: string, type: "string" | "number" | "boolean", required?: false): T | undefined;
function field<T>(payload: Payload, key: string, type: "string" | "number" | "boolean", required = false): T | undefined {
  const value = payload[key];
  if (value === undefined || value === null) {
    if (required) throw new ValidationError(`"${key}" is required`);
    return undefined;
  }
  if (typeof value !== type) throw new ValidationError(`"${key}" must be a ${type}, got ${Array.isArray(value) ? "array" : typeof value}`);
  if (type === "string" && (value as string).length === 0) throw new ValidationError(`"${key}" must not be empty`);
  return value as T;
}

/** Workflow fields as JSON data: values in Cairn's tagged JSON, times as epoch ms. */
export function statusToJson(s: WorkflowStatusInfo): Record<string, unknown> {
  return { ...s, input: toJsonValue(s.input), output: toJsonValue(s.output) };
}

export function stepToJson(s: StepInfo): Record<string, unknown> {
  return { ...s, output: toJsonValue(s.output) };
}

const handlers: Record<OperationName, (client: WorkflowClient, p: Payload) => Promise<unknown>> = {
  async start(client, p) {
    const workflowName = field<string>(p, "workflowName", "string", true);
    const workflowId = field<string>(p, "workflowId", "string");
    const applicationVersion = field<string>(p, "applicationVersion", "string");
    const handle = await client.startWorkflow(workflowName, p.input, {
      ...(workflowId !== undefined ? { workflowId } : {}),
      ...(applicationVersion !== undefined ? { applicationVersion } : {}),
    });
    return { workflowId: handle.workflowId };
  },
  async status(client, p) {
    return statusToJson(await client.getWorkflowStatus(field<string>(p, "workflowId", "string", true)));
  },
  async result(client, p) {
    const workflowId = field<string>(p, "workflowId", "string", true);
    const timeoutMs = field<number>(p, "timeoutMs", "number") ?? 0;
    if (!(timeoutMs >= 0)) throw new ValidationError(`"timeoutMs" must be >= 0`);
    const output = await client.retrieveWorkflow(workflowId).getResult({ timeoutMs });
    return { workflowId, status: WorkflowStatus.SUCCESS, output: toJsonValue(output) };
  },
  async cancel(client, p) {
    const workflowId = field<string>(p, "workflowId", "string", true);
    const wait = field<boolean>(p, "wait", "boolean") ?? false;
    const timeoutMs = field<number>(p, "timeoutMs", "number");
    return statusToJson(await client.cancelWorkflow(workflowId, { wait, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }));
  },
  async resume(client, p) {
    const handle = await client.resumeWorkflow(field<string>(p, "workflowId", "string", true));
    return { workflowId: handle.workflowId };
  },
  async fork(client, p) {
    const workflowId = field<string>(p, "workflowId", "string", true);
    const startStep = field<number>(p, "startStep", "number", true);
    const newWorkflowId = field<string>(p, "newWorkflowId", "string");
    const applicationVersion = field<string>(p, "applicationVersion", "string");
    const handle = await client.forkWorkflow(workflowId, startStep, {
      ...(newWorkflowId !== undefined ? { workflowId: newWorkflowId } : {}),
      ...(applicationVersion !== undefined ? { applicationVersion } : {}),
    });
    return { workflowId: handle.workflowId, forkedFrom: { workflowId, startStep } };
  },
  async list(client, p) {
    const status = field<string>(p, "status", "string");
    const out = await client.listWorkflows({
      ...optional("name", field<string>(p, "name", "string")),
      ...optional("status", status as WorkflowStatus | undefined),
      ...optional("startTime", field<number>(p, "startTime", "number")),
      ...optional("endTime", field<number>(p, "endTime", "number")),
      ...optional("limit", field<number>(p, "limit", "number")),
      ...optional("nextToken", field<string>(p, "nextToken", "string")),
      ...optional("sortDesc", field<boolean>(p, "sortDesc", "boolean")),
    });
    return { workflows: out.workflows.map(statusToJson), ...(out.nextToken ? { nextToken: out.nextToken } : {}) };
  },
  async steps(client, p) {
    const steps = await client.listWorkflowSteps(field<string>(p, "workflowId", "string", true));
    return { steps: steps.map(stepToJson) };
  },
};

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export function toControlError(err: unknown): ControlError {
  if (err instanceof CairnError) return { code: err.code, name: err.name, message: err.message };
  const e = err as { name?: string; message?: string };
  return { code: "INTERNAL_ERROR", name: e?.name ?? "Error", message: e?.message ?? String(err) };
}

/** Run one control operation; bad input and failed operations come back as `{ ok: false, error }`. */
export async function runOperation(client: WorkflowClient, operation: OperationName, payload: unknown): Promise<ControlResponse> {
  try {
    if (!OPERATIONS.includes(operation)) throw new ValidationError(`Unknown operation "${String(operation)}" (known: ${OPERATIONS.join(", ")})`);
    if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
      throw new ValidationError(`The ${operation} operation needs a JSON object, got ${payload === null ? "null" : Array.isArray(payload) ? "an array" : typeof payload}`);
    }
    return { ok: true, result: await handlers[operation](client, payload as Payload) };
  } catch (err) {
    return { ok: false, error: toControlError(err) };
  }
}
