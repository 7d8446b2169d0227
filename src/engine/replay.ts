import { StepStatus } from "../constants.js";
import { NonDeterminismError } from "../errors.js";
import { deserialize, fromRecordedError } from "../serialization.js";
import type { StepRecord } from "../types.js";
import type { WorkflowDefinition } from "../workflow.js";
import { WorkflowContext, type OperationCall } from "./WorkflowContext.js";

/**
 * One invocation of a workflow: replay the recorded operations below `target`,
 * execute operation `target` (through the executor), let the workflow code run on
 * until it calls its next durable operation or settles, and report what to
 * record. The engine touches no storage; the worker turns its answer into writes.
 *
 * Operations past the target get a promise that never settles, so suspension
 * cannot be caught by user code.
 */

export type OperationOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface ExecutedOperation {
  call: OperationCall;
  outcome: OperationOutcome;
  /** The attempt that produced the outcome. */
  attempt: number;
  startedAt: number;
  /** For a sleep: when it ends. */
  wakeAt?: number;
}

export type NextAction =
  | { type: "continue"; functionId: number; notBefore?: number; op?: { kind: OperationCall["kind"]; name: string } }
  | { type: "complete"; output: unknown }
  | { type: "fail"; error: unknown };

export type InvocationResult =
  /** Operation `target` ran; record it together with `next`. */
  | { type: "advanced"; executed: ExecutedOperation; next: NextAction }
  /** The workflow settled without calling operation `target`. */
  | { type: "finished"; next: Extract<NextAction, { type: "complete" | "fail" }> }
  /** The executor declined to run the target (claim lost, retry scheduled): nothing to record. */
  | { type: "suspended" }
  /** A recorded sleep below the target has not ended yet. */
  | { type: "waiting"; until: number }
  | { type: "nondeterministic"; error: NonDeterminismError };

export type StepExecution =
  | { type: "done"; outcome: OperationOutcome; attempt: number; startedAt: number }
  | { type: "suspend" };

