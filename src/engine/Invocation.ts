import { setImmediate as quiesce } from "node:timers/promises";
import { StepStatus } from "../constants.js";
import { NonDeterminismError } from "../errors.js";
import { deserialize, fromRecordedError } from "../serialization.js";
import type { StepRecord } from "../types.js";
import { DurableTimers } from "./DurableTimers.js";
import type { ExecutedOperation, InvocationArgs, InvocationResult, NextAction, OperationOutcome, Settlement } from "./types.js";
import { WorkflowContext, type OperationCall } from "./WorkflowContext.js";

/** Timers and retries due within this long are waited for in-process instead of by a delayed message (SQS delays are whole seconds). */
export const IN_PROCESS_WAIT_MS = 1_000;

/**
 * Whether an invocation may wait in-process until `at`: it is due within a
 * second and leaves at least another second before the deadline for what
 * follows the wait (a step body, writes), so the claim's lease is not outrun.
 */
export function canWaitInProcess(at: number, now: number, deadline: number | undefined): boolean {
  return at - now <= IN_PROCESS_WAIT_MS && (deadline === undefined || at + IN_PROCESS_WAIT_MS <= deadline);
}

/** An operation the code called at or below the target, waiting for its outcome. */
interface PendingCall {
  call: OperationCall;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** Lets the driver sleep until the workflow code calls an operation or settles. */
class CodeActivity {
  private waiter: (() => void) | undefined;

  notify(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** True when the code did something within `ms`, false when the time ran out first. */
  wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      // Not unref'd: when nothing else keeps the event loop alive, this timer is what ends a stalled invocation.
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(false);
      }, Math.max(0, ms));
      this.waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

/**
 * One invocation of a workflow: replay the recorded operations below `target`,
 * run operation `target` (through the executor), let the code run on until it
 * calls its next durable operation or settles, and say what to record. It
 * touches no storage; the worker turns its answer into writes.
 *
 * The driver hands the code one outcome at a time, in functionId order, and
 * lets the code run until it blocks before the next (as the first run saw them,
 * each in its own invocation), so `Promise.race` and `Promise.all` take the same
 * path on every run. The first run gets its outcome in recorded form too (see
 * OperationOutcome). Operations past the target get a promise that never
 * settles, so suspension cannot be caught by user code.
 */
export class Invocation {
  /** The recorded operations by functionId. */
  private readonly recorded: ReadonlyMap<number, StepRecord>;
  private readonly maxRecorded: number;
  /** Operations at or below the target that the code called and that have no outcome yet. */
  private readonly calls = new Map<number, PendingCall>();
  private readonly timers = new DurableTimers();
  private readonly activity = new CodeActivity();
  private readonly ctx: WorkflowContext;
  private readonly now: () => number;
  /** How the workflow function ended, once it has. */
  private settlement: Settlement | undefined;
  /** The first operation past the target that the code called: the next message's step. */
  private nextCall: OperationCall | undefined;
  /** Set once the answer is known: the code's later calls are left pending. */
  private done = false;

  constructor(private readonly args: InvocationArgs) {
    this.recorded = new Map(args.steps.map((s) => [s.functionId, s]));
    this.maxRecorded = args.steps.reduce((max, s) => Math.max(max, s.functionId), 0);
    this.now = args.now ?? Date.now;
    this.ctx = new WorkflowContext(args.workflowId, args.definition.name, this.onCall);
  }

  async run(): Promise<InvocationResult> {
    Promise.resolve()
      .then(() => this.args.definition.fn(this.ctx, this.args.input))
      .then(
        (output) => this.settle({ type: "complete", output }),
        (error: unknown) => this.settle({ type: "fail", error }),
      );
    try {
      for (let functionId = 1; functionId < this.args.target; functionId++) {
        const stop = await this.replay(functionId);
        if (stop) return stop;
      }
      return await this.runTarget();
    } finally {
      this.done = true;
    }
  }

