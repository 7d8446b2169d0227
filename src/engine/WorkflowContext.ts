import { AsyncLocalStorage } from "node:async_hooks";
import { WorkflowContextError } from "../errors.js";
import { checkKey, checkTimeoutMs, checkWorkflowId } from "../limits.js";
import { validateRetryPolicy, type StepOptions, type WorkflowDefinition } from "../workflow.js";

/**
 * A durable operation as the workflow code called it. `name` is what the
 * non-determinism check compares (with the kind) and what listings show: the
 * step's name, the child workflow's name (start, invoke), the child's id
 * (getResult), the receiver's id (send), the topic (recv), the event key.
 */
export type OperationCall =
  | { kind: "step"; functionId: number; name: string; body: () => Promise<unknown>; options: StepOptions }
  | { kind: "sleep"; functionId: number; name: "sleep"; durationMs: number }
  | { kind: "start" | "invoke"; functionId: number; name: string; input: unknown; childWorkflowId?: string }
  | { kind: "getResult"; functionId: number; name: string }
  | { kind: "send"; functionId: number; name: string; message: unknown; topic?: string }
  | { kind: "recv"; functionId: number; name: string; topic?: string; timeoutMs?: number }
  | { kind: "setEvent"; functionId: number; name: string; value: unknown }
  | { kind: "getEvent"; functionId: number; name: string; targetWorkflowId: string; timeoutMs?: number };

/** The name a recv on the default topic is recorded under. */
export const DEFAULT_TOPIC_NAME = "(default topic)";

export interface StartChildOptions {
  /** @default `${parentWorkflowId}-${functionId}` (in a fork, an explicit id is prefixed with the fork's id: see the README) */
  workflowId?: string;
}

