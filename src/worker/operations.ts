import { WorkflowStatus } from "../constants.js";
import type { ExecutableCall, OperationOutcome, StepCall, StepExecution } from "../engine/types.js";
import {
  UnknownWorkflowError,
  WorkflowCancelledError,
  WorkflowConflictError,
  WorkflowNotFoundError,
  WorkflowRecoveryExceededError,
} from "../errors.js";
import { checkWorkflowId } from "../limits.js";
import { serialize, toRecordedError } from "../serialization.js";
import type { RecordEffects, StepDetails, StepRecord, WaitChannel, WorkflowRecord } from "../types.js";
import { EARLY_TOLERANCE_MS } from "./decide.js";
import type { WorkerDeps } from "./processMessage.js";

/** The operations other than steps and sleeps: child workflows, messages, events. */
export type CommunicationCall = Exclude<ExecutableCall, StepCall>;
type ChildCall = Extract<CommunicationCall, { kind: "start" | "invoke" }>;

const done = (outcome: OperationOutcome, details: StepDetails = {}, effects?: RecordEffects): StepExecution => ({
  type: "done",
  outcome,
  attempt: 1,
  details,
  ...(effects ? { effects } : {}),
});
const failed = (error: unknown, details?: StepDetails): StepExecution => done({ ok: false, error: toRecordedError(error) }, details);
const NOTHING: OperationOutcome = { ok: true, output: undefined };

/**
 * Runs one child-workflow, message or event operation of a workflow, as the
 * target of an invocation. A wait whose condition does not hold registers the
 * workflow with whoever will make it hold and looks again (see Wakes), then
 * answers "blocked": nothing is recorded and no Lambda waits. What it returns
 * is recorded by the worker, atomically with its effects; a refusal the code
 * can handle (an unknown receiver, an oversized message) is the operation's
 * recorded error, so replays throw it again.
 */
export class CommunicationOperations {
  constructor(
    private readonly deps: WorkerDeps,
    private readonly wf: WorkflowRecord,
    private readonly steps: readonly StepRecord[],
    private readonly now: () => number,
  ) {}

  run(call: CommunicationCall): Promise<StepExecution> {
    switch (call.kind) {
      case "start":
        return this.start(call);
      case "invoke":
        return this.invoke(call);
      case "getResult":
        return this.awaitChild(call, call.name);
      case "send":
        return this.send(call);
      case "recv":
        return this.recv(call);
      case "setEvent":
        return this.setEvent(call);
      case "getEvent":
        return this.getEvent(call);
    }
  }

  private async start(call: ChildCall): Promise<StepExecution> {
    const child = await this.ensureChild(call);
    if (child.type !== "started") return child.execution;
    return done({ ok: true, output: serialize(child.childId, "child id") }, { childWorkflowId: child.childId });
  }

  private async invoke(call: ChildCall): Promise<StepExecution> {
    const child = await this.ensureChild(call);
    return child.type === "started" ? this.awaitChild(call, child.childId) : child.execution;
  }

