import type { WorkflowStore } from "../../src/store/WorkflowStore.js";

/** A step body started (workflow code calls this first thing in every body). */
export interface BodyStart {
  workflowId: string;
  functionId: number;
  at: number;
  /** Whether a cancel of the workflow had been recorded (and not resumed since) when the body started. */
  cancelledBefore: boolean;
}

/** A step record written (or, for `deleted`, removed by a resume). */
export interface StepWrite {
  workflowId: string;
  functionId: number;
  at: number;
  kind: "recorded" | "copied" | "deleted";
}

export interface ControlEvent {
  type: "cancel" | "resume" | "fork";
  workflowId: string;
  startedAt: number;
  endedAt: number;
  ok: boolean;
  /** cancel: the status the call left; fork: the new id and start step. */
  status?: string;
  forkId?: string;
  startStep?: number;
}

/** Everything a chaos run observed, for the invariant checks at the end. */
export class Journal {
  readonly bodies: BodyStart[] = [];
  readonly writes: StepWrite[] = [];
  readonly events: ControlEvent[] = [];
  /** Workflows whose cancel is recorded and not resumed since. */
  readonly cancelled = new Set<string>();

  bodyStarted(workflowId: string, functionId: number): void {
    this.bodies.push({ workflowId, functionId, at: Date.now(), cancelledBefore: this.cancelled.has(workflowId) });
  }

  /** How often the body of this step has started so far (attempts, crashes, re-runs). */
  starts(workflowId: string, functionId: number): number {
    let n = 0;
    for (const b of this.bodies) if (b.workflowId === workflowId && b.functionId === functionId) n++;
    return n;
  }
}

/**
 * A store that journals every step write that lands: recordings, fork copies,
 * and the failed-step deletions of resume. It sits under the fault layer, so a
 * write that was applied before an injected crash is journaled too.
 */
export function journalingStore(inner: WorkflowStore, journal: Journal): WorkflowStore {
  const log = (workflowId: string, functionId: number, kind: StepWrite["kind"]) => journal.writes.push({ workflowId, functionId, at: Date.now(), kind });
  return {
    createWorkflow: async (workflow, steps) => {
      const out = await inner.createWorkflow(workflow, steps);
      if (out.created) for (const s of steps ?? []) log(workflow.workflowId, s.functionId, "copied");
      return out;
    },
    getWorkflow: (id) => inner.getWorkflow(id),
    loadState: (id) => inner.loadState(id),
    countSteps: (id) => inner.countSteps(id),
    listSteps: (id, options) => inner.listSteps(id, options),
    listWorkflows: (query) => inner.listWorkflows(query),
    claimStep: (read, claim, now) => inner.claimStep(read, claim, now),
    claimStepEagerly: (args) => inner.claimStepEagerly(args),
    recordStep: async (args) => {
      const out = await inner.recordStep(args);
      if (out === "recorded") log(args.workflowId, args.step.functionId, "recorded");
      return out;
    },
    putStepIfAbsent: async (step) => {
      const out = await inner.putStepIfAbsent(step);
      if (out) log(step.workflowId, step.functionId, "recorded");
      return out;
    },
    completeWorkflow: (args) => inner.completeWorkflow(args),
    markPending: (read, now) => inner.markPending(read, now),
    releaseClaim: (args) => inner.releaseClaim(args),
    cancelWorkflow: (id, now, options) => inner.cancelWorkflow(id, now, options),
    resumeWorkflow: async (read, options) => {
      const out = await inner.resumeWorkflow(read, options);
      if (out && options.deleteStep !== undefined) log(read.workflowId, options.deleteStep, "deleted");
      return out;
    },
    recordFailure: (args) => inner.recordFailure(args),
    markRecoveryExceeded: (args) => inner.markRecoveryExceeded(args),
    createChildWorkflow: (child, parent) => inner.createChildWorkflow(child, parent),
    childrenOf: (id) => inner.childrenOf(id),
    oldestMessage: (id, topic) => inner.oldestMessage(id, topic),
    deliverMessage: (message, options) => inner.deliverMessage(message, options),
    getEvent: (id, key) => inner.getEvent(id, key),
    putWaiter: (target, channel, waiter) => inner.putWaiter(target, channel, waiter),
    waitersOf: (target, channel) => inner.waitersOf(target, channel),
    putEvents: (id, events) => inner.putEvents(id, events),
    enqueueWorkflow: (workflow, entry) => inner.enqueueWorkflow(workflow, entry),
    putQueueEntry: (place, entry) => inner.putQueueEntry(place, entry),
    removeQueueEntry: (place, entry) => inner.removeQueueEntry(place, entry),
    readQueue: (place, max) => inner.readQueue(place, max),
    admitFromQueue: (args) => inner.admitFromQueue(args),
    scheduleQueueWake: (place, at, now) => inner.scheduleQueueWake(place, at, now),
    queuePlaces: (name) => inner.queuePlaces(name),
    queuePosition: (place, entry) => inner.queuePosition(place, entry),
    queueCounts: (place) => inner.queueCounts(place),
    queueMembers: (place) => inner.queueMembers(place),
    getWorkflows: (ids) => inner.getWorkflows(ids),
  };
}
