// What a workflow queue adds, measured on the embedded stack in one run:
//   admission overhead: one-step workflows started on a queue without limits
//     against the same started directly: requests per workflow (counted) and the
//     median time from start to the first step's start;
//   throughput of a queue at concurrency 1, 10 and unlimited (workflows/s).
// Run alone with `npm run bench:queues`; `npm run bench` includes it.
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { defineQueue, defineWorkflow, WorkflowStatus } from "../src/index.js";
import { startLocalRuntime, type LocalRuntime } from "../src/local/index.js";
import { median, RequestMeter, round } from "./metrics.js";

const oneStep = defineWorkflow("bench-queued", async (ctx) => ctx.step("s1", async () => 1));
const open = defineQueue("bench-open");
const one = defineQueue("bench-one", { concurrency: 1 });
const ten = defineQueue("bench-ten", { concurrency: 10 });

export interface QueueBenchResult {
  samples: number;
  /** Median ms from start to the first step's start. */
  startLatencyMs: { direct: number; queued: number };
  /** Requests per workflow the queue adds (queued minus direct). */
  addedRequestsPerWorkflow: Record<string, number>;
  addedWriteUnitsPerWorkflow: number;
  addedReadUnitsPerWorkflow: number;
  /** Workflows per second through a queue, by its concurrency. */
  throughput: Record<string, number>;
}

/** Start `count` workflows and wait for them; the waiting's reads are not metered. */
async function runAll(rt: LocalRuntime, count: number, prefix: string, queueName?: string, meter?: RequestMeter): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  await Promise.all(ids.map((id) => rt.client.startWorkflow(oneStep, undefined, { workflowId: id, ...(queueName ? { queueName } : {}) })));
  const read = (id: string) => (meter ? meter.exclude(() => rt.store.getWorkflow(id)) : rt.store.getWorkflow(id));
  for (const id of ids) {
    for (;;) {
      const wf = await read(id);
      if (wf?.status === WorkflowStatus.SUCCESS) break;
      if (wf && wf.status !== WorkflowStatus.ENQUEUED && wf.status !== WorkflowStatus.PENDING) throw new Error(`${id} ended ${wf.status}`);
      await sleep(10);
    }
  }
  return ids;
}

async function startLatencies(rt: LocalRuntime, ids: string[]): Promise<number[]> {
  return Promise.all(
    ids.map(async (id) => {
      const state = (await rt.store.loadState(id))!;
      return state.steps[0]!.startedAt - state.workflow.createdAt;
    }),
  );
}

export async function measureQueues(samples = 40): Promise<QueueBenchResult> {
  const rt = await startLocalRuntime({ workflows: [oneStep], queues: [open, one, ten], maxConcurrency: 4, batchSize: 10 });
  try {
    const meter = new RequestMeter();
    meter.attachDynamo(rt.dynamodb);
    meter.attachSqs(rt.sqs);
    await runAll(rt, 5, "warm-direct");
    await runAll(rt, 5, "warm-queued", open.name);

    // One at a time, so the latencies are the path's, not a backlog's.
    const measure = async (prefix: string, queueName?: string) => {
      meter.reset();
      const ids: string[] = [];
      for (let i = 0; i < samples; i++) ids.push(...(await runAll(rt, 1, `${prefix}-${i}`, queueName, meter)));
      await sleep(300);
      return { ids, counts: { ...meter.counts }, writeUnits: meter.writeUnits, readUnits: meter.readUnits };
    };
    const direct = await measure("direct");
    const queued = await measure("queued", open.name);
    const keys = new Set([...Object.keys(direct.counts), ...Object.keys(queued.counts)]);
    const added = Object.fromEntries([...keys].map((k) => [k, round(((queued.counts[k] ?? 0) - (direct.counts[k] ?? 0)) / samples, 2)]).filter(([, v]) => v !== 0));

    const throughput: Record<string, number> = {};
    for (const [label, queueName] of [["1", one.name], ["10", ten.name], ["unlimited", open.name]] as const) {
      const started = performance.now();
      await runAll(rt, samples, `tp-${label}`, queueName);
      throughput[label] = round(samples / ((performance.now() - started) / 1000), 1);
    }
    return {
      samples,
      startLatencyMs: { direct: round(median(await startLatencies(rt, direct.ids))), queued: round(median(await startLatencies(rt, queued.ids))) },
      addedRequestsPerWorkflow: added,
      addedWriteUnitsPerWorkflow: round((queued.writeUnits - direct.writeUnits) / samples, 2),
      addedReadUnitsPerWorkflow: round((queued.readUnits - direct.readUnits) / samples, 2),
      throughput,
    };
  } finally {
    await rt.stop();
  }
}

export function renderQueues(r: QueueBenchResult): string[] {
  return [
    `Queues (one-step workflows; ${r.samples} per case)`,
    `  start to first step, median: direct ${r.startLatencyMs.direct} ms, through a queue without limits ${r.startLatencyMs.queued} ms`,
    `  added per workflow: ${r.addedWriteUnitsPerWorkflow} WCU, ${r.addedReadUnitsPerWorkflow} RCU; requests ${Object.entries(r.addedRequestsPerWorkflow).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `  throughput (workflows/s, 4 worker invocations at once): concurrency 1: ${r.throughput["1"]}, 10: ${r.throughput["10"]}, unlimited: ${r.throughput.unlimited}`,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(renderQueues(await measureQueues()).join("\n"));
  process.exit(0);
}