  /**
   * The child of a start or invoke, created (and its first message sent) unless it
   * exists already as this workflow's child. Its id: the one the code gave (in a
   * fork, prefixed with the fork's id, so a fork never adopts the original's
   * child), or `${parentId}-${functionId}`.
   */
  private async ensureChild(
    call: ChildCall,
  ): Promise<{ type: "started"; childId: string } | { type: "refused"; execution: StepExecution }> {
    const wf = this.wf;
    const explicit = call.childWorkflowId;
    const childId = explicit === undefined ? `${wf.workflowId}-${call.functionId}` : wf.forkedFrom ? `${wf.workflowId}-${explicit}` : explicit;
    const refuse = (error: unknown) => ({ type: "refused" as const, execution: failed(error, { childWorkflowId: childId }) });
    try {
      checkWorkflowId(childId, "child workflowId");
    } catch (error) {
      return refuse(error);
    }
    const existing = await this.deps.store.getWorkflow(childId);
    if (existing) return (await this.adopt(existing, call.name)) ?? { type: "started", childId };
    let record: WorkflowRecord;
    try {
      if (!this.deps.registry.get(call.name)) throw new UnknownWorkflowError(call.name, this.deps.registry.names());
      const now = this.now();
      record = {
        workflowId: childId,
        name: call.name,
        status: WorkflowStatus.ENQUEUED,
        input: serialize(call.input, `input of child workflow "${call.name}" (${childId})`),
        createdAt: now,
        updatedAt: now,
        cancelRequested: false,
        generation: 0,
        version: 0,
        parentWorkflowId: wf.workflowId,
        ...(wf.applicationVersion !== undefined ? { applicationVersion: wf.applicationVersion } : {}),
      };
    } catch (error) {
      return refuse(error);
    }
    const created = await this.deps.store.createChildWorkflow(record, { workflowId: wf.workflowId, generation: wf.generation });
    // Cancelled or resumed meanwhile: start nothing, record nothing (the re-read decides).
    if ("parentInactive" in created) return { type: "refused", execution: { type: "suspend" } };
    if (!created.created) return (await this.adopt(created.existing, call.name)) ?? { type: "started", childId };
    await this.deps.queue.send([{ workflowId: childId, step: 1, generation: 0 }]);
    return { type: "started", childId };
  }

  /** An existing workflow with the child's id: ours (its first message made sure of), or a conflict. */
  private async adopt(existing: WorkflowRecord, name: string): Promise<{ type: "refused"; execution: StepExecution } | undefined> {
    const childId = existing.workflowId;
    if (existing.parentWorkflowId !== this.wf.workflowId || existing.name !== name) {
      const owner = existing.parentWorkflowId === undefined ? "a workflow started on its own" : `a child of "${existing.parentWorkflowId}"`;
      const error = new WorkflowConflictError(childId, `Cannot start child workflow "${name}" as "${childId}": that id is taken by ${owner} named "${existing.name}"`);
      return { type: "refused", execution: failed(error, { childWorkflowId: childId }) };
    }
    // Its creator may have died before sending its first message: a duplicate is harmless.
    if (existing.status === WorkflowStatus.ENQUEUED && existing.version === 0) await this.deps.queue.send([{ workflowId: childId, step: 1, generation: 0 }]);
    return undefined;
  }

  /** The child's end as this workflow's outcome, or "blocked" until the child's end wakes it. */
  private async awaitChild(call: CommunicationCall, childId: string): Promise<StepExecution> {
    const details = { childWorkflowId: childId };
    const channel: WaitChannel = { type: "end" };
    const unwait = { unwait: { target: childId, channel, waiterId: this.wf.workflowId } };
    const look = async (): Promise<StepExecution | undefined> => {
      const child = await this.deps.store.getWorkflow(childId);
      if (!child) return failed(new WorkflowNotFoundError(childId), details);
      const outcome = endOf(child);
      return outcome && done(outcome, details, unwait);
    };
    return (await look()) ?? (await this.block(call, childId, channel, undefined, look));
  }

  private async send(call: Extract<CommunicationCall, { kind: "send" }>): Promise<StepExecution> {
    const target = call.name;
    const details = { targetWorkflowId: target, ...(call.topic !== undefined ? { topic: call.topic } : {}) };
    let payload: string;
    try {
      payload = serialize(call.message, `message to workflow "${target}"`);
    } catch (error) {
      return failed(error, details);
    }
    if (!(await this.deps.store.getWorkflow(target))) return failed(new WorkflowNotFoundError(target), details);
    // Later than every operation recorded before, so one sender's messages keep their order
    // even when its invocations run on Lambdas whose clocks disagree.
    const sentAt = this.steps.reduce((latest, s) => Math.max(latest, s.completedAt + 1), this.now());
    const messageId = `${this.wf.workflowId}:${String(call.functionId).padStart(10, "0")}`;
    return done(NOTHING, details, { deliver: { workflowId: target, ...(call.topic !== undefined ? { topic: call.topic } : {}), payload, sentAt, messageId } });
  }

