// What a child workflow and a message add, in AWS requests and list-price dollars,
// measured on the embedded stack by counting every request (bench/metrics.ts):
//   per child: a parent that starts K one-step children and awaits each, minus K
//     one-step workflows started by a client (so it is what the parent side adds:
//     the start, the registration, the wait, the wake-up, the result);
//   per message: a sender's K ctx.send and a receiver's K ctx.recv, minus the same
//     two workflows doing nothing.
// Run alone with `npm run bench:composition`; `npm run bench` includes it.
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { defineWorkflow, WorkflowStatus } from "../src/index.js";
import { startLocalRuntime, type LocalRuntime } from "../src/local/index.js";
import { PRICES, WORKER_MEMORY_MB } from "./cost/prices.js";
import { RequestMeter, round } from "./metrics.js";

const leaf = defineWorkflow("bench-leaf", async (ctx) => ctx.step("s1", async () => 1));
const fanOut = defineWorkflow("bench-fan-out", async (ctx, n: number) => {
  const children = [];
  for (let i = 0; i < n; i++) children.push(await ctx.startWorkflow(leaf, undefined));
  let sum = 0;
  for (const child of children) sum += await child.getResult();
  return sum;
});
const receiver = defineWorkflow("bench-receiver", async (ctx, n: number) => {
  for (let i = 0; i < n; i++) await ctx.recv({ topic: "t" });
  return n;
});
const sender = defineWorkflow("bench-sender", async (ctx, input: { to: string; n: number }) => {
  for (let i = 0; i < input.n; i++) await ctx.send(input.to, i, { topic: "t" });
  return input.n;
});

/** Requests, capacity units and Lambda time of one measured scenario. */
interface Usage {
  requests: Record<string, number>;
  readUnits: number;
  writeUnits: number;
  invocations: number;
  billedMs: number;
}

export interface CompositionResult {
  perChild: Usage & { dollarsPerMillion: number };
  perMessage: Usage & { dollarsPerMillion: number };
  samples: number;
}

async function measure(rt: LocalRuntime, meter: RequestMeter, start: () => Promise<string[]>): Promise<Usage> {
  meter.reset();
  const before = { ...rt.worker.stats };
  const ids = await start();
  for (const id of ids) {
    for (;;) {
      const wf = await meter.exclude(() => rt.store.getWorkflow(id));
      if (wf?.status === WorkflowStatus.SUCCESS) break;
      if (wf && wf.status !== WorkflowStatus.PENDING && wf.status !== WorkflowStatus.ENQUEUED) throw new Error(`${id} ended ${wf.status}`);
      await sleep(20);
    }
  }
  await sleep(300); // the last deletes and wake-ups land
  return {
    requests: { ...meter.counts },
    readUnits: meter.readUnits,
    writeUnits: meter.writeUnits,
    invocations: rt.worker.stats.invocations - before.invocations,
    billedMs: rt.worker.stats.billedMs - before.billedMs,
  };
}

/** (a - b) / n, field by field. */
function perUnit(a: Usage, b: Usage, n: number): Usage & { dollarsPerMillion: number } {
  const keys = new Set([...Object.keys(a.requests), ...Object.keys(b.requests)]);
  const requests = Object.fromEntries([...keys].map((k) => [k, round(((a.requests[k] ?? 0) - (b.requests[k] ?? 0)) / n, 2)]));
  const usage = {
    requests,
    readUnits: round((a.readUnits - b.readUnits) / n, 2),
    writeUnits: round((a.writeUnits - b.writeUnits) / n, 2),
    invocations: round((a.invocations - b.invocations) / n, 2),
    billedMs: round((a.billedMs - b.billedMs) / n, 1),
  };
  const sqs = Object.entries(requests).filter(([k]) => k.startsWith("sqs.")).reduce((s, [, v]) => s + v, 0);
  const dollars =
    usage.writeUnits * PRICES.dynamodbWriteRequestUnitPerMillion +
    usage.readUnits * PRICES.dynamodbReadRequestUnitPerMillion +
    sqs * PRICES.sqsRequestPerMillion +
    usage.invocations * PRICES.lambdaRequestPerMillion +
    (usage.billedMs / 1000) * (WORKER_MEMORY_MB / 1024) * 1_000_000 * PRICES.lambdaArmGbSecond;
  return { ...usage, dollarsPerMillion: round(dollars, 3) };
}

export async function measureComposition(samples = 20): Promise<CompositionResult> {
  const rt = await startLocalRuntime({ workflows: [leaf, fanOut, receiver, sender], maxConcurrency: 4, batchSize: 10 });
  try {
    const meter = new RequestMeter();
    meter.attachDynamo(rt.dynamodb);
    meter.attachSqs(rt.sqs);
    let run = 0;
    const id = (what: string) => `${what}-${++run}`;
    // Warm up the emulators and the JIT with one of each.
    await measure(rt, meter, async () => [(await rt.client.startWorkflow(fanOut, 2, { workflowId: id("warm") })).workflowId]);

    const leaves = await measure(rt, meter, () =>
      Promise.all(Array.from({ length: samples }, async () => (await rt.client.startWorkflow(leaf, undefined, { workflowId: id("leaf") })).workflowId)),
    );
    const tree = await measure(rt, meter, async () => [(await rt.client.startWorkflow(fanOut, samples, { workflowId: id("tree") })).workflowId]);
    const idlePair = await measure(rt, meter, async () => {
      const to = id("receiver");
      await rt.client.startWorkflow(receiver, 0, { workflowId: to });
      return [to, (await rt.client.startWorkflow(sender, { to, n: 0 }, { workflowId: id("sender") })).workflowId];
    });
    const talkingPair = await measure(rt, meter, async () => {
      const to = id("receiver");
      await rt.client.startWorkflow(receiver, samples, { workflowId: to });
      return [to, (await rt.client.startWorkflow(sender, { to, n: samples }, { workflowId: id("sender") })).workflowId];
    });
    // The tree also runs its K children: take K leaves (and the parent's own start and end, about one leaf) off.
    return { perChild: perUnit(tree, leaves, samples), perMessage: perUnit(talkingPair, idlePair, samples), samples };
  } finally {
    await rt.stop();
  }
}

export function renderComposition(r: CompositionResult): string[] {
  const line = (what: string, u: CompositionResult["perChild"]) => {
    const dynamo = Object.entries(u.requests).filter(([k, v]) => k.startsWith("dynamodb.") && v !== 0).map(([k, v]) => `${k.slice(9)} ${v}`).join(", ");
    const sqs = Object.entries(u.requests).filter(([k, v]) => k.startsWith("sqs.") && v !== 0).map(([k, v]) => `${k.slice(4)} ${v}`).join(", ");
    return `  ${what}: DynamoDB ${u.writeUnits} WCU + ${u.readUnits} RCU (${dynamo}); SQS ${sqs}; ${u.invocations} worker invocations, ${u.billedMs} ms; $${u.dollarsPerMillion} per million`;
  };
  return [`Composition (what one adds, averaged over ${r.samples}; list prices as the cost model)`, line("per child (start + getResult)", r.perChild), line("per message (send + recv)", r.perMessage)];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await measureComposition();
  console.log(renderComposition(result).join("\n"));
  process.exit(0);
}
