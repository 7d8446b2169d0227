import { FINISHED_STATUSES, WorkflowStatus } from "../constants.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import type { WorkflowStore } from "../store/WorkflowStore.js";
import type { AdmitMessage, QueueEntry, QueuePlace, QueueSlot, QueueState, WorkflowRecord } from "../types.js";
import type { QueueDefinition, QueueRegistry } from "./defineQueue.js";

/** Admissions per transaction: each takes three items (entry, slot, workflow) of DynamoDB's 100. */
const MAX_ADMISSIONS_PER_PASS = 25;
/** Passes that lost a race are tried again this often before the pass gives up (the next trigger or the periodic pass goes on). */
const MAX_ROUNDS = 8;
/** An admitted workflow that has not started this long after its admission gets its first message again (the admitter died before sending it). */
export const ADMISSION_RESEND_MS = 10_000;

/**
 * Admits waiting workflows into their queues' limits: exact across any number
 * of concurrent admitters, because every admission is one transaction that is
 * conditional on the queue's version (read first), takes the waiting entry out,
 * puts a slot in and clears the workflow's `queued` mark, all or nothing.
 *
 * Concurrency is counted in slots: a slot is taken at admission and given back
 * once a pass sees its workflow finished (or resumed into another generation),
 * so a workflow PENDING always holds one, and a slot is never given back while
 * its workflow can still run. Slots come back without anyone acting: every pass
 * looks at the slots' workflows.
 *
 * A pass runs when something may have freed room: a workflow started on the
 * queue, a queued workflow's end (the worker, cancel, the dead-letter handler),
 * a rate window ending (a delayed message the pass itself schedules), and
 * periodically (a schedule in the CDK construct, a timer in the local runtime)
 * for whatever a lost trigger left.
 */
export class Admitter {
  constructor(
    private readonly store: WorkflowStore,
    private readonly queue: WorkQueue,
    private readonly queues: QueueRegistry,
    private readonly now: () => number = Date.now,
  ) {}

  /** Run a pass for one queue partition, or for every partition of every queue this admitter knows. */
  async admit(message: AdmitMessage = {}): Promise<number> {
    if (message.queueName === undefined) {
      let admitted = 0;
      for (const queue of this.queues.all()) {
        const places = queue.partitioned ? (await this.store.queuePlaces(queue.name)).filter((p) => p.partitionKey !== undefined) : [{ queueName: queue.name }];
        for (const place of places) admitted += await this.admitInto(queue, place);
      }
      return admitted;
    }
    const queue = this.queues.get(message.queueName);
    if (!queue) throw new Error(`Queue "${message.queueName}" is not registered with this worker (createWorker({ queues }))`);
    return this.admitInto(queue, { queueName: queue.name, ...(message.partitionKey !== undefined ? { partitionKey: message.partitionKey } : {}) });
  }

