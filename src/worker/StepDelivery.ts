import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { WorkflowStatus } from "../constants.js";
import { StepAttemptsExhaustedError, UnknownWorkflowError } from "../errors.js";
import { canWaitInProcess } from "../engine/Invocation.js";
import { runInvocation } from "../engine/replay.js";
import type { ExecutableCall, ExecutedOperation, InvocationResult, NextAction, StepCall, StepExecution } from "../engine/types.js";
import { decodeMessage } from "../queue/messages.js";
import { deserialize, toRecordedError } from "../serialization.js";
import type { Completion } from "../store/WorkflowStore.js";
import type { RunningClaim, WorkflowRecord, WorkflowState, WorkMessage } from "../types.js";
import type { WorkflowDefinition } from "../workflow.js";
import { Wakes } from "../wakes.js";
import { liveClaim, supersededClaim } from "../workflowState.js";
import { CommunicationOperations } from "./operations.js";
import { decideDelivery, EARLY_TOLERANCE_MS } from "./decide.js";
import { startHeartbeat } from "./heartbeat.js";
import type { Delivery, ProcessOutcome, WorkerDeps } from "./processMessage.js";
import { retryDelayMs, retryPolicyFor, runStepBody } from "./stepBody.js";
import { toCompletion, toStepRecord } from "./toRecords.js";

/** How long a newer generation waits before looking again at an older claim. */
const CLAIM_WAIT_MS = 5_000;
/** Reads after which a workflow that keeps changing under us is left to a redelivery. */
const MAX_READS = 3;

/**
 * One delivery of one work message: read the workflow, decide, run at most one
 * step, record it, send the continuation. Every write is conditional; any
 * exception leaves the message to SQS, whose redelivery finishes the job.
 */