  /** The workflow context's handler: every durable operation the code calls comes here. */
  private readonly onCall = (call: OperationCall): Promise<unknown> => {
    if (this.done) return never();
    if (call.functionId > this.args.target) {
      this.nextCall ??= call;
      this.activity.notify();
      return never();
    }
    return new Promise((resolve, reject) => {
      this.calls.set(call.functionId, { call, resolve, reject });
      this.activity.notify();
    });
  };

  private settle(settlement: Settlement): void {
    this.settlement = settlement;
    this.activity.notify();
  }

  /** Hand the code the recorded outcome of one operation below the target. */
  private async replay(functionId: number): Promise<InvocationResult | undefined> {
    const record = this.recorded.get(functionId);
    if (record === undefined) {
      throw new Error(`Internal: step ${functionId} of workflow ${this.args.workflowId} is below the target ${this.args.target} but not recorded`);
    }
    await this.fireDue(record.startedAt);
    const pending = await this.awaitCall(functionId);
    if (pending === "settled") return this.settledBeforeTarget();
    if (pending === "stalled") return this.stalled(false);
    const { call } = pending;
    if (call.name !== record.name || call.kind !== record.kind) {
      return this.nonDeterministic(
        functionId,
        `Non-determinism in workflow "${this.args.definition.name}" (${this.args.workflowId}) at step ${functionId}: the recorded ${record.kind} is "${record.name}" but the code now calls ${call.kind} "${call.name}"`,
      );
    }
    if (record.kind === "sleep") this.startTimer(pending, record.wakeAt ?? record.startedAt);
    else if (record.status === StepStatus.SUCCESS) this.deliver(pending, { ok: true, output: record.output });
    else this.deliver(pending, { ok: false, error: record.error ?? { name: "Error", message: "step failed" } });
    return undefined;
  }

  /** Run the target operation, then find where the code goes next. */
  private async runTarget(): Promise<InvocationResult> {
    let decidedAt = this.now();
    await this.fireDue(decidedAt);
    let pending: PendingCall | undefined;
    while (!(pending = this.calls.get(this.args.target))) {
      if (this.settlement) return this.settledBeforeTarget();
      const wakeAt = this.timers.nextWake();
      if (wakeAt === undefined) {
        if (!(await this.activity.wait(this.args.stallTimeoutMs))) return this.stalled(false);
      } else if (!canWaitInProcess(wakeAt, this.now(), this.args.deadline)) {
        return { type: "waiting", until: wakeAt };
      } else if (!(await this.activity.wait(wakeAt - this.now()))) {
        // Waited until the timer's wake time (by a timer that may fire a hair early).
        decidedAt = Math.max(this.now(), wakeAt);
        await this.fireDue(decidedAt);
      }
    }
    const { call } = pending;
    const expected = this.args.expected;
    if (expected && (expected.kind !== call.kind || expected.name !== call.name)) {
      return this.nonDeterministic(
        call.functionId,
        `Non-determinism in workflow "${this.args.definition.name}" (${this.args.workflowId}) at step ${call.functionId}: an earlier run called ${expected.kind} "${expected.name}" there but the code now calls ${call.kind} "${call.name}"`,
      );
    }
    if (call.kind === "sleep") {
      const wakeAt = decidedAt + call.durationMs;
      this.startTimer(pending, wakeAt);
      return this.findNext({ call, outcome: { ok: true, output: undefined }, attempt: 1, startedAt: decidedAt, wakeAt });
    }
    const execution = await this.args.execute(call);
    if (execution.type === "suspend") return { type: "suspended" };
    if (execution.type === "blocked") return execution;
    const { outcome, attempt, effects, details } = execution;
    this.deliver(pending, outcome);
    return this.findNext({ call, outcome, attempt, startedAt: decidedAt, ...(effects ? { effects } : {}), ...(details ? { details } : {}) });
  }

