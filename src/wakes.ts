import { FINISHED_STATUSES } from "./constants.js";
import type { WorkQueue } from "./queue/WorkQueue.js";
import type { WorkflowStore } from "./store/WorkflowStore.js";
import type { StepRecord, WaitChannel, WorkflowRecord, WorkMessage } from "./types.js";

/**
 * Waking blocked workflows. A workflow that waits (for a child's end, a message,
 * an event) registers itself with the workflow that will make it happen, then
 * looks once more; whoever makes it happen writes first, then reads the
 * registrations and sends each waiter its work message. Both sides write before
 * they read, with strongly consistent reads, so at least one of them sees the
 * other: no wake-up is lost, and a duplicate one is dropped as a duplicate
 * delivery. Every path that can redo the write's aftermath (a redelivered
 * message, a repeated cancel) wakes again, so a crash between the write and the
 * wake loses nothing either.
 */
export class Wakes {
  constructor(
    private readonly store: WorkflowStore,
    private readonly queue: WorkQueue,
  ) {}

  /** Wake whoever waits on what this recorded operation did: a message it sent, an event it set. */
  async afterOperation(step: StepRecord): Promise<void> {
    if (step.kind === "send" && step.targetWorkflowId !== undefined) {
      await this.wake(step.targetWorkflowId, { type: "message", ...(step.topic !== undefined ? { topic: step.topic } : {}) });
    } else if (step.kind === "setEvent") {
      await this.wake(step.workflowId, { type: "event", key: step.name });
    }
  }

  /** A message arrived in `workflowId`'s mailbox from outside. */
  afterMessage(workflowId: string, topic: string | undefined): Promise<void> {
    return this.wake(workflowId, { type: "message", ...(topic !== undefined ? { topic } : {}) });
  }

  /**
   * Once a workflow has ended: wake the parent waiting for it (only parents wait
   * for a workflow's end), and, if it ran on a queue, ask for an admission pass of
   * that queue, whose slot it may have freed.
   */
  async afterEnd(wf: WorkflowRecord): Promise<void> {
    if (!FINISHED_STATUSES.includes(wf.status)) return;
    if (wf.parentWorkflowId !== undefined) await this.wake(wf.workflowId, { type: "end" });
    if (wf.queueName !== undefined) {
      await this.queue.sendAdmit({ queueName: wf.queueName, ...(wf.partitionKey !== undefined ? { partitionKey: wf.partitionKey } : {}) });
    }
  }

  private async wake(target: string, channel: WaitChannel): Promise<void> {
    const waiters = await this.store.waitersOf(target, channel);
    if (waiters.length === 0) return;
    const messages: WorkMessage[] = waiters.map((w) => ({ workflowId: w.workflowId, step: w.step, generation: w.generation, op: w.op }));
    await this.queue.send(messages);
  }
}