export class StepDelivery {
  private readonly message: WorkMessage;
  private readonly now: () => number;
  /**
   * The workflow as the claim this delivery made while reading left it. Every way
   * out that does not run the step gives that claim (and its attempt) back.
   */
  private eager: WorkflowRecord | undefined;
  /** The workflow version our next write expects: the read's, or our claim's once we hold one. */
  private expectedVersion: number | undefined;
  /** The step failed and its next attempt is scheduled. */
  private retryScheduled = false;
  /** This delivery's claim key (see RunningClaim.key). */
  private readonly claimKey = randomBytes(8).toString("base64url");
  private readonly wakes: Wakes;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly delivery: Delivery,
    private readonly deadline: number,
  ) {
    this.message = decodeMessage(delivery.body);
    this.now = deps.now ?? Date.now;
    this.wakes = new Wakes(deps.store, deps.queue);
  }

  async process(): Promise<ProcessOutcome> {
    await this.waitInProcess(this.message.notBefore);
    let state = await this.readClaimingEagerly();
    for (let reads = 1; ; reads++) {
      if (!state) return "missing";
      const outcome = await this.advance(state);
      if (outcome !== "raced") return outcome;
      // The workflow changed between our read and our write: read again and decide anew.
      if (reads >= MAX_READS) throw new Error(`Workflow "${this.message.workflowId}" kept changing under step ${this.message.step}; retrying later`);
      this.eager = undefined;
      this.expectedVersion = undefined;
      state = await this.deps.store.loadState(this.message.workflowId);
    }
  }

  /**
   * Read the workflow; when the message names the step it is for, claim it in the
   * same round trip. The claim's own condition re-checks cancel and generation.
   */
  private async readClaimingEagerly(): Promise<WorkflowState | undefined> {
    const { message } = this;
    const op = message.op;
    if (op?.kind !== "step" || (message.notBefore ?? 0) > this.now() + EARLY_TOLERANCE_MS) {
      return this.deps.store.loadState(message.workflowId);
    }
    const at = this.now();
    const [eager, state] = await Promise.allSettled([
      this.claimed(message.step, () =>
        this.deps.store.claimStepEagerly({
          workflowId: message.workflowId,
          generation: message.generation,
          claim: this.claimFor(message.step, op.name, message.generation, at),
          ...(message.supersedes !== undefined ? { supersedes: message.supersedes } : {}),
          now: at,
        }),
      ),
      this.deps.store.loadState(message.workflowId),
    ]);
    if (eager.status === "rejected") throw eager.reason;
    this.eager = eager.value;
    this.expectedVersion = eager.value?.version;
    if (state.status === "rejected") {
      await this.giveBack().catch(() => undefined);
      throw state.reason;
    }
    return state.value;
  }

  /**
   * A claim call whose answer did not arrive may have landed and counted an
   * attempt that never ran: give such a claim back (best effort) before failing,
   * so a lost answer or a throttled read does not use up the step's attempts.
   */
  private async claimed(step: number, claim: () => Promise<WorkflowRecord | undefined>): Promise<WorkflowRecord | undefined> {
    try {
      return await claim();
    } catch (err) {
      await this.deps.store
        .releaseClaim({ workflowId: this.message.workflowId, token: this.delivery.messageId, refundStep: step, now: this.now() })
        .catch(() => undefined);
      throw err;
    }
  }

  /** Decide and do what the message asks, from the state read. */
  private async advance(state: WorkflowState): Promise<ProcessOutcome | "raced"> {
    const decision = decideDelivery(state, this.message, this.delivery.messageId, this.now(), this.eager !== undefined);
    switch (decision.type) {
      case "stale":
      case "queued":
      case "inactive":
        await this.giveBack();
        // A redelivery after a crash between a record and its wake-ups: the workflow may have
        // ended, been cancelled or resumed since, but whoever waits on what the step did (a
        // message it sent, an event it set) or on the workflow's end must still be woken.
        await this.wakeForRecordedStep(state);
        if (decision.type === "inactive") await this.wakes.afterEnd(state.workflow);
        return decision.type;
      case "duplicate":
        // An early claim on a recorded step is dead already (see liveClaim).
        await this.ensureContinuation(state, decision.lastRecorded);
        return "duplicate";
      case "defer":
        if (await this.waitInProcess(decision.until)) return this.advance(state);
        await this.giveBack(decision.retryAt !== undefined ? { step: this.message.step, at: decision.retryAt } : undefined);
        await this.send({ ...this.message, notBefore: decision.until });
        return "deferred";
      case "busy":
        return "busy";
      case "olderClaim": {
        const t = this.now();
        await this.send({ ...this.message, notBefore: t + Math.min(CLAIM_WAIT_MS, decision.claim.until - t) });
        return "deferred";
      }
      case "sameMessage":
        // Another delivery of this same SQS message runs the step now. Running it again
        // would run the body twice; acknowledging would delete the message the holder
        // still depends on. Fail this delivery: SQS brings it back after the holder is done.
        throw new Error(
          `Step ${decision.claim.step} of workflow "${state.workflow.workflowId}" is running under another delivery of message ${this.delivery.messageId}; retrying later`,
        );
      case "run":
        return this.run(state);
    }
  }

  /** Replay the workflow up to the message's step and run that step. */
  private async run(state: WorkflowState): Promise<ProcessOutcome | "raced"> {
    const wf = state.workflow;
    const definition = this.deps.registry.get(wf.name);
    if (!definition) {
      await this.giveBack();
      throw new UnknownWorkflowError(wf.name, this.deps.registry.names());
    }
    this.expectedVersion ??= wf.version;
    const result = await runInvocation({
      definition,
      workflowId: wf.workflowId,
      input: deserialize(wf.input),
      steps: state.steps,
      target: this.message.step,
      ...(this.message.op ? { expected: this.message.op } : {}),
      execute: (call: ExecutableCall) =>
        call.kind === "step" ? this.executeStep(wf, definition, call) : new CommunicationOperations(this.deps, wf, state.steps, this.now).run(call),
      stallTimeoutMs: Math.max(1_000, this.deadline - this.now()),
      deadline: this.deadline,
      now: this.now,
    });
    return this.conclude(state, result);
  }

  /** Turn the invocation's answer into writes and messages. */
  private async conclude(state: WorkflowState, result: InvocationResult): Promise<ProcessOutcome | "raced"> {
    const wf = state.workflow;
    switch (result.type) {
      case "suspended":
        return this.retryScheduled ? "retryScheduled" : "raced";
      case "waiting":
        await this.giveBack();
        await this.send({ ...this.message, notBefore: result.until });
        return "deferred";
      case "blocked": {
        await this.giveBack();
        // A workflow that waits runs: it is no longer ENQUEUED (which means not started, or queued).
        if (wf.status === WorkflowStatus.ENQUEUED) await this.deps.store.markPending(wf, this.now());
        // A wait with a timeout comes back at its end; the others only when woken.
        const { supersedes: _dead, ...message } = this.message;
        if (result.until !== undefined) await this.send({ ...message, notBefore: result.until });
        return "waiting";
      }
      case "nondeterministic":
        return this.finish(wf, { status: WorkflowStatus.ERROR, error: toRecordedError(result.error) });
      case "finished":
        return this.finish(wf, toCompletion(result.next, wf));
      case "advanced":
        return this.record(state, result.executed, result.next);
    }
  }

  /**
   * The executor the engine calls for the target step: claim it (unless claimed
   * while reading), run the body, and either hand back the outcome or schedule the
   * next attempt. Retries due within a second wait here instead of in the queue.
   */
  private async executeStep(wf: WorkflowRecord, definition: WorkflowDefinition<any, any>, call: StepCall): Promise<StepExecution> {
    const policy = retryPolicyFor(definition, call);
    let claimed = this.eager ?? (await this.claim(wf, call));
    this.eager = undefined; // from here on the claim is spent on the body: nothing to give back
    for (;;) {
      if (!claimed) return { type: "suspend" };
      this.expectedVersion = claimed.version;
      // Claims are counted, so attempts whose worker died count too.
      const attempt = claimed.running?.attempt ?? 1;
      if (attempt > policy.maxAttempts) {
        const error = new StepAttemptsExhaustedError(wf.workflowId, call.functionId, call.name, policy.maxAttempts);
        return { type: "done", attempt, outcome: { ok: false, error: toRecordedError(error) } };
      }
      const heartbeat = startHeartbeat(this.deps.queue, this.delivery.receiptHandle, this.deps.visibilityTimeoutSeconds);
      const result = await runStepBody(call).finally(() => heartbeat.stop());
      if (result.outcome.ok || result.permanent || attempt >= policy.maxAttempts) return { type: "done", outcome: result.outcome, attempt };
      const at = this.now() + retryDelayMs(policy, attempt);
      if (!this.canWaitUntil(at)) {
        await this.scheduleRetry(call.functionId, at);
        return { type: "suspend" };
      }
      await sleep(at - this.now());
      claimed = await this.claim(claimed, call);
    }
  }

  private claim(read: WorkflowRecord, call: StepCall): Promise<WorkflowRecord | undefined> {
    const at = this.now();
    return this.claimed(call.functionId, () => this.deps.store.claimStep(read, this.claimFor(call.functionId, call.name, read.generation, at), at));
  }

  private async scheduleRetry(step: number, at: number): Promise<void> {
    // Send even if the release reports no claim (its first try may have landed with the
    // answer lost): a duplicate retry message is harmless, a missing one strands the workflow.
    await this.deps.store.releaseClaim({ workflowId: this.message.workflowId, token: this.delivery.messageId, retry: { step, at }, now: this.now() });
    const { supersedes: _dead, ...message } = this.message;
    await this.send({ ...message, notBefore: at });
    this.retryScheduled = true;
  }

  /** Record the operation that ran (finishing the workflow if it settled) and send the continuation. */
  private async record(state: WorkflowState, executed: ExecutedOperation, next: NextAction): Promise<ProcessOutcome | "raced"> {
    const wf = state.workflow;
    const step = toStepRecord(wf.workflowId, executed, this.now());
    const completion = next.type === "continue" ? undefined : toCompletion(next, wf);
    const result = await this.deps.store.recordStep({
      workflowId: wf.workflowId,
      expectedVersion: this.expectedVersion!,
      step,
      ...(completion ? { completion } : {}),
      // Only a step's claim moves the workflow to PENDING; the other operations make no claim.
      markPending: executed.call.kind !== "step" && wf.status === WorkflowStatus.ENQUEUED,
      ...(executed.effects ? { effects: executed.effects } : {}),
      now: this.now(),
    });
    if (result === "effectFailed") {
      throw new Error(`Step ${step.functionId} (${step.kind} "${step.name}") of workflow "${wf.workflowId}" could not be recorded: what it consumes or reaches changed meanwhile; retrying`);
    }
    if (result === "workflowChanged") {
      // Only a step's outcome is kept after a cancel: the others re-decide from a fresh read.
      if (executed.call.kind !== "step") return "raced";
      // Cancelled (or resumed) while the step ran: keep its result, leave the workflow be.
      await this.deps.store.putStepIfAbsent(step);
      await this.release();
      return "recordedAfterCancel";
    }
    // "stepExists": recorded by a rival delivery, or by our own put whose answer was lost
    // and retried: either way the next message must exist, and a duplicate of it is harmless.
    if (result === "stepExists") await this.release();
    await this.wakes.afterOperation(step);
    if (completion) await this.wakes.afterEnd({ ...wf, status: completion.status });
    if (next.type === "continue") {
      // Our claim is dead once its step is recorded; after a sleep, the claim left from an earlier step is.
      const dead = executed.call.kind === "step" ? this.claimKey : supersededClaim(wf, state.steps);
      await this.send({
        workflowId: wf.workflowId,
        step: next.functionId,
        generation: wf.generation,
        ...(next.notBefore !== undefined ? { notBefore: next.notBefore } : {}),
        ...(next.op ? { op: next.op } : {}),
        ...(dead !== undefined && result === "recorded" ? { supersedes: dead } : {}),
      });
    }
    return result === "stepExists" ? "duplicate" : "advanced";
  }

  /** Finish the workflow without recording a step; finishing drops any claim, ours included. */
  private async finish(wf: WorkflowRecord, completion: Completion): Promise<ProcessOutcome | "raced"> {
    const done = await this.deps.store.completeWorkflow({ workflowId: wf.workflowId, expectedVersion: this.expectedVersion!, completion, now: this.now() });
    if (done) {
      await this.wakes.afterEnd({ ...wf, status: completion.status });
      return "finished";
    }
    await this.giveBack();
    return "raced";
  }

  /**
   * A redelivered message for a recorded step: the first delivery may have died
   * between recording and sending, so send the next message again (duplicates are
   * harmless, a lost one would strand the workflow). The next invocation finds out
   * itself whether the code waits for a timer.
   */
  private async ensureContinuation(state: WorkflowState, lastRecorded: number): Promise<void> {
    const wf = state.workflow;
    if (this.message.step !== lastRecorded || liveClaim(wf, state.steps, this.now())) return;
    // The first delivery may also have died before waking whoever waits on what the step did.
    const recorded = state.steps.find((s) => s.functionId === lastRecorded);
    if (recorded) await this.wakes.afterOperation(recorded);
    const dead = supersededClaim(wf, state.steps);
    await this.send({ workflowId: wf.workflowId, step: lastRecorded + 1, generation: wf.generation, ...(dead !== undefined ? { supersedes: dead } : {}) });
  }

  private async wakeForRecordedStep(state: WorkflowState): Promise<void> {
    const recorded = state.steps.find((s) => s.functionId === this.message.step);
    if (recorded) await this.wakes.afterOperation(recorded);
  }

  /** Give back the claim made while reading, with the attempt it counted: the step did not run. */
  private async giveBack(retry?: { step: number; at: number }): Promise<void> {
    if (!this.eager) return;
    this.eager = undefined;
    await this.deps.store.releaseClaim({
      workflowId: this.message.workflowId,
      token: this.delivery.messageId,
      refundStep: this.message.step,
      ...(retry ? { retry } : {}),
      now: this.now(),
    });
  }

  /** Drop our claim after its step was recorded some other way. */
  private async release(): Promise<void> {
    await this.deps.store.releaseClaim({ workflowId: this.message.workflowId, token: this.delivery.messageId, now: this.now() });
  }

  /** Wait here for a moment that is due soon (before the deadline); false when it is too far off. */
  private async waitInProcess(until: number | undefined): Promise<boolean> {
    if (until === undefined || until <= this.now() + EARLY_TOLERANCE_MS) return true;
    if (!this.canWaitUntil(until)) return false;
    await sleep(until - this.now());
    return true;
  }

  private canWaitUntil(at: number): boolean {
    return canWaitInProcess(at, this.now(), this.deadline);
  }

  private send(message: WorkMessage): Promise<void> {
    return this.deps.queue.send([message]);
  }

  /** This delivery's claim on a step: held until the invocation's deadline (the store counts the attempt). */
  private claimFor(step: number, name: string, generation: number, at: number): RunningClaim {
    return { step, name, token: this.delivery.messageId, key: this.claimKey, until: this.deadline, startedAt: at, attempt: 0, generation };
  }
}
