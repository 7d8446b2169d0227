import { FINISHED_STATUSES, StepStatus, WorkflowStatus } from "../constants.js";
import { UnknownWorkflowError } from "../errors.js";
import { runInvocation, type ExecutedOperation, type NextAction, type StepExecution } from "../engine/replay.js";
import { decodeMessage } from "../queue/messages.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import { deserialize, serialize, toRecordedError } from "../serialization.js";
import type { Completion, WorkflowStore } from "../store/WorkflowStore.js";
import type { RunningClaim, StepRecord, WorkflowRecord, WorkflowState, WorkMessage } from "../types.js";
import type { WorkflowRegistry } from "../workflow.js";
import { startHeartbeat } from "./heartbeat.js";
import { isPermanent, retryDelayMs, retryPolicyFor, runStepBody, type StepCall } from "./stepBody.js";

export interface WorkerDeps {
  store: WorkflowStore;
  queue: WorkQueue;
  registry: WorkflowRegistry;
  /** The queue's visibility timeout: steps running longer keep their message invisible. */
  visibilityTimeoutSeconds?: number;
  now?: () => number;
}

/** One SQS delivery, as Lambda's event record carries it. */
export interface Delivery {
  messageId: string;
  receiptHandle: string;
  body: string;
}

/** What became of a message (for logs and tests). */
export type ProcessOutcome =
  | "advanced" // a step (or sleep) was recorded and the workflow moved on or finished
  | "finished" // the workflow ended without a new step
  | "retryScheduled" // the step failed and will run again later
  | "recordedAfterCancel" // the step finished after a cancel: recorded, workflow untouched
  | "deferred" // too early (sleep, backoff, an older claim still running): sent again with a delay
  | "duplicate" // the step is already recorded; the continuation was made sure of
  | "busy" // another delivery of the same step holds the claim
  | "stale" // an older generation, or a step out of order
  | "inactive"; // the workflow is cancelled or finished

/** How early a delayed message may surface and still count as due. */
const EARLY_TOLERANCE_MS = 250;
/** How long a newer generation waits before looking again at an older claim. */
const CLAIM_WAIT_MS = 5_000;
const MAX_RACES = 3;

/**
 * The worker's algorithm for one message (DESIGN.md, "One step per invocation").
 * Any exception leaves the message to SQS, which delivers it again; every write
 * is conditional, so the redelivery finishes the job without doing it twice.
 */
export async function processMessage(deps: WorkerDeps, delivery: Delivery, deadline: number): Promise<ProcessOutcome> {
  const now = deps.now ?? Date.now;
  const message = decodeMessage(delivery.body);
  if (message.notBefore !== undefined && message.notBefore > now() + EARLY_TOLERANCE_MS) {
    await deps.queue.send([message]);
    return "deferred";
  }
  // When the message names the step it is for, claim it while reading: one round
  // trip instead of two. The claim's own condition re-checks cancel and generation.
  let eager: WorkflowRecord | undefined;
  let state: WorkflowState | undefined;
  if (message.op?.kind === "step") {
    const t = now();
    const claim = claimFor(delivery, deadline, message.step, message.op.name, message.generation, t);
    [eager, state] = await Promise.all([
      deps.store.claimStepEagerly({ workflowId: message.workflowId, generation: message.generation, claim, now: t }),
      deps.store.loadState(message.workflowId),
    ]);
  }
  for (let race = 0; ; race++) {
    state ??= await deps.store.loadState(message.workflowId);
    if (!state) throw new Error(`Workflow "${message.workflowId}" has no record (message for step ${message.step})`);
    const outcome = await advance(deps, delivery, message, state, deadline, now, eager);
    if (outcome !== "raced") return outcome;
    eager = undefined;
    state = undefined;
    // The workflow changed between our read and our write: read again and decide anew.
    if (race + 1 >= MAX_RACES) throw new Error(`Workflow "${message.workflowId}" kept changing under step ${message.step}; retrying later`);
  }
}

/**
 * Decide and do what the message asks, from the state read. `eager` is the
 * workflow as our early claim left it: every way out that does not record the
 * step gives that claim back, so no live claim outlives this call.
 */