/** A child workflow as its parent sees it. */
export interface ChildWorkflowHandle<O> {
  readonly workflowId: string;
  /**
   * Durably wait for the child's end: its output, or its error rethrown (a
   * cancelled child: WorkflowCancelledError). The parent suspends; no Lambda waits.
   */
  getResult(): Promise<O>;
}

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
   *
   * @throws WorkflowContextError inside a step body, or without a name of 1-256 characters or a function.
   * @throws ValidationError for an invalid `retries` policy.
   * @throws The step's own error once its attempts are used up (the same error on every replay).
   * @throws StepAttemptsExhaustedError when its attempts were used up by workers dying mid-step.
   * @throws SerializationError or PayloadTooLargeError when its result cannot be recorded (not retried).
   * @example
   * const charge = await ctx.step("charge", () => payments.charge(input.id, input.amount), {
   *   retries: { maxAttempts: 5, intervalMs: 1_000, backoffRate: 2 },
   * });
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

  /**
   * Sleep durably: no Lambda waits; the workflow continues in a later invocation.
   *
   * @throws WorkflowContextError inside a step body, or for a duration that is not a finite number of ms >= 0.
   * @example
   * await ctx.sleep(24 * 60 * 60 * 1_000); // a day, for free
   */
  sleep(durationMs: number): Promise<void> {
    this.assertNotInsideStep("sleep");
    if (!Number.isFinite(durationMs) || durationMs < 0) {
      throw new WorkflowContextError(`ctx.sleep needs a duration in ms >= 0, got ${String(durationMs)}`);
    }
    const functionId = this.nextFunctionId++;
    return this.handle({ kind: "sleep", functionId, name: "sleep", durationMs }) as Promise<void>;
  }

  /**
   * Start a child workflow, durably: replays return the same child. Its id
   * defaults to `${parentId}-${functionId}`. Cancelling this workflow cancels the child.
   *
   * @throws WorkflowContextError inside a step body, or without a definition from defineWorkflow.
   * @throws ValidationError for an invalid `workflowId`.
   * @throws WorkflowConflictError when the child's id is taken by a workflow other than this parent's child of that name.
   * @throws UnknownWorkflowError when the worker does not register the child's workflow.
   * @throws PayloadTooLargeError or SerializationError when `input` cannot be recorded.
   * @example
   * const child = await ctx.startWorkflow(order, { id: "o-1", amount: 42 });
   * const shipped = await child.getResult(); // the child's error is rethrown here
   */
  startWorkflow<I, O>(workflow: WorkflowDefinition<I, O>, input: I, options: StartChildOptions = {}): Promise<ChildWorkflowHandle<O>> {
    const call = this.childCall("startWorkflow", workflow, input, options);
    return this.handle({ ...call, kind: "start" }).then((childId) => this.childHandle<O>(childId as string));
  }

  /**
   * Start a child workflow and wait for its result, as one durable operation.
   *
   * @throws The errors of startWorkflow, and the child's own error when it fails.
   * @throws WorkflowCancelledError when the child is cancelled.
   * @throws WorkflowRecoveryExceededError when the child exceeds its recovery attempts.
   * @example
   * const shipped = await ctx.invoke(order, { id: "o-2", amount: 7 }, { workflowId: `order-o-2-${ctx.workflowId}` });
   */
  invoke<I, O>(workflow: WorkflowDefinition<I, O>, input: I, options: StartChildOptions = {}): Promise<O> {
    const call = this.childCall("invoke", workflow, input, options);
    return this.handle({ ...call, kind: "invoke" }) as Promise<O>;
  }

  /**
   * Send a message to another workflow, exactly once; it waits in the receiver's mailbox until received.
   *
   * @throws WorkflowContextError inside a step body.
   * @throws ValidationError for an invalid workflowId or topic.
   * @throws WorkflowNotFoundError when the receiver does not exist (recorded: replays throw it again).
   * @throws PayloadTooLargeError or SerializationError when the message cannot be recorded.
   * @example
   * await ctx.send(`audit-${ctx.workflowId}`, { approvedBy: "alice" }, { topic: "audit" });
   */
  send(workflowId: string, message: unknown, options: { topic?: string } = {}): Promise<void> {
    this.assertNotInsideStep("send");
    checkWorkflowId(workflowId);
    if (options.topic !== undefined) checkKey(options.topic, "topic");
    const functionId = this.nextFunctionId++;
    return this.handle({ kind: "send", functionId, name: workflowId, message, ...topicOf(options) }) as Promise<void>;
  }

  /**
   * Receive the oldest message of a topic sent to this workflow, waiting durably
   * (no Lambda waits) up to `timeoutMs` for one: undefined when none came by then.
   * @default wait without limit
   * @throws WorkflowContextError inside a step body.
   * @throws ValidationError for an invalid topic or timeoutMs.
   * @example
   * const approval = await ctx.recv<{ by: string }>({ topic: "approval", timeoutMs: 86_400_000 });
   * if (!approval) throw new Error("not approved within a day");
   */
  recv<T = unknown>(options: { topic?: string; timeoutMs?: number } = {}): Promise<T | undefined> {
    this.assertNotInsideStep("recv");
    if (options.topic !== undefined) checkKey(options.topic, "topic");
    checkTimeoutMs(options.timeoutMs);
    const functionId = this.nextFunctionId++;
    const name = options.topic ?? DEFAULT_TOPIC_NAME;
    return this.handle({ kind: "recv", functionId, name, ...topicOf(options), ...timeoutOf(options) }) as Promise<T | undefined>;
  }

  /**
   * Set an event of this workflow, durably: getEvent returns the latest value set for `key`.
   *
   * @throws WorkflowContextError inside a step body.
   * @throws ValidationError for an invalid key.
   * @throws PayloadTooLargeError or SerializationError when the value cannot be recorded.
   * @example
   * await ctx.setEvent("stage", "awaiting approval"); // from outside: client.getEvent(workflowId, "stage")
   */
  setEvent(key: string, value: unknown): Promise<void> {
    this.assertNotInsideStep("setEvent");
    checkKey(key, "event key");
    const functionId = this.nextFunctionId++;
    return this.handle({ kind: "setEvent", functionId, name: key, value }) as Promise<void>;
  }

  /**
   * The value another workflow set for event `key`, waiting durably up to
   * `timeoutMs` for it to be set: undefined when it was not set by then.
   * @default wait without limit
   * @throws WorkflowContextError inside a step body.
   * @throws ValidationError for an invalid workflowId, key or timeoutMs.
   * @example
   * const ready = await ctx.getEvent<string>(otherId, "ready", { timeoutMs: 60_000 }); // undefined on timeout
   */
  getEvent<T = unknown>(workflowId: string, key: string, options: { timeoutMs?: number } = {}): Promise<T | undefined> {
    this.assertNotInsideStep("getEvent");
    checkWorkflowId(workflowId);
    checkKey(key, "event key");
    checkTimeoutMs(options.timeoutMs);
    const functionId = this.nextFunctionId++;
    return this.handle({ kind: "getEvent", functionId, name: key, targetWorkflowId: workflowId, ...timeoutOf(options) }) as Promise<T | undefined>;
  }

  private childCall(op: string, workflow: WorkflowDefinition<any, any>, input: unknown, options: StartChildOptions) {
    this.assertNotInsideStep(op);
    if (typeof workflow?.name !== "string" || typeof workflow.fn !== "function") {
      throw new WorkflowContextError(`ctx.${op} needs a workflow definition (from defineWorkflow), got ${typeof workflow}`);
    }
    if (options.workflowId !== undefined) checkWorkflowId(options.workflowId);
    const functionId = this.nextFunctionId++;
    return { functionId, name: workflow.name, input, ...(options.workflowId !== undefined ? { childWorkflowId: options.workflowId } : {}) };
  }

  private childHandle<O>(childId: string): ChildWorkflowHandle<O> {
    return {
      workflowId: childId,
      getResult: () => {
        this.assertNotInsideStep("getResult");
        const functionId = this.nextFunctionId++;
        return this.handle({ kind: "getResult", functionId, name: childId }) as Promise<O>;
      },
    };
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

const topicOf = (o: { topic?: string }) => (o.topic !== undefined ? { topic: o.topic } : {});
const timeoutOf = (o: { timeoutMs?: number }) => (o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {});
