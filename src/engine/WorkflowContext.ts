import { AsyncLocalStorage } from "node:async_hooks";
import { WorkflowContextError } from "../errors.js";
import { validateRetryPolicy, type StepOptions } from "../workflow.js";

/** A durable operation as the workflow code called it. */
export type OperationCall =
  | { kind: "step"; functionId: number; name: string; body: () => Promise<unknown>; options: StepOptions }
  | { kind: "sleep"; functionId: number; name: "sleep"; durationMs: number };

/** Receives each durable operation in call order; returns the promise the workflow code awaits. */
export type OperationHandler = (call: OperationCall) => Promise<unknown>;

/** Marks code running inside a step body, where durable operations are not allowed. */
const insideStep = new AsyncLocalStorage<string>();

export function runInsideStep<T>(stepName: string, body: () => Promise<T>): Promise<T> {
  return insideStep.run(stepName, body);
}

const STEP_NAME_MAX = 256;

/** What a workflow function receives: its durable operations. */
export class WorkflowContext {
  private nextFunctionId = 1;

  constructor(
    readonly workflowId: string,
    readonly workflowName: string,
    private readonly handle: OperationHandler,
  ) {}

  /**
   * Run `fn` as a durable step: once its result is recorded, replays return the
   * recorded result without running it again. Failures are retried per `retries`
   * by re-enqueueing with a delay, never by sleeping in the Lambda.
   */
  step<T>(name: string, fn: () => T | Promise<T>, options: StepOptions = {}): Promise<T> {
    this.assertNotInsideStep("step");
    if (typeof name !== "string" || name.length === 0 || name.length > STEP_NAME_MAX) {
      throw new WorkflowContextError(`ctx.step needs a name of 1-${STEP_NAME_MAX} characters, got ${JSON.stringify(name)}`);
    }
    if (typeof fn !== "function") throw new WorkflowContextError(`ctx.step("${name}") needs a function`);
    validateRetryPolicy(options.retries, `step "${name}"`);
    const functionId = this.nextFunctionId++;
    return this.handle({ kind: "step", functionId, name, body: async () => fn(), options }) as Promise<T>;
  }

  /** Sleep durably: no Lambda waits; the workflow continues in a later invocation. */
  sleep(durationMs: number): Promise<void> {
    this.assertNotInsideStep("sleep");
    if (!Number.isFinite(durationMs) || durationMs < 0) {
      throw new WorkflowContextError(`ctx.sleep needs a duration in ms >= 0, got ${String(durationMs)}`);
    }
    const functionId = this.nextFunctionId++;
    return this.handle({ kind: "sleep", functionId, name: "sleep", durationMs }) as Promise<void>;
  }

  /** Number of durable operations the workflow code has called so far. */
  get operationsCalled(): number {
    return this.nextFunctionId - 1;
  }

  private assertNotInsideStep(op: string): void {
    const outer = insideStep.getStore();
    if (outer !== undefined) {
      throw new WorkflowContextError(
        `ctx.${op} was called inside the body of step "${outer}": durable operations belong in the workflow function, not in a step`,
      );
    }
  }
}