export interface InvocationArgs {
  definition: WorkflowDefinition<any, any>;
  workflowId: string;
  input: unknown;
  steps: readonly StepRecord[];
  target: number;
  /** Runs the body of step `target` (claiming it first); may decline with "suspend". */
  executeStep: (call: Extract<OperationCall, { kind: "step" }>) => Promise<StepExecution>;
  /** Give up on workflow code that neither calls an operation nor settles by then. */
  stallTimeoutMs: number;
  now?: () => number;
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

export function runInvocation(args: InvocationArgs): Promise<InvocationResult> {
  const { definition, workflowId, target, now = Date.now } = args;
  const recorded = new Map(args.steps.map((s) => [s.functionId, s]));
  const maxRecorded = args.steps.reduce((max, s) => Math.max(max, s.functionId), 0);

  return new Promise<InvocationResult>((resolve, reject) => {
    let done = false;
    let executed: ExecutedOperation | undefined;
    let executing = false;
    let nextCalled: OperationCall | undefined;
    let settled: Extract<NextAction, { type: "complete" | "fail" }> | undefined;

    // The stall timer measures workflow code only: it is paused while a step body runs.
    let stallTimer: NodeJS.Timeout | undefined;
    const disarmStall = (): void => clearTimeout(stallTimer);
    const armStall = (): void => {
      disarmStall();
      // Not unref'd: when nothing else keeps the event loop alive, this timer is what ends a stalled invocation.
      stallTimer = setTimeout(onStall, args.stallTimeoutMs);
    };
    const finish = (result: InvocationResult): void => {
      if (done) return;
      done = true;
      disarmStall();
      resolve(result);
    };
    const fail = (err: unknown): void => {
      if (done) return;
      done = true;
      disarmStall();
      reject(err);
    };
    const nonDeterministic = (stepIndex: number, message: string): void =>
      finish({ type: "nondeterministic", error: new NonDeterminismError(workflowId, stepIndex, message) });

    /** Called whenever the invocation may have reached its end. */
    const checkBoundary = (): void => {
      if (done || executing) return;
      if (executed === undefined) {
        if (settled === undefined) return;
        if (ctx.operationsCalled < maxRecorded) {
          nonDeterministic(
            ctx.operationsCalled + 1,
            `Workflow "${definition.name}" (${workflowId}) ${settled.type === "complete" ? "returned" : "threw"} after ${ctx.operationsCalled} durable operations, but ${maxRecorded} are recorded: the workflow code changed`,
          );
          return;
        }
        finish({ type: "finished", next: settled });
        return;
      }
      if (nextCalled !== undefined) {
        const op = { kind: nextCalled.kind, name: nextCalled.name };
        finish({ type: "advanced", executed, next: { type: "continue", functionId: nextCalled.functionId, op } });
      }
      else if (settled !== undefined) finish({ type: "advanced", executed, next: settled });
    };

    const replay = (call: OperationCall): Promise<unknown> => {
      const rec = recorded.get(call.functionId);
      if (rec === undefined) {
        fail(new Error(`Internal: step ${call.functionId} of workflow ${workflowId} is below the target ${target} but not recorded`));
        return never();
      }
      if (rec.name !== call.name || rec.kind !== call.kind) {
        nonDeterministic(
          call.functionId,
          `Non-determinism in workflow "${definition.name}" (${workflowId}) at step ${call.functionId}: the recorded ${rec.kind} is "${rec.name}" but the code now calls ${call.kind} "${call.name}"`,
        );
        return never();
      }
      if (rec.kind === "sleep") {
        if (rec.wakeAt !== undefined && rec.wakeAt > now()) {
          finish({ type: "waiting", until: rec.wakeAt });
          return never();
        }
        return Promise.resolve(undefined);
      }
      if (rec.status === StepStatus.SUCCESS) return Promise.resolve(deserialize(rec.output));
      return Promise.reject(fromRecordedError(rec.error ?? { name: "Error", message: "step failed" }));
    };

    const execute = async (call: OperationCall): Promise<unknown> => {
      if (call.kind === "sleep") {
        const startedAt = now();
        const wakeAt = startedAt + call.durationMs;
        executed = { call, outcome: { ok: true, value: undefined }, attempt: 1, startedAt, wakeAt };
        if (call.durationMs > 0) {
          finish({ type: "advanced", executed, next: { type: "continue", functionId: target + 1, notBefore: wakeAt } });
          return never();
        }
        return undefined;
      }
      executing = true;
      disarmStall();
      let execution: StepExecution;
      try {
        execution = await args.executeStep(call);
      } catch (err) {
        fail(err);
        return never();
      }
      executing = false;
      armStall();
      if (execution.type === "suspend") {
        finish({ type: "suspended" });
        return never();
      }
      executed = { call, outcome: execution.outcome, attempt: execution.attempt, startedAt: execution.startedAt };
      // Let the workflow code see the outcome, then look where it went.
      setImmediate(checkBoundary);
      if (execution.outcome.ok) return execution.outcome.value;
      throw execution.outcome.error;
    };

    const handle = (call: OperationCall): Promise<unknown> => {
      if (done) return never();
      if (call.functionId < target) return replay(call);
      if (call.functionId === target) return execute(call);
      nextCalled ??= call;
      checkBoundary();
      return never();
    };

    const ctx = new WorkflowContext(workflowId, definition.name, handle);
    function onStall(): void {
      const where = executed ? `after step ${target}` : `before reaching step ${target}`;
      const error = new Error(
        `Workflow "${definition.name}" (${workflowId}) neither called a durable operation nor returned within ${args.stallTimeoutMs} ms ${where}: it awaits something that is not a step`,
      );
      error.name = "WorkflowStalledError";
      if (executed) finish({ type: "advanced", executed, next: { type: "fail", error } });
      else finish({ type: "finished", next: { type: "fail", error } });
    }
    armStall();

    Promise.resolve()
      .then(() => definition.fn(ctx, args.input))
      .then(
        (output) => {
          settled = { type: "complete", output };
          setImmediate(checkBoundary);
        },
        (error: unknown) => {
          settled = { type: "fail", error };
          setImmediate(checkBoundary);
        },
      );
  });
}
