// Head-of-line blocking: do short workflows slow down when a long step shares
// their worker batch? The worker sends each record's continuation as soon as it
// is recorded (src/worker/Outbox.ts), so a 2 s step in a batch must not hold back
// the next step of the short workflows received with it.
//
// One embedded stack, batchSize 10. Each round starts groups of workflows whose
// first messages go out in ONE SendMessageBatch, so a waiting poller receives the
// whole group as one batch: alone, a group is 9 short workflows; mixed, it is one
// long workflow (a 2 s step) interleaved with the same 9 short ones. maxConcurrency
// is the groups per round + 2: while every long step holds its invocation, two
// pollers are left for the continuations (as Lambda would scale out). A wrapper
// around the worker records every batch, so the run checks (and prints) that the
// long and short workflows really shared batches, and measures separately the step
// intervals that follow a shared batch: a worker that sent continuations only
// after the whole batch settled would make those ~2000 ms (the
// `holdContinuationsUntilBatchEnds` control reproduces that worker). Alone and
// mixed rounds alternate, so the emulators' drift over the run favours neither.
import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { defineWorkflow, WorkflowClient, WorkflowStatus, type WorkQueue } from "../src/index.js";
import { startLocalRuntime, type LocalRuntime } from "../src/local/index.js";
import type { AdmitMessage, WorkMessage } from "../src/types.js";
import { median, percentile, round } from "./metrics.js";

export const HOL_LONG_STEP_MS = 2000;
const GROUP_SHORTS = 9;
const SHORT_PREFIX = "hol-short-";
const LONG_PREFIX = "hol-long-";

export const holShort = defineWorkflow("bench-hol-short", async (ctx, input: { steps: number }) => {
  for (let i = 1; i <= input.steps; i++) await ctx.step(`s${i}`, async () => i);
  return input.steps;
});

export const holLong = defineWorkflow("bench-hol-long", async (ctx, input: { steps: number; stepMs: number }) => {
  for (let i = 1; i <= input.steps; i++) {
    await ctx.step(`long${i}`, async () => {
      await sleep(input.stepMs);
      return i;
    });
  }
  return input.steps;
});

export interface Dist {
  median: number;
  p95: number;
  samples: number;
}

export interface HeadOfLineResult {
  batchSize: number;
  maxConcurrency: number;
  rounds: number;
  groupsPerRound: number;
  shortStepsPerWorkflow: number;
  longStepMs: number;
  /** Per-step time of short workflows (ms between consecutive step records, step 2 onwards). */
  alone: Dist;
  mixed: Dist;
  /** The mixed intervals whose previous step ran in a batch together with a long step. */
  mixedAfterSharedBatch: Dist;
  ratioP95: number;
  ratioMedian: number;
  /** How the batches looked in the mixed phase (from a wrapper around the worker). */
  check: {
    batchesWithLong: number;
    batchesWithLongAndShort: number;
    shortMessagesInLongBatches: number;
    longBatchMedianMs: number;
    shareOfMixedIntervalsAfterSharedBatch: number;
  };
}

const dist = (xs: number[]): Dist => ({ median: round(median(xs)), p95: round(percentile(xs, 95)), samples: xs.length });

interface BatchNote {
  shorts: number;
  longs: number;
  ms: number;
}

/** A queue for the client that holds sends until `size` messages are waiting, then sends them as one SendMessageBatch. */
class GroupingQueue implements WorkQueue {
  private waiting: { messages: readonly WorkMessage[]; done: () => void; failed: (e: unknown) => void }[] = [];
  private count = 0;
  size = 10;

  constructor(private readonly queue: WorkQueue) {}

  sendAdmit(message: AdmitMessage): Promise<void> {
    return this.queue.sendAdmit(message);
  }

  send(messages: readonly WorkMessage[]): Promise<void> {
    return new Promise<void>((done, failed) => {
      this.waiting.push({ messages, done, failed });
      this.count += messages.length;
      if (this.count >= this.size) {
        const all = this.waiting;
        this.waiting = [];
        this.count = 0;
        this.queue.send(all.flatMap((w) => w.messages)).then(
          () => all.forEach((w) => w.done()),
          (e: unknown) => all.forEach((w) => w.failed(e)),
        );
      }
    });
  }

  extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    return this.queue.extendVisibility(receiptHandle, seconds);
  }
}

/** Waits on one workflow at a time, so the watching adds one read per 20 ms to the emulator, not one per workflow. */
async function waitFinished(rt: LocalRuntime, ids: string[]): Promise<void> {
  for (const id of ids) {
    for (;;) {
      const wf = await rt.store.getWorkflow(id);
      if (wf && wf.status !== WorkflowStatus.ENQUEUED && wf.status !== WorkflowStatus.PENDING) {
        if (wf.status !== WorkflowStatus.SUCCESS) throw new Error(`head-of-line workflow ${id} ended ${wf.status}: ${JSON.stringify(wf.error)}`);
        break;
      }
      await sleep(20);
    }
  }
}

export interface HeadOfLineOptions {
  rounds: number;
  groupsPerRound?: number;
  shortSteps?: number;
  /**
   * A control, not part of `npm run bench`: hold every continuation the worker
   * sends until its whole batch has settled, as the worker did before it sent
   * each record's continuation as soon as it was recorded. Shows what blocking
   * looks like in this benchmark.
   */
  holdContinuationsUntilBatchEnds?: boolean;
}

export async function measureHeadOfLine(options: HeadOfLineOptions): Promise<HeadOfLineResult> {
  const groups = options.groupsPerRound ?? 1;
  const shortSteps = options.shortSteps ?? 6;
  const maxConcurrency = groups + 2;
  const batchSize = 10;
  /** `${workflowId}#${step}` of each short message -> whether its batch also held a long workflow's message. */
  const sharedBatch = new Map<string, boolean>();
  const batches: BatchNote[] = [];
  const invocation = new AsyncLocalStorage<WorkMessage[]>();
  const hold = options.holdContinuationsUntilBatchEnds === true;
  const rt = await startLocalRuntime({
    workflows: [holShort, holLong],
    maxConcurrency,
    batchSize,
    ...(hold
      ? {
          wrapQueue: (queue: WorkQueue): WorkQueue => ({
            send: async (messages) => {
              const held = invocation.getStore();
              if (held) held.push(...messages);
              else await queue.send(messages);
            },
            sendAdmit: (message) => queue.sendAdmit(message),
            extendVisibility: (handle, seconds) => queue.extendVisibility(handle, seconds),
          }),
        }
      : {}),
    wrapWorker: (handler) => async (event, context) => {
      const messages = event.Records.map((r) => {
        try {
          return JSON.parse(r.body) as { workflowId: string; step: number };
        } catch {
          return undefined;
        }
      });
      const longs = messages.filter((m) => m?.workflowId.startsWith(LONG_PREFIX)).length;
      const shorts = messages.filter((m) => m?.workflowId.startsWith(SHORT_PREFIX));
      for (const m of shorts) sharedBatch.set(`${m!.workflowId}#${m!.step}`, longs > 0);
      const started = performance.now();
      try {
        if (!hold) return await handler(event, context);
        const held: WorkMessage[] = [];
        const response = await invocation.run(held, () => handler(event, context));
        for (let i = 0; i < held.length; i += 10) await rt.queue.send(held.slice(i, i + 10));
        return response;
      } finally {
        batches.push({ shorts: shorts.length, longs, ms: performance.now() - started });
      }
    },
  });
  const grouping = new GroupingQueue(rt.queue);
  const client = new WorkflowClient({ store: rt.store, queue: grouping, workflows: [holShort, holLong] });
  let seq = 0;

  /** One round of groups; returns the short workflows' step intervals (step 2 on), split by whether the previous step shared a batch with a long one. */
  const runRound = async (withLong: boolean, into: { all: number[]; afterShared: number[] }) => {
    const ids: string[] = [];
    for (let g = 0; g < groups; g++) {
      // Interleaved: the long workflow sits in the middle of its group.
      const starts: Promise<unknown>[] = [];
      grouping.size = GROUP_SHORTS + (withLong ? 1 : 0);
      for (let i = 0; i < GROUP_SHORTS; i++) {
        if (withLong && i === Math.floor(GROUP_SHORTS / 2)) {
          const id = `${LONG_PREFIX}${++seq}`;
          ids.push(id);
          starts.push(client.startWorkflow(holLong, { steps: 1, stepMs: HOL_LONG_STEP_MS }, { workflowId: id }));
        }
        const id = `${SHORT_PREFIX}${++seq}`;
        ids.push(id);
        starts.push(client.startWorkflow(holShort, { steps: shortSteps }, { workflowId: id }));
      }
      await Promise.all(starts);
    }
    await waitFinished(rt, ids);
    for (const id of ids.filter((i) => i.startsWith(SHORT_PREFIX))) {
      const steps = (await rt.store.loadState(id))!.steps.sort((a, b) => a.functionId - b.functionId);
      for (let i = 1; i < steps.length; i++) {
        const ms = steps[i]!.completedAt - steps[i - 1]!.completedAt;
        into.all.push(ms);
        if (sharedBatch.get(`${id}#${steps[i - 1]!.functionId}`)) into.afterShared.push(ms);
      }
    }
    // Let the pollers delete and go back to waiting before the next round.
    await sleep(100);
  };

  try {
    // Warm up the JIT and the emulators on this stack.
    await runRound(false, { all: [], afterShared: [] });
    const alone = { all: [] as number[], afterShared: [] as number[] };
    const mixed = { all: [] as number[], afterShared: [] as number[] };
    const mixedBatches: BatchNote[] = [];
    // Alone and mixed rounds alternate (in turn first), so the emulators' drift over the run favours neither.
    for (let r = 0; r < options.rounds; r++) {
      for (const withLong of r % 2 ? [true, false] : [false, true]) {
        const mark = batches.length;
        await runRound(withLong, withLong ? mixed : alone);
        if (withLong) mixedBatches.push(...batches.slice(mark));
      }
    }
    const withLong = mixedBatches.filter((b) => b.longs > 0);
    const a = dist(alone.all);
    const m = dist(mixed.all);
    return {
      batchSize,
      maxConcurrency,
      rounds: options.rounds,
      groupsPerRound: groups,
      shortStepsPerWorkflow: shortSteps,
      longStepMs: HOL_LONG_STEP_MS,
      alone: a,
      mixed: m,
      mixedAfterSharedBatch: dist(mixed.afterShared),
      ratioP95: round(m.p95 / a.p95),
      ratioMedian: round(m.median / a.median),
      check: {
        batchesWithLong: withLong.length,
        batchesWithLongAndShort: withLong.filter((b) => b.shorts > 0).length,
        shortMessagesInLongBatches: withLong.reduce((s, b) => s + b.shorts, 0),
        longBatchMedianMs: round(median(withLong.map((b) => b.ms)), 0),
        shareOfMixedIntervalsAfterSharedBatch: round(mixed.afterShared.length / mixed.all.length),
      },
    };
  } finally {
    await rt.stop();
  }
}

