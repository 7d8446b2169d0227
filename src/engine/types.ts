import type { NonDeterminismError } from "../errors.js";
import type { RecordedError } from "../serialization.js";
import type { RecordEffects, StepDetails, StepKind, StepRecord } from "../types.js";
import type { WorkflowDefinition } from "../workflow.js";
import type { OperationCall } from "./WorkflowContext.js";

/**
 * A step's outcome in its recorded form: the serialized output or the recorded
 * error. The engine hands the workflow code the decoded form of exactly this, on
 * the first run as on every replay, so both see the same values and errors.
 */
export type OperationOutcome = { ok: true; output: string | undefined } | { ok: false; error: RecordedError };

export type StepCall = Extract<OperationCall, { kind: "step" }>;
/** The operations an executor runs (a sleep needs none: its timer is the engine's). */
export type ExecutableCall = Exclude<OperationCall, { kind: "sleep" }>;

/** The operation an invocation ran, as it is to be recorded. */
export interface ExecutedOperation {
  call: OperationCall;
  outcome: OperationOutcome;
  /** The attempt that produced the outcome (claims are counted, crashed ones included). */
  attempt: number;
  /**
   * When the invocation decided to run the operation. Timers due by then fired
   * before it; replays fire them at the same place (see DurableTimers).
   */
  startedAt: number;
  /** For a sleep: when its timer fires. */
  wakeAt?: number;
  /** Writes that must land atomically with the record (a message consumed or sent, an event set). */
  effects?: RecordEffects;
  /** What the record says beyond the outcome (the child's id, the topic, a timeout). */
  details?: StepDetails;
}

export type Settlement = { type: "complete"; output: unknown } | { type: "fail"; error: unknown };

export type NextAction =
  | { type: "continue"; functionId: number; notBefore?: number; op?: { kind: StepKind; name: string } }
  | Settlement;

export type InvocationResult =
  /** Operation `target` ran; record it together with `next`. */
  | { type: "advanced"; executed: ExecutedOperation; next: NextAction }
  /** The workflow settled without calling operation `target`. */
  | { type: "finished"; next: Settlement }
  /** The executor declined to run the target (claim lost, retry scheduled): nothing to record. */
  | { type: "suspended" }
  /**
   * Operation `target` waits for something outside the workflow (a child's end, a
   * message, an event): a wake-up message comes when it happens, or at `until`
   * (a timeout). Nothing to record.
   */
  | { type: "blocked"; until?: number }
  /** The code waits for a timer that fires at `until` before it calls operation `target`. */
  | { type: "waiting"; until: number }
  | { type: "nondeterministic"; error: NonDeterminismError };

export type StepExecution =
  | { type: "done"; outcome: OperationOutcome; attempt: number; effects?: RecordEffects; details?: StepDetails }
  | { type: "suspend" }
  | { type: "blocked"; until?: number };

export interface InvocationArgs {
  definition: WorkflowDefinition<any, any>;
  workflowId: string;
  input: unknown;
  steps: readonly StepRecord[];
  target: number;
  /** The operation the message for `target` names, when its sender saw the code call it. */
  expected?: { kind: StepKind; name: string };
  /** Runs operation `target` (a step's body, claiming it first; a child start; a wait...); may decline with "suspend" or "blocked". */
  execute: (call: ExecutableCall) => Promise<StepExecution>;
  /** Give up on workflow code that neither calls an operation nor settles within this long. */
  stallTimeoutMs: number;
  /** Epoch ms: timers due before it may be waited for in-process instead of by a delayed message. */
  deadline?: number;
  now?: () => number;
}
