import type {
  Completion,
  CreateChildResult,
  EagerClaimArgs,
  ListWorkflowsQuery,
  Page,
  RecordResult,
  RecordStepArgs,
  ReleaseClaimArgs,
  ResumeOptions,
  WorkflowStore,
} from "../store/WorkflowStore.js";
import type { AdmitArgs, EnqueueResult } from "../store/QueueStore.js";
import type { MailMessage, QueueEntry, QueuePlace, QueueState, ReceivedMessage, RunningClaim, StepRecord, WaitChannel, Waiter, WorkflowRecord, WorkflowState } from "../types.js";
import { CrashPoint, dynamoThrottlingError, TransientFault, transientServerError } from "./faults.js";
import type { FaultInjector, FaultSite } from "./FaultInjector.js";

interface CallSite {
  workflowId?: string;
  step?: number;
}

interface CallFaults {
  write: boolean;
  before?: readonly CrashPoint[];
  after?: readonly CrashPoint[];
}

/**
 * A WorkflowStore that injects faults around a real one: crashes at the worker's
 * crash points (claim, record), DynamoDB throttling before a call, and lost
 * responses after a write was applied. Once an invocation crashed, every call it
 * still makes fails, as a dead process would make none.
 */
export class FaultyStore implements WorkflowStore {
  private throttles = 0;

  constructor(
    readonly inner: WorkflowStore,
    readonly faults: FaultInjector,
  ) {}

  createWorkflow(workflow: WorkflowRecord, steps?: readonly StepRecord[]) {
    return this.call("createWorkflow", { workflowId: workflow.workflowId }, { write: true }, () => this.inner.createWorkflow(workflow, steps));
  }

  getWorkflow(workflowId: string): Promise<WorkflowRecord | undefined> {
    return this.call("getWorkflow", { workflowId }, { write: false }, () => this.inner.getWorkflow(workflowId));
  }

  loadState(workflowId: string): Promise<WorkflowState | undefined> {
    return this.call("loadState", { workflowId }, { write: false }, () => this.inner.loadState(workflowId));
  }

  countSteps(workflowId: string): Promise<number> {
    return this.call("countSteps", { workflowId }, { write: false }, () => this.inner.countSteps(workflowId));
  }

  listSteps(workflowId: string, options?: { limit?: number; nextToken?: string }): Promise<Page<StepRecord>> {
    return this.call("listSteps", { workflowId }, { write: false }, () => this.inner.listSteps(workflowId, options));
  }

  listWorkflows(query: ListWorkflowsQuery): Promise<Page<WorkflowRecord>> {
    return this.call("listWorkflows", {}, { write: false }, () => this.inner.listWorkflows(query));
  }

  claimStep(read: WorkflowRecord, claim: RunningClaim, now: number): Promise<WorkflowRecord | undefined> {
    return this.claimWith("claimStep", { workflowId: read.workflowId, step: claim.step }, () => this.inner.claimStep(read, claim, now));
  }

  claimStepEagerly(args: EagerClaimArgs): Promise<WorkflowRecord | undefined> {
    return this.claimWith("claimStepEagerly", { workflowId: args.workflowId, step: args.claim.step }, () => this.inner.claimStepEagerly(args));
  }

  /** Both claims: crash before the claim, after it (before the step), or mid-step. */
  private async claimWith(operation: string, site: { workflowId: string; step: number }, fn: () => Promise<WorkflowRecord | undefined>): Promise<WorkflowRecord | undefined> {
    const claimed = await this.call(operation, site, { write: true, before: [CrashPoint.beforeClaim], after: [CrashPoint.beforeStep] }, fn);
    // Mid-step: the body starts (it cannot be stopped), but the invocation is dead:
    // the handler fails at once and nothing the body's invocation does afterwards lands.
    const invocation = this.faults.currentInvocation();
    if (claimed && invocation && this.faults.shouldInject({ point: CrashPoint.midStep, operation, ...site })) {
      this.faults.crash({ point: CrashPoint.midStep, operation, ...site });
    }
    return claimed;
  }

