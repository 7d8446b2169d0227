import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { WorkflowDefinition } from "../workflow.js";
import { CliError, UsageError } from "./errors.js";

type AnyWorkflow = WorkflowDefinition<any, any>;

const TYPESCRIPT = /\.(c|m)?tsx?$/;

export function isWorkflowDefinition(value: unknown): value is AnyWorkflow {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === "string" && typeof v.fn === "function" && v.options !== null && typeof v.options === "object";
}

/** Workflow definitions among a module's exports (also inside an exported array or object, e.g. the default export). */
export function workflowsOf(moduleNamespace: Record<string, unknown>): AnyWorkflow[] {
  const found = new Set<AnyWorkflow>();
  const visit = (value: unknown, depth: number) => {
    if (isWorkflowDefinition(value)) found.add(value);
    else if (depth > 0 && Array.isArray(value)) value.forEach((v) => visit(v, depth - 1));
    else if (depth > 0 && value !== null && typeof value === "object") Object.values(value).forEach((v) => visit(v, depth - 1));
  };
  for (const value of Object.values(moduleNamespace)) visit(value, 1);
  return [...found];
}

/** Import the user's module (TypeScript through tsx) and return the workflows it exports. */
export async function loadWorkflows(modulePath: string): Promise<AnyWorkflow[]> {
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
  return workflows;
}