  private async recv(call: Extract<CommunicationCall, { kind: "recv" }>): Promise<StepExecution> {
    const id = this.wf.workflowId;
    const details = call.topic !== undefined ? { topic: call.topic } : {};
    const channel: WaitChannel = { type: "message", ...details };
    const unwait = { target: id, channel, waiterId: id };
    const take = async (): Promise<StepExecution | undefined> => {
      const message = await this.deps.store.oldestMessage(id, call.topic);
      return message && done({ ok: true, output: message.payload }, details, { consume: { workflowId: id, key: message.key }, unwait });
    };
    return (await take()) ?? (await this.block(call, id, channel, call.timeoutMs, take, details));
  }

  private async setEvent(call: Extract<CommunicationCall, { kind: "setEvent" }>): Promise<StepExecution> {
    let value: string;
    try {
      value = serialize(call.value, `event "${call.name}" of workflow "${this.wf.workflowId}"`);
    } catch (error) {
      return failed(error);
    }
    return done(NOTHING, { eventValue: value }, { setEvent: { workflowId: this.wf.workflowId, key: call.name, value, setAt: this.now() } });
  }

  private async getEvent(call: Extract<CommunicationCall, { kind: "getEvent" }>): Promise<StepExecution> {
    const target = call.targetWorkflowId;
    const details = { targetWorkflowId: target };
    const channel: WaitChannel = { type: "event", key: call.name };
    const read = async (): Promise<StepExecution | undefined> => {
      const event = await this.deps.store.getEvent(target, call.name);
      return event && done({ ok: true, output: event.value }, details, { unwait: { target, channel, waiterId: this.wf.workflowId } });
    };
    return (await read()) ?? (await this.block(call, target, channel, call.timeoutMs, read, details));
  }

  /**
   * Register this workflow as waiting on `channel` of `target`, then look again
   * (see Wakes): what arrived meanwhile is taken now. A wait with a timeout gets
   * its end fixed at its first registration; once it is past, the timeout is the
   * recorded outcome (undefined), so replays take the same path.
   */
  private async block(
    call: CommunicationCall,
    target: string,
    channel: WaitChannel,
    timeoutMs: number | undefined,
    look: () => Promise<StepExecution | undefined>,
    details: StepDetails = {},
  ): Promise<StepExecution> {
    const now = this.now();
    const waiter = await this.deps.store.putWaiter(target, channel, {
      workflowId: this.wf.workflowId,
      step: call.functionId,
      generation: this.wf.generation,
      op: { kind: call.kind, name: call.name },
      ...(timeoutMs !== undefined ? { until: now + timeoutMs } : {}),
    });
    const found = await look();
    if (found) return found;
    if (waiter.until !== undefined && waiter.until <= this.now() + EARLY_TOLERANCE_MS) {
      return done(NOTHING, { ...details, timedOut: true }, { unwait: { target, channel, waiterId: this.wf.workflowId } });
    }
    return { type: "blocked", ...(waiter.until !== undefined ? { until: waiter.until } : {}) };
  }
}

/** A finished child's end as its parent's outcome; undefined while it runs. */
function endOf(child: WorkflowRecord): OperationOutcome | undefined {
  switch (child.status) {
    case WorkflowStatus.SUCCESS:
      return { ok: true, output: child.output };
    case WorkflowStatus.ERROR:
      // The child's own error, as recorded: the parent catches what a step would have thrown.
      return { ok: false, error: child.error ?? toRecordedError(new Error(`Child workflow "${child.workflowId}" failed`)) };
    case WorkflowStatus.CANCELLED:
      return { ok: false, error: toRecordedError(new WorkflowCancelledError(child.workflowId)) };
    case WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
      return { ok: false, error: toRecordedError(new WorkflowRecoveryExceededError(child.workflowId, child.recoveryReason)) };
    default:
      return undefined;
  }
}