  recordStep(args: RecordStepArgs): Promise<RecordResult> {
    return this.call(
      "recordStep",
      { workflowId: args.workflowId, step: args.step.functionId },
      { write: true, before: [CrashPoint.beforeRecord], after: [CrashPoint.afterRecord] },
      () => this.inner.recordStep(args),
    );
  }

  markPending(read: WorkflowRecord, now: number): Promise<boolean> {
    return this.call("markPending", { workflowId: read.workflowId }, { write: true }, () => this.inner.markPending(read, now));
  }

  putStepIfAbsent(step: StepRecord): Promise<boolean> {
    return this.call(
      "putStepIfAbsent",
      { workflowId: step.workflowId, step: step.functionId },
      { write: true, before: [CrashPoint.beforeRecord], after: [CrashPoint.afterRecord] },
      () => this.inner.putStepIfAbsent(step),
    );
  }

  completeWorkflow(args: { workflowId: string; expectedVersion: number; completion: Completion; now: number }): Promise<boolean> {
    return this.call(
      "completeWorkflow",
      { workflowId: args.workflowId },
      { write: true, before: [CrashPoint.beforeRecord], after: [CrashPoint.afterRecord] },
      () => this.inner.completeWorkflow(args),
    );
  }

  releaseClaim(args: ReleaseClaimArgs): Promise<boolean> {
    return this.call("releaseClaim", { workflowId: args.workflowId }, { write: true, after: [CrashPoint.afterRecord] }, () => this.inner.releaseClaim(args));
  }

  cancelWorkflow(workflowId: string, now: number, options?: { cancelledWith?: string }): Promise<WorkflowRecord | undefined> {
    return this.call("cancelWorkflow", { workflowId }, { write: true }, () => this.inner.cancelWorkflow(workflowId, now, options));
  }

  resumeWorkflow(read: WorkflowRecord, options: ResumeOptions): Promise<WorkflowRecord | undefined> {
    return this.call("resumeWorkflow", { workflowId: read.workflowId }, { write: true }, () => this.inner.resumeWorkflow(read, options));
  }

  recordFailure(args: { workflowId: string; generation: number; error: string }): Promise<void> {
    return this.call("recordFailure", { workflowId: args.workflowId }, { write: true }, () => this.inner.recordFailure(args));
  }

  markRecoveryExceeded(args: { workflowId: string; generation: number; reason: string; now: number }): Promise<boolean> {
    return this.call("markRecoveryExceeded", { workflowId: args.workflowId }, { write: true }, () => this.inner.markRecoveryExceeded(args));
  }

  createChildWorkflow(child: WorkflowRecord, parent: { workflowId: string; generation: number }): Promise<CreateChildResult> {
    return this.call("createChildWorkflow", { workflowId: parent.workflowId }, { write: true }, () => this.inner.createChildWorkflow(child, parent));
  }

  childrenOf(workflowId: string): Promise<string[]> {
    return this.call("childrenOf", { workflowId }, { write: false }, () => this.inner.childrenOf(workflowId));
  }

  oldestMessage(workflowId: string, topic: string | undefined): Promise<ReceivedMessage | undefined> {
    return this.call("oldestMessage", { workflowId }, { write: false }, () => this.inner.oldestMessage(workflowId, topic));
  }

  deliverMessage(message: MailMessage, options?: { idempotent?: boolean }): Promise<"delivered" | "duplicate" | "notFound"> {
    return this.call("deliverMessage", { workflowId: message.workflowId }, { write: true }, () => this.inner.deliverMessage(message, options));
  }

  putEvents(workflowId: string, events: readonly { key: string; value: string; setAt: number }[]): Promise<void> {
    return this.call("putEvents", { workflowId }, { write: true }, () => this.inner.putEvents(workflowId, events));
  }