export function formatHeadOfLine(h: HeadOfLineResult): string[] {
  const out: string[] = [];
  out.push(
    `Head-of-line (one stack, batchSize ${h.batchSize}, maxConcurrency ${h.maxConcurrency}; ${h.rounds} rounds x ${h.groupsPerRound} batches of 9 short workflows x ${h.shortStepsPerWorkflow} steps of ~0 ms, mixed: + 1 long workflow (one ${h.longStepMs} ms step) in each batch)`,
  );
  const rows: (string | number)[][] = [
    ["short workflows", "median ms", "p95 ms", "samples"],
    ["alone", h.alone.median, h.alone.p95, h.alone.samples],
    ["mixed with long", h.mixed.median, h.mixed.p95, h.mixed.samples],
    ["  after a shared batch", h.mixedAfterSharedBatch.median, h.mixedAfterSharedBatch.p95, h.mixedAfterSharedBatch.samples],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  out.push(...rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i]!)).join("  ").trimEnd()));
  out.push(`mixed / alone: p95 ${h.ratioP95}x, median ${h.ratioMedian}x (blocking behind the long step would put the intervals after a shared batch at ~${h.longStepMs} ms)`);
  const c = h.check;
  out.push(
    `check: ${c.batchesWithLongAndShort} of ${c.batchesWithLong} batches with a long step also held short messages (${c.shortMessagesInLongBatches} in all; those batches took ${c.longBatchMedianMs} ms median); ${round(c.shareOfMixedIntervalsAfterSharedBatch * 100, 0)}% of the mixed intervals follow a shared batch`,
  );
  return out;
}
