import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { QueueDefinition } from "../queues/defineQueue.js";
import type { WorkflowDefinition } from "../workflow.js";
import { CliError, UsageError } from "./errors.js";

type AnyWorkflow = WorkflowDefinition<any, any>;

const TYPESCRIPT = /\.(c|m)?tsx?$/;

export function isWorkflowDefinition(value: unknown): value is AnyWorkflow {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === "string" && typeof v.fn === "function" && v.options !== null && typeof v.options === "object";
}

/** A workflow queue as defineQueue returns it: a name, its two flags, and only limits of the right shape. */
export function isQueueDefinition(value: unknown): value is QueueDefinition {
  if (value === null || typeof value !== "object" || isWorkflowDefinition(value)) return false;
  const v = value as Record<string, unknown>;
  const rate = v.rateLimit as Record<string, unknown> | undefined;
  return (
    typeof v.name === "string" &&
    typeof v.priorityEnabled === "boolean" &&
    typeof v.partitioned === "boolean" &&
    (v.concurrency === undefined || typeof v.concurrency === "number") &&
    (rate === undefined || (rate !== null && typeof rate === "object" && typeof rate.limit === "number" && typeof rate.periodMs === "number"))
  );
}

/** Definitions among a module's exports (also inside an exported array or object, e.g. the default export). */
function exportsOf<T>(moduleNamespace: Record<string, unknown>, matches: (value: unknown) => value is T): T[] {
  const found = new Set<T>();
  const visit = (value: unknown, depth: number) => {
    if (matches(value)) found.add(value);
    else if (depth > 0 && Array.isArray(value)) value.forEach((v) => visit(v, depth - 1));
    else if (depth > 0 && value !== null && typeof value === "object") Object.values(value).forEach((v) => visit(v, depth - 1));
  };
  for (const value of Object.values(moduleNamespace)) visit(value, 1);
  return [...found];
}

/** Workflow definitions among a module's exports. */
export function workflowsOf(moduleNamespace: Record<string, unknown>): AnyWorkflow[] {
  return exportsOf(moduleNamespace, isWorkflowDefinition);
}

/** Workflow queues (defineQueue) among a module's exports. */
export function queuesOf(moduleNamespace: Record<string, unknown>): QueueDefinition[] {
  return exportsOf(moduleNamespace, isQueueDefinition);
}

/** What `cairn dev` runs: the workflows a module exports, and the queues it exports for them. */
export interface WorkflowModule {
  workflows: AnyWorkflow[];
  queues: QueueDefinition[];
}

/** Import the user's module (TypeScript through tsx) and return the workflows and queues it exports. */
export async function loadWorkflows(modulePath: string): Promise<WorkflowModule> {
  const file = path.resolve(modulePath);
  if (!existsSync(file)) throw new UsageError(`Workflow module ${modulePath} does not exist`, "MODULE_NOT_FOUND");
  const url = pathToFileURL(file).href;
  let namespace: Record<string, unknown>;
  try {
    if (TYPESCRIPT.test(file)) {
      let tsImport: (specifier: string, options: { parentURL: string }) => Promise<Record<string, unknown>>;
      try {
        ({ tsImport } = await import("tsx/esm/api"));
      } catch {
        throw new CliError("TSX_NOT_INSTALLED", `Loading ${modulePath} needs tsx (npm install --save-dev tsx), or compile it to JavaScript first`);
      }
      namespace = await tsImport(url, { parentURL: import.meta.url });
    } else {
      namespace = (await import(url)) as Record<string, unknown>;
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    const e = err as Error;
    throw new CliError("MODULE_LOAD_FAILED", `Cannot load workflow module ${modulePath}: ${e?.name ?? "Error"}: ${e?.message ?? String(err)}`);
  }
  const workflows = workflowsOf(namespace);
  if (workflows.length === 0) {
    throw new UsageError(`Workflow module ${modulePath} exports no workflow definitions (export the values defineWorkflow returns)`, "NO_WORKFLOWS");
  }
  const queues = queuesOf(namespace);
  const names = queues.map((q) => q.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new UsageError(`Workflow module ${modulePath} exports two queues named "${twice}"`, "DUPLICATE_QUEUE");
  return { workflows, queues };
}