  /** After the target: the next operation the code calls, or how it settles, or the timer it waits for. */
  private async findNext(executed: ExecutedOperation): Promise<InvocationResult> {
    const advanced = (next: NextAction): InvocationResult => ({ type: "advanced", executed, next });
    for (;;) {
      await quiesce();
      if (this.nextCall) {
        const { functionId, kind, name } = this.nextCall;
        return advanced({ type: "continue", functionId, op: { kind, name } });
      }
      if (this.settlement) return advanced(this.settlement);
      const wakeAt = this.timers.nextWake();
      if (wakeAt === undefined) {
        if (!(await this.activity.wait(this.args.stallTimeoutMs))) return advanced({ type: "fail", error: this.stallError(true) });
      } else if (wakeAt <= this.now()) {
        await this.fireDue(this.now());
      } else if (!canWaitInProcess(wakeAt, this.now(), this.args.deadline)) {
        return advanced({ type: "continue", functionId: this.args.target + 1, notBefore: wakeAt });
      } else if (!(await this.activity.wait(wakeAt - this.now()))) {
        await this.fireDue(Math.max(this.now(), wakeAt));
      }
    }
  }

  /** Fire the timers due at `at`, each once the code has run as far as it can. */
  private async fireDue(at: number): Promise<void> {
    await quiesce();
    for (const timer of this.timers.takeDue(at)) {
      timer.fire();
      await quiesce();
    }
  }

  /**
   * The pending call of recorded operation `functionId` once the code makes it,
   * unless it settles or stalls first. The record proves the code got past any
   * timer it waits for here, so a blocked code gets its next timer fired (only a
   * history written with other clocks can need this).
   */
  private async awaitCall(functionId: number): Promise<PendingCall | "settled" | "stalled"> {
    for (;;) {
      const pending = this.calls.get(functionId);
      if (pending) return pending;
      if (this.settlement) return "settled";
      const timer = this.timers.takeNext();
      if (timer) {
        timer.fire();
        await quiesce();
      } else if (!(await this.activity.wait(this.args.stallTimeoutMs))) {
        return "stalled";
      }
    }
  }

  private startTimer(pending: PendingCall, wakeAt: number): void {
    this.calls.delete(pending.call.functionId);
    this.timers.start({ functionId: pending.call.functionId, wakeAt, fire: () => pending.resolve(undefined) });
  }

  /** Settle an operation's promise with its outcome decoded, exactly as every replay will. */
  private deliver(pending: PendingCall, outcome: OperationOutcome): void {
    this.calls.delete(pending.call.functionId);
    if (outcome.ok) pending.resolve(deserialize(outcome.output));
    else pending.reject(fromRecordedError(outcome.error));
  }


  /** The code settled before calling the target: the end of the workflow, unless the history says otherwise. */
  private settledBeforeTarget(): InvocationResult {
    const settlement = this.settlement!;
    const verb = settlement.type === "complete" ? "returned" : "threw";
    const called = this.ctx.operationsCalled;
    const { name } = this.args.definition;
    const { workflowId, expected, target } = this.args;
    if (called < this.maxRecorded) {
      return this.nonDeterministic(
        called + 1,
        `Workflow "${name}" (${workflowId}) ${verb} after ${called} durable operations, but ${this.maxRecorded} are recorded: the workflow code changed`,
      );
    }
    if (expected) {
      return this.nonDeterministic(
        target,
        `Workflow "${name}" (${workflowId}) ${verb} where an earlier run called ${expected.kind} "${expected.name}" as step ${target}: the workflow code changed`,
      );
    }
    return { type: "finished", next: settlement };
  }

  private nonDeterministic(functionId: number, message: string): InvocationResult {
    return { type: "nondeterministic", error: new NonDeterminismError(this.args.workflowId, functionId, message) };
  }

  private stalled(afterTarget: boolean): InvocationResult {
    return { type: "finished", next: { type: "fail", error: this.stallError(afterTarget) } };
  }

  private stallError(afterTarget: boolean): Error {
    const { definition, workflowId, target, stallTimeoutMs } = this.args;
    const where = afterTarget ? `after step ${target}` : `before reaching step ${target}`;
    const error = new Error(
      `Workflow "${definition.name}" (${workflowId}) neither called a durable operation nor returned within ${stallTimeoutMs} ms ${where}: it awaits something that is not a step`,
    );
    error.name = "WorkflowStalledError";
    return error;
  }
}