  /** Admit into one queue partition as many waiting workflows as its limits allow now. */
  private async admitInto(queue: QueueDefinition, place: QueuePlace): Promise<number> {
    let admitted = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const pass = await this.pass(queue, place);
      if (pass === "raced") continue;
      admitted += pass.admitted;
      if (!pass.more) return admitted;
      round = -1; // progress: carry on with the next batch
    }
    return admitted;
  }

  private async pass(queue: QueueDefinition, place: QueuePlace): Promise<"raced" | { admitted: number; more: boolean }> {
    const state = await this.store.readQueue(place, MAX_ADMISSIONS_PER_PASS * 2);
    if (state.entries.length === 0 && state.slots.length === 0) return { admitted: 0, more: false };
    const now = this.now();
    const records = await this.store.getWorkflows([...state.slots.map((s) => s.workflowId), ...state.entries.map((e) => e.workflowId)]);
    const { live, free: freed } = this.reviewSlots(state.slots, records);
    await this.resendStuck(live, records, now);
    const waiting = state.entries.filter((e) => stillWaiting(e, records.get(e.workflowId)));
    const drop = state.entries.filter((e) => !stillWaiting(e, records.get(e.workflowId)));

    const window = queue.rateLimit ? state.admissions.filter((t) => t > now - queue.rateLimit!.periodMs) : [];
    const room = Math.min(
      queue.concurrency === undefined ? Infinity : queue.concurrency - live.length,
      queue.rateLimit ? queue.rateLimit.limit - window.length : Infinity,
      MAX_ADMISSIONS_PER_PASS,
    );
    const admit = waiting.slice(0, Math.max(0, room));
    // A workflow resumed into the queue before its old run's slot was given back: its
    // admission's slot replaces the old one (one transaction may not write an item twice).
    const readmitted = new Set(admit.map((e) => e.workflowId));
    const free = freed.filter((s) => !readmitted.has(s.workflowId));
    if (admit.length === 0 && free.length === 0 && drop.length === 0) {
      await this.scheduleRateWake(queue, state, window, waiting.length > 0, now);
      return { admitted: 0, more: false };
    }
    const admissions = queue.rateLimit ? [...window, ...admit.map(() => now)].slice(-queue.rateLimit.limit) : [];
    if (!(await this.store.admitFromQueue({ state, admit, free, drop, admissions, now }))) return "raced";
    if (admit.length > 0) await this.queue.send(admit.map((e) => ({ workflowId: e.workflowId, step: e.step, generation: e.generation })));
    // More to do: the rest of a long line, or room left after dropping stale entries.
    const more = state.entries.length > admit.length + drop.length || (admit.length < room && drop.length > 0);
    if (!more && waiting.length > admit.length) await this.scheduleRateWake(queue, { ...state, admissions }, admissions, true, now);
    return { admitted: admit.length, more };
  }

  /** Slots whose workflows may still run, and those to give back. */
  private reviewSlots(slots: readonly QueueSlot[], records: Map<string, WorkflowRecord>): { live: QueueSlot[]; free: QueueSlot[] } {
    const live: QueueSlot[] = [];
    const free: QueueSlot[] = [];
    for (const slot of slots) {
      const wf = records.get(slot.workflowId);
      const done = !wf || wf.generation !== slot.generation || FINISHED_STATUSES.includes(wf.status);
      (done ? free : live).push(slot);
    }
    return { live, free };
  }

  /** Admitted workflows that never started (their admitter died before sending their first message): send it again. */
  private async resendStuck(live: readonly QueueSlot[], records: Map<string, WorkflowRecord>, now: number): Promise<void> {
    const stuck = live.filter((s) => {
      const wf = records.get(s.workflowId);
      return wf?.status === WorkflowStatus.ENQUEUED && !wf.running && now - s.admittedAt > ADMISSION_RESEND_MS;
    });
    if (stuck.length > 0) await this.queue.send(stuck.map((s) => ({ workflowId: s.workflowId, step: s.step, generation: s.generation })));
  }

  /** Workflows wait only for the rate window: come back when its oldest admission leaves it (one delayed message per window). */
  private async scheduleRateWake(queue: QueueDefinition, state: QueueState, window: readonly number[], waiting: boolean, now: number): Promise<void> {
    if (!queue.rateLimit || !waiting || window.length < queue.rateLimit.limit) return;
    const at = Math.min(...window) + queue.rateLimit.periodMs + 1;
    if (state.nextWakeAt !== undefined && state.nextWakeAt >= now && state.nextWakeAt <= at) return;
    if (await this.store.scheduleQueueWake(state.place, at, now)) await this.queue.sendAdmit({ ...state.place, notBefore: at });
  }
}

/** The entry's workflow still waits in this line, in the generation the entry names. */
function stillWaiting(entry: QueueEntry, wf: WorkflowRecord | undefined): boolean {
  return wf !== undefined && wf.queued === true && wf.generation === entry.generation && wf.status === WorkflowStatus.ENQUEUED;
}