async function advance(
  deps: WorkerDeps,
  delivery: Delivery,
  message: WorkMessage,
  state: WorkflowState,
  deadline: number,
  now: () => number,
  eager: WorkflowRecord | undefined,
): Promise<ProcessOutcome | "raced"> {
  const wf = state.workflow;
  const release = async (retry?: { step: number; at: number }): Promise<void> => {
    if (eager) await deps.store.releaseClaim({ workflowId: wf.workflowId, token: delivery.messageId, now: now(), ...(retry ? { retry } : {}) });
  };
  const giveBack = async <T>(outcome: T): Promise<T> => {
    await release();
    return outcome;
  };
  if (wf.generation !== message.generation) return giveBack("stale");
  if (FINISHED_STATUSES.includes(wf.status) || wf.cancelRequested) return giveBack("inactive");

  const lastRecorded = state.steps.reduce((max, s) => Math.max(max, s.functionId), 0);
  if (message.step <= lastRecorded) {
    // An early claim on a recorded step is dead already (see liveClaim).
    await ensureContinuation(deps, wf, state.steps, message, lastRecorded, now());
    return "duplicate";
  }
  if (message.step !== lastRecorded + 1) return giveBack("stale");

  const definition = deps.registry.get(wf.name);
  if (!definition) {
    await release();
    throw new UnknownWorkflowError(wf.name, deps.registry.names());
  }

  const t = now();
  if (wf.retryStep === message.step && wf.retryAt !== undefined && wf.retryAt > t + EARLY_TOLERANCE_MS) {
    await release({ step: message.step, at: wf.retryAt });
    await deps.queue.send([{ ...message, notBefore: wf.retryAt }]);
    return "deferred";
  }
  const claim = eager ? undefined : liveClaim(wf, state.steps, t);
  if (claim && claim.token === delivery.messageId) {
    // Never our own claim (this call does not read back a claim it made): another delivery of
    // this same SQS message is running the step now (SQS can deliver a message twice at once).
    // Running it again would run the body twice; acknowledging would delete the message the
    // holder still depends on. Fail this delivery: SQS brings it back after the holder is done.
    throw new Error(`Step ${claim.step} of workflow "${wf.workflowId}" is running under another delivery of message ${delivery.messageId}; retrying later`);
  }
  if (claim) {
    if (claim.generation === wf.generation) return "busy";
    await deps.queue.send([{ ...message, notBefore: t + Math.min(CLAIM_WAIT_MS, claim.until - t) }]);
    return "deferred";
  }

  let retried = false;
  let claimedVersion = eager?.version ?? wf.version;
  let serializedOutput: string | undefined;
  const executeStep = async (call: StepCall): Promise<StepExecution> => {
    let claimed = eager;
    if (!claimed) {
      const at = now();
      claimed = await deps.store.claimStep(wf, claimFor(delivery, deadline, call.functionId, call.name, wf.generation, at), at);
      if (!claimed) return { type: "suspend" };
    }
    claimedVersion = claimed.version;
    const attempt = claimed.running?.attempt ?? 1;
    const startedAt = now();
    const heartbeat = startHeartbeat(deps.queue, delivery.receiptHandle, deps.visibilityTimeoutSeconds);
    let result: Awaited<ReturnType<typeof runStepBody>>;
    try {
      result = await runStepBody(call);
    } finally {
      heartbeat.stop();
    }
    const policy = retryPolicyFor(definition, call);
    if (!result.outcome.ok && attempt < policy.maxAttempts && !isPermanent(result.outcome.error)) {
      const at = now() + retryDelayMs(policy, attempt);
      // Send even if the release reports no claim (its first try may have landed with the
      // answer lost): a duplicate retry message is harmless, a missing one strands the workflow.
      await deps.store.releaseClaim({ workflowId: wf.workflowId, token: delivery.messageId, retry: { step: call.functionId, at }, now: now() });
      await deps.queue.send([{ ...message, notBefore: at }]);
      retried = true;
      return { type: "suspend" };
    }
    serializedOutput = result.serialized;
    return { type: "done", outcome: result.outcome, attempt, startedAt };
  };

  const result = await runInvocation({
    definition,
    workflowId: wf.workflowId,
    input: deserialize(wf.input),
    steps: state.steps,
    target: message.step,
    executeStep,
    stallTimeoutMs: Math.max(1_000, deadline - now()),
    now,
  });

  switch (result.type) {
    case "suspended":
      return retried ? "retryScheduled" : "raced";
    case "waiting":
      await release();
      await deps.queue.send([{ ...message, notBefore: result.until }]);
      return "deferred";
    case "nondeterministic":
    case "finished": {
      // Finishing drops any claim, ours included; if the workflow changed, give ours back.
      const completion =
        result.type === "finished" ? toCompletion(result.next, wf) : { status: WorkflowStatus.ERROR, error: toRecordedError(result.error) };
      const done = await deps.store.completeWorkflow({ workflowId: wf.workflowId, expectedVersion: claimedVersion, completion, now: now() });
      return done ? "finished" : giveBack("raced");
    }
    case "advanced":
      // A sleep recorded on an early claim leaves that claim on a recorded step: dead.
      return record(deps, delivery, wf, result.executed, result.next, serializedOutput, claimedVersion, now);
  }
}