  getEvent(workflowId: string, key: string): Promise<{ value: string; setAt: number } | undefined> {
    return this.call("getEvent", { workflowId }, { write: false }, () => this.inner.getEvent(workflowId, key));
  }

  putWaiter(target: string, channel: WaitChannel, waiter: Waiter): Promise<Waiter> {
    return this.call("putWaiter", { workflowId: waiter.workflowId, step: waiter.step }, { write: true }, () => this.inner.putWaiter(target, channel, waiter));
  }

  waitersOf(target: string, channel: WaitChannel): Promise<Waiter[]> {
    return this.call("waitersOf", { workflowId: target }, { write: false }, () => this.inner.waitersOf(target, channel));
  }

  enqueueWorkflow(workflow: WorkflowRecord, entry: QueueEntry): Promise<EnqueueResult> {
    return this.call("enqueueWorkflow", { workflowId: workflow.workflowId }, { write: true }, () => this.inner.enqueueWorkflow(workflow, entry));
  }

  putQueueEntry(place: QueuePlace, entry: QueueEntry): Promise<void> {
    return this.call("putQueueEntry", { workflowId: entry.workflowId }, { write: true }, () => this.inner.putQueueEntry(place, entry));
  }

  removeQueueEntry(place: QueuePlace, entry: QueueEntry): Promise<void> {
    return this.call("removeQueueEntry", { workflowId: entry.workflowId }, { write: true }, () => this.inner.removeQueueEntry(place, entry));
  }

  readQueue(place: QueuePlace, maxEntries: number): Promise<QueueState> {
    return this.call("readQueue", {}, { write: false }, () => this.inner.readQueue(place, maxEntries));
  }

  admitFromQueue(args: AdmitArgs): Promise<boolean> {
    return this.call("admitFromQueue", {}, { write: true }, () => this.inner.admitFromQueue(args));
  }

  scheduleQueueWake(place: QueuePlace, at: number, now: number): Promise<boolean> {
    return this.call("scheduleQueueWake", {}, { write: true }, () => this.inner.scheduleQueueWake(place, at, now));
  }

  queuePlaces(queueName?: string): Promise<QueuePlace[]> {
    return this.call("queuePlaces", {}, { write: false }, () => this.inner.queuePlaces(queueName));
  }

  queuePosition(place: QueuePlace, entry: QueueEntry): Promise<number> {
    return this.call("queuePosition", { workflowId: entry.workflowId }, { write: false }, () => this.inner.queuePosition(place, entry));
  }

  queueCounts(place: QueuePlace): Promise<{ waiting: number; slots: number; admissions: number[] }> {
    return this.call("queueCounts", {}, { write: false }, () => this.inner.queueCounts(place));
  }

  queueMembers(place: QueuePlace): Promise<{ waiting: string[]; admitted: string[] }> {
    return this.call("queueMembers", {}, { write: false }, () => this.inner.queueMembers(place));
  }

  getWorkflows(workflowIds: readonly string[]): Promise<Map<string, WorkflowRecord>> {
    return this.call("getWorkflows", {}, { write: false }, () => this.inner.getWorkflows(workflowIds));
  }

  private async call<T>(operation: string, where: CallSite, faults: CallFaults, fn: () => Promise<T>): Promise<T> {
    this.faults.assertAlive(operation);
    const site = (point: FaultSite["point"]): FaultSite => ({ point, operation, ...where });
    if (this.faults.shouldInject(site(TransientFault.storeThrottle))) throw dynamoThrottlingError(this.throttles++);
    for (const point of faults.before ?? []) {
      if (this.faults.shouldInject(site(point))) throw this.faults.crash({ ...site(point), point });
    }
    const result = await fn();
    for (const point of faults.after ?? []) {
      if (this.faults.shouldInject(site(point))) throw this.faults.crash({ ...site(point), point });
    }
    if (faults.write && this.faults.shouldInject(site(TransientFault.storeLostResponse))) throw transientServerError();
    return result;
  }
}
