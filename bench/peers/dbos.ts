// Peer benchmark: the same N-step workflow on DBOS Transact for TypeScript (v5 API, no
// decorators), with a PostgreSQL system database.
//
// The workflow runs N steps that do nothing (`DBOS.runStep(async () => i)`), so what is measured
// is DBOS's own cost: one checkpoint write per step plus the workflow's status writes.
//
//   latency:    one workflow at a time for each N; per-run wall time, per-step = wall / N
//   throughput: C workers, each starting a workflow (DBOS.startWorkflow) and awaiting its result,
//               until `workflowsPerConcurrency` workflows have finished; steps per second

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DBOS } from '@dbos-inc/dbos-sdk';

export type Summary = { median: number; p95: number };

export type DbosResult = {
  /** Workflow wall time / N, over the sequential runs for each N. */
  perStepMs: { [steps: number]: Summary };
  /** Workflow wall time, over the sequential runs for each N. */
  perWorkflowMs: { [steps: number]: Summary };
  /** Every sequential run's workflow wall time in ms, in run order. */
  runsMs: { [steps: number]: number[] };
  /** Steps completed per second with C workflows in flight. Absent if no concurrency levels were run. */
  stepsPerSecond?: { [concurrency: number]: number };
  /** Steps in each workflow of the throughput runs. */
  throughputStepsPerWorkflow?: number;
  /** @dbos-inc/dbos-sdk version actually loaded. */
  version: string;
};

export type DbosBenchmarkOptions = {
  /** PostgreSQL URL used as DBOS's system database. */
  url: string;
  stepCounts: number[];
  runsPerCount: number;
  /** Workflows in flight for the throughput runs; default [1, 10, 50]. Pass [] to skip throughput. */
  concurrency?: number[];
  /** Workflows completed per concurrency level; default 100. */
  workflowsPerConcurrency?: number;
  /** Steps per workflow in the throughput runs; default 10. */
  throughputSteps?: number;
  /** Untimed workflows run before measuring; default 20. */
  warmupWorkflows?: number;
};

export async function runDbosBenchmark(options: DbosBenchmarkOptions): Promise<DbosResult> {
  const concurrency = options.concurrency ?? [1, 10, 50];
  const workflowsPerConcurrency = options.workflowsPerConcurrency ?? 100;
  const throughputSteps = options.throughputSteps ?? 10;
  const warmupWorkflows = options.warmupWorkflows ?? 20;
  if (options.runsPerCount < 1) throw new Error('runsPerCount must be at least 1');
  for (const n of [...options.stepCounts, throughputSteps]) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`step counts must be positive integers, got ${n}`);
  }

  if (DBOS.isInitialized()) throw new Error('DBOS is already launched in this process');

  DBOS.setConfig({
    name: 'peer-bench',
    systemDatabaseUrl: options.url,
    logLevel: 'error',
    enableOTLP: false,
    tracingEnabled: false,
  });

  // Registration must happen before launch. shutdown({ deregister: true }) below clears it, so
  // this function can run more than once in a process.
  const nStepWorkflow = DBOS.registerWorkflow(
    async (steps: number): Promise<number> => {
      let last = -1;
      for (let i = 0; i < steps; i++) {
        last = await DBOS.runStep(async () => i, { name: 'emptyStep' });
      }
      return last;
    },
    { name: 'nStepWorkflow' },
  );

  const result: DbosResult = { perStepMs: {}, perWorkflowMs: {}, runsMs: {}, version: dbosVersion() };

  // DBOS 5.3.0's use of node-postgres triggers pg's "client.query() while already executing a
  // query" DeprecationWarning; silence deprecation warnings only while DBOS runs.
  const proc = process as { noDeprecation?: boolean };
  const noDeprecation = proc.noDeprecation;
  proc.noDeprecation = true;
  try {
    await DBOS.launch();
    // Warm up connections, prepared paths and the JIT.
    const warmupSteps = Math.min(Math.max(...options.stepCounts), 10);
    for (let i = 0; i < warmupWorkflows; i++) {
      await checkedRun(() => nStepWorkflow(warmupSteps), warmupSteps);
    }

    // Latency: one workflow at a time.
    for (const n of options.stepCounts) {
      const runs: number[] = [];
      for (let r = 0; r < options.runsPerCount; r++) {
        const t0 = performance.now();
        await checkedRun(() => nStepWorkflow(n), n);
        runs.push(performance.now() - t0);
      }
      result.runsMs[n] = runs;
      result.perWorkflowMs[n] = summarize(runs);
      result.perStepMs[n] = summarize(runs.map((ms) => ms / n));
    }

    // Throughput: C workflows in flight, each started with startWorkflow and awaited via its handle.
    if (concurrency.length > 0 && workflowsPerConcurrency > 0) {
      result.stepsPerSecond = {};
      result.throughputStepsPerWorkflow = throughputSteps;
      for (const c of concurrency) {
        if (!Number.isInteger(c) || c < 1) throw new Error(`concurrency must be a positive integer, got ${c}`);
        let remaining = workflowsPerConcurrency;
        let completed = 0;
        const worker = async (): Promise<void> => {
          while (remaining > 0) {
            remaining--;
            await checkedRun(async () => {
              const handle = await DBOS.startWorkflow(nStepWorkflow)(throughputSteps);
              return handle.getResult();
            }, throughputSteps);
            completed++;
          }
        };
        const t0 = performance.now();
        await Promise.all(Array.from({ length: Math.min(c, workflowsPerConcurrency) }, worker));
        const seconds = (performance.now() - t0) / 1000;
        result.stepsPerSecond[c] = (completed * throughputSteps) / seconds;
      }
    }
  } finally {
    try {
      // Safe even if launch failed part-way: it tears down whatever was started.
      await DBOS.shutdown({ deregister: true });
    } finally {
      proc.noDeprecation = noDeprecation;
    }
  }
  return result;
}

async function checkedRun(run: () => Promise<number | null>, steps: number): Promise<void> {
  const last = await run();
  if (last !== steps - 1) throw new Error(`DBOS workflow of ${steps} steps returned ${String(last)}`);
}

function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  // Nearest-rank p95.
  const p95 = sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]!;
  return { median, p95 };
}

/** Version from the package.json of the @dbos-inc/dbos-sdk that Node actually resolves. */
function dbosVersion(): string {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve('@dbos-inc/dbos-sdk'));
    for (;;) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === '@dbos-inc/dbos-sdk' && pkg.version) return pkg.version;
      }
      const parent = dirname(dir);
      if (parent === dir) return 'unknown';
      dir = parent;
    }
  } catch {
    return 'unknown';
  }
}