async function record(
  deps: WorkerDeps,
  delivery: Delivery,
  wf: WorkflowRecord,
  executed: ExecutedOperation,
  next: NextAction,
  serializedOutput: string | undefined,
  expectedVersion: number,
  now: () => number,
): Promise<ProcessOutcome | "raced"> {
  const step = toStepRecord(wf.workflowId, executed, serializedOutput, now());
  const completion = next.type === "continue" ? undefined : toCompletion(next, wf);
  const result = await deps.store.recordStep({
    workflowId: wf.workflowId,
    expectedVersion,
    step,
    completion,
    markPending: executed.call.kind === "sleep" && wf.status === WorkflowStatus.ENQUEUED,
    now: now(),
  });
  if (result === "workflowChanged") {
    if (executed.call.kind === "sleep") return "raced";
    // Cancelled (or resumed) while the step ran: keep its result, leave the workflow be.
    await deps.store.putStepIfAbsent(step);
    await deps.store.releaseClaim({ workflowId: wf.workflowId, token: delivery.messageId, now: now() });
    return "recordedAfterCancel";
  }
  if (result === "stepExists") {
    // Recorded by a rival delivery, or by our own put whose answer was lost and retried:
    // either way the next message must exist, and a duplicate of it is harmless.
    await deps.store.releaseClaim({ workflowId: wf.workflowId, token: delivery.messageId, now: now() });
  }
  if (next.type === "continue") {
    await deps.queue.send([
      {
        workflowId: wf.workflowId,
        step: next.functionId,
        generation: wf.generation,
        ...(next.notBefore !== undefined ? { notBefore: next.notBefore } : {}),
        ...(next.op ? { op: next.op } : {}),
      },
    ]);
  }
  return result === "stepExists" ? "duplicate" : "advanced";
}

/** This delivery's claim on a step: held until the invocation's deadline (the store counts the attempt). */
function claimFor(delivery: Delivery, deadline: number, step: number, name: string, generation: number, at: number): RunningClaim {
  return { step, name, token: delivery.messageId, until: deadline, startedAt: at, attempt: 0, generation };
}

/** The claim on the workflow if a worker may still be running its step (not yet recorded, lease not over). */
export function liveClaim(wf: WorkflowRecord, steps: readonly StepRecord[], now: number): RunningClaim | undefined {
  const claim = wf.running;
  if (!claim || claim.until <= now) return undefined;
  return steps.some((s) => s.functionId === claim.step) ? undefined : claim;
}

/**
 * A redelivered message for a recorded step: the first delivery may have died
 * between recording and sending, so send the next message again (duplicates are
 * harmless, a lost one would strand the workflow).
 */
async function ensureContinuation(
  deps: WorkerDeps,
  wf: WorkflowRecord,
  steps: readonly StepRecord[],
  message: WorkMessage,
  lastRecorded: number,
  now: number,
): Promise<void> {
  if (message.step !== lastRecorded || liveClaim(wf, steps, now)) return;
  const last = steps.find((s) => s.functionId === lastRecorded);
  await deps.queue.send([
    {
      workflowId: wf.workflowId,
      step: lastRecorded + 1,
      generation: wf.generation,
      ...(last?.kind === "sleep" && last.wakeAt !== undefined ? { notBefore: last.wakeAt } : {}),
    },
  ]);
}

function toStepRecord(workflowId: string, executed: ExecutedOperation, serializedOutput: string | undefined, completedAt: number): StepRecord {
  const { call, outcome } = executed;
  const base = {
    workflowId,
    functionId: call.functionId,
    name: call.name,
    kind: call.kind,
    attempts: executed.attempt,
    startedAt: executed.startedAt,
    completedAt,
  };
  if (call.kind === "sleep") return { ...base, status: StepStatus.SUCCESS, ...(executed.wakeAt !== undefined ? { wakeAt: executed.wakeAt } : {}) };
  if (outcome.ok) return { ...base, status: StepStatus.SUCCESS, ...(serializedOutput !== undefined ? { output: serializedOutput } : {}) };
  return { ...base, status: StepStatus.ERROR, error: toRecordedError(outcome.error) };
}

function toCompletion(next: Extract<NextAction, { type: "complete" | "fail" }>, wf: WorkflowRecord): Completion {
  if (next.type === "fail") return { status: WorkflowStatus.ERROR, error: toRecordedError(next.error) };
  try {
    return { status: WorkflowStatus.SUCCESS, output: serialize(next.output, `output of workflow "${wf.name}" (${wf.workflowId})`) };
  } catch (error) {
    return { status: WorkflowStatus.ERROR, error: toRecordedError(error) };
  }
}
