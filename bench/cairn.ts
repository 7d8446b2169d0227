import { setTimeout as sleep } from "node:timers/promises";
import { defineWorkflow, WorkflowStatus } from "../src/index.js";
import { startLocalRuntime, type LocalRuntime } from "../src/local/index.js";
import { median, percentile, RequestMeter, round } from "./metrics.js";

/** N empty steps: what is measured is Cairn's own cost per step. */
export const emptySteps = defineWorkflow("bench-empty-steps", async (ctx, input: { steps: number }) => {
  for (let i = 1; i <= input.steps; i++) await ctx.step(`s${i}`, async () => i);
  return input.steps;
});

export interface LatencyResult {
  /** Per-step latency (ms) by workflow length: time between consecutive step records. */
  perStep: Record<number, { median: number; p95: number; samples: number }>;
  /** Workflow wall time (start to final record) divided by its steps. */
  perWorkflowStepMs: Record<number, number>;
  /** Median per-step latency by recorded-steps bucket (replay reads every recorded step). */
  growth: { fromStep: number; toStep: number; medianMs: number }[];
}

export interface CostSample {
  steps: number;
  requests: Record<string, number>;
  readUnits: number;
  writeUnits: number;
  invocations: number;
  billedMs: number;
}

async function waitFinished(rt: LocalRuntime, meter: RequestMeter | undefined, ids: string[]): Promise<void> {
  const pending = new Set(ids);
  const check = async () => {
    for (const id of [...pending]) {
      const wf = await rt.store.getWorkflow(id);
      if (wf && wf.status !== WorkflowStatus.ENQUEUED && wf.status !== WorkflowStatus.PENDING) {
        if (wf.status !== WorkflowStatus.SUCCESS) throw new Error(`benchmark workflow ${id} ended ${wf.status}: ${JSON.stringify(wf.error)}`);
        pending.delete(id);
      }
    }
  };
  while (pending.size) {
    await (meter ? meter.exclude(check) : check());
    if (pending.size) await sleep(20);
  }
}

/** The embedded stack as the benchmarks run it. */
export function startBenchRuntime(concurrency: number): Promise<LocalRuntime> {
  return startLocalRuntime({ workflows: [emptySteps], maxConcurrency: concurrency, batchSize: 10 });
}

/** Workflows run one at a time; per-step latency from the records' own timestamps. */
export async function measureLatency(rt: LocalRuntime, stepCounts: number[], runsFor: (steps: number) => number): Promise<LatencyResult> {
  const perStep: LatencyResult["perStep"] = {};
  const perWorkflowStepMs: LatencyResult["perWorkflowStepMs"] = {};
  const byIndex = new Map<number, number[]>();
  // Warm up the JIT and the emulators.
  await runOne(rt, 5);
  for (const steps of stepCounts) {
    const samples: number[] = [];
    const walls: number[] = [];
    for (let r = 0; r < runsFor(steps); r++) {
      const { intervals, wallMs } = await runOne(rt, steps);
      samples.push(...intervals);
      walls.push(wallMs / steps);
      intervals.forEach((ms, i) => byIndex.set(i + 1, [...(byIndex.get(i + 1) ?? []), ms]));
    }
    perStep[steps] = { median: round(median(samples)), p95: round(percentile(samples, 95)), samples: samples.length };
    perWorkflowStepMs[steps] = round(median(walls));
  }
  const longest = Math.max(...stepCounts);
  const bucket = Math.max(1, Math.round(longest / 10));
  const growth: LatencyResult["growth"] = [];
  for (let from = 1; from <= longest; from += bucket) {
    const values: number[] = [];
    for (let i = from; i < from + bucket; i++) values.push(...(byIndex.get(i) ?? []));
    if (values.length) growth.push({ fromStep: from, toStep: Math.min(longest, from + bucket - 1), medianMs: round(median(values)) });
  }
  return { perStep, perWorkflowStepMs, growth };
}

export async function runOne(rt: LocalRuntime, steps: number): Promise<{ intervals: number[]; wallMs: number }> {
  const handle = await rt.client.startWorkflow(emptySteps, { steps });
  await waitFinished(rt, undefined, [handle.workflowId]);
  const wf = (await rt.store.getWorkflow(handle.workflowId))!;
  const records = (await rt.store.loadState(handle.workflowId))!.steps.sort((a, b) => a.functionId - b.functionId);
  const intervals: number[] = [];
  let previous = wf.createdAt;
  for (const s of records) {
    intervals.push(s.completedAt - previous);
    previous = s.completedAt;
  }
  return { intervals, wallMs: wf.updatedAt - wf.createdAt };
}

/** Many workflows at once at a given worker concurrency; optionally metered for the cost model. */
export async function measureThroughput(
  rt: LocalRuntime,
  workflows: number,
  stepsEach: number,
  withMeter = false,
): Promise<{ stepsPerSecond: number; cost?: CostSample }> {
  const meter = withMeter ? new RequestMeter() : undefined;
  meter?.attachDynamo(rt.dynamodb);
  meter?.attachSqs(rt.sqs);
  await runOne(rt, 3);
  meter?.reset();
  const before = { ...rt.worker.stats };
  const started = performance.now();
  const ids = await Promise.all(
    Array.from({ length: workflows }, async () => (await rt.client.startWorkflow(emptySteps, { steps: stepsEach })).workflowId),
  );
  await waitFinished(rt, meter, ids);
  const seconds = (performance.now() - started) / 1000;
  const steps = workflows * stepsEach;
  const result: { stepsPerSecond: number; cost?: CostSample } = { stepsPerSecond: round(steps / seconds, 1) };
  if (meter) {
    // Let the last deletes land before reading the counters.
    await sleep(300);
    result.cost = {
      steps,
      requests: { ...meter.counts },
      readUnits: meter.readUnits,
      writeUnits: meter.writeUnits,
      invocations: rt.worker.stats.invocations - before.invocations,
      billedMs: rt.worker.stats.billedMs - before.billedMs,
    };
  }
  return result;
}
