import { ValidationError } from "./errors.js";
import { WORKFLOW_NAME_PATTERN } from "./limits.js";
import type { WorkflowContext } from "./engine/WorkflowContext.js";

export interface WorkflowOptions {
  /** Default retry policy for this workflow's steps. */
  defaultRetries?: RetryPolicy;
}

export interface RetryPolicy {
  /** Total attempts, the first included. @default 1 */
  maxAttempts?: number;
  /** Delay before the second attempt. @default 1000 */
  intervalMs?: number;
  /** Factor applied to the delay after each attempt. @default 2 */
  backoffRate?: number;
}

export interface StepOptions {
  retries?: RetryPolicy;
}

export type WorkflowFunction<I, O> = (ctx: WorkflowContext, input: I) => Promise<O>;

export interface WorkflowDefinition<I = unknown, O = unknown> {
  readonly name: string;
  readonly fn: WorkflowFunction<I, O>;
  readonly options: WorkflowOptions;
}


export function validateRetryPolicy(policy: RetryPolicy | undefined, where: string): void {
  if (policy === undefined) return;
  const { maxAttempts, intervalMs, backoffRate } = policy;
  if (maxAttempts !== undefined && (!Number.isInteger(maxAttempts) || maxAttempts < 1)) {
    throw new ValidationError(`${where}: retries.maxAttempts must be an integer >= 1, got ${String(maxAttempts)}`);
  }
  if (intervalMs !== undefined && (!Number.isFinite(intervalMs) || intervalMs < 0)) {
    throw new ValidationError(`${where}: retries.intervalMs must be a number >= 0, got ${String(intervalMs)}`);
  }
  if (backoffRate !== undefined && (!Number.isFinite(backoffRate) || backoffRate < 1)) {
    throw new ValidationError(`${where}: retries.backoffRate must be a number >= 1, got ${String(backoffRate)}`);
  }
}

/**
 * Define a durable workflow. The function must be deterministic between its durable operations.
 *
 * @throws ValidationError for an invalid name (1-128 letters, digits, "_", ".", ":" or "-", starting with a letter or digit),
 * a missing function or an invalid `defaultRetries`.
 * @example
 * export const order = defineWorkflow("order", async (ctx, input: { id: string; amount: number }) => {
 *   const reservation = await ctx.step("reserve", () => inventory.reserve(input.id));
 *   const charge = await ctx.step("charge", () => payments.charge(input.id, input.amount));
 *   return { reservation, charge };
 * }, { defaultRetries: { maxAttempts: 3, intervalMs: 1_000 } });
 */
export function defineWorkflow<I, O>(
  name: string,
  fn: WorkflowFunction<I, O>,
  options: WorkflowOptions = {},
): WorkflowDefinition<I, O> {
  if (typeof name !== "string" || !WORKFLOW_NAME_PATTERN.test(name)) {
    throw new ValidationError(
      `Invalid workflow name ${JSON.stringify(name)}: use 1-128 letters, digits, "_", ".", ":" or "-", starting with a letter or digit`,
    );
  }
  if (typeof fn !== "function") throw new ValidationError(`Workflow "${name}" needs a function`);
  validateRetryPolicy(options.defaultRetries, `workflow "${name}"`);
  return Object.freeze({ name, fn, options });
}

/** Workflows by name; refuses two definitions with one name. */
export class WorkflowRegistry {
  private readonly byName = new Map<string, WorkflowDefinition<any, any>>();

  constructor(workflows: Iterable<WorkflowDefinition<any, any>>) {
    for (const wf of workflows) {
      if (this.byName.has(wf.name)) throw new ValidationError(`Workflow "${wf.name}" is registered twice`);
      this.byName.set(wf.name, wf);
    }
  }

  get(name: string): WorkflowDefinition<any, any> | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }
}

