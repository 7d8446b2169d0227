import { setTimeout as sleep } from "node:timers/promises";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { createLogger, defineWorkflow, WorkflowClient, WorkflowStatus } from "../../src/index.js";
import { startLocalRuntime, type LocalRuntime } from "../../src/local/index.js";
import { deserialize } from "../../src/serialization.js";
import type { StepRecord, WorkflowRecord } from "../../src/types.js";
import { CRASH_POINTS, FaultInjector, SeededRandom, TransientFault, withFaults, type FaultRule } from "../../src/testing/index.js";
import { Journal, journalingStore } from "./journal.js";
import { checkInvariants, type Violations } from "./invariants.js";

export interface ChaosOptions {
  seed: number;
  /** Workflows started (forks come on top). */
  workflows: number;
  /** How long workflows are started, steered and faulted. @default 15000 */
  actionMs?: number;
  /** Chance per opportunity of each crash point and transient fault. @default 0.03 */
  faultRate?: number;
  /** How long to wait for quiescence once faults stop. @default 90000 */
  quiescenceMs?: number;
  /** Where progress lines go. @default console.log */
  print?: (line: string) => void;
}

export interface ChaosReport extends Violations {
  seed: number;
  workflows: number;
  faultsInjected: number;
  forks: number;
  cancels: number;
  resumes: number;
  bodyStarts: number;
  stepsRecorded: number;
  statuses: Record<string, number>;
  faults: Record<string, number>;
  durationMs: number;
}

/** A durable operation of a chaos workflow's plan. */
export type Op =
  | { t: "step"; ms: number; /** the first `fails` starts of the body throw */ fails: number; maxAttempts: number }
  | { t: "sleep"; ms: number };

export interface Plan {
  tag: string;
  ops: Op[];
}

/** What a plan's workflow returns: the outputs of its steps, in order. */
export function expectedOutput(plan: Plan): string[] {
  return plan.ops.flatMap((op, i) => (op.t === "step" ? [`${plan.tag}:${i + 1}`] : []));
}

function makePlan(rng: SeededRandom, index: number): Plan {
  const ops: Op[] = [];
  const count = rng.int(2, 6);
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.15)) {
      ops.push({ t: "sleep", ms: rng.int(0, 1_500) });
      continue;
    }
    const roll = rng.next();
    // Mostly healthy steps; some fail and recover by retrying; a few fail past their retries (ERROR, then resumable).
    if (roll < 0.15) ops.push({ t: "step", ms: rng.int(0, 150), fails: rng.int(1, 2), maxAttempts: 3 });
    else if (roll < 0.2) ops.push({ t: "step", ms: rng.int(0, 100), fails: 1, maxAttempts: 1 });
    else ops.push({ t: "step", ms: rng.int(0, 200), fails: 0, maxAttempts: 1 });
  }
  return { tag: `w${index}-${rng.int(0, 1e6)}`, ops };
}

const TERMINAL: readonly string[] = [WorkflowStatus.SUCCESS, WorkflowStatus.ERROR, WorkflowStatus.CANCELLED, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED];

/**
 * Run many seeded workflows at once under random crashes, throttling and SQS
 * failures while cancelling, resuming and forking them at random; then stop the
 * faults, wait for quiescence and check the invariants (see invariants.ts).
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const print = options.print ?? ((line: string) => console.log(line));
  const actionMs = options.actionMs ?? 15_000;
  const rate = options.faultRate ?? 0.03;
  const rng = new SeededRandom(options.seed);
  const journal = new Journal();

  const workflow = defineWorkflow("chaos.plan", async (ctx, plan: Plan) => {
    const outputs: string[] = [];
    for (const [i, op] of plan.ops.entries()) {
      const functionId = i + 1;
      if (op.t === "sleep") {
        await ctx.sleep(op.ms);
        continue;
      }
      outputs.push(
        await ctx.step(
          `op${functionId}`,
          async () => {
            journal.bodyStarted(ctx.workflowId, functionId);
            if (op.ms > 0) await sleep(op.ms);
            if (journal.starts(ctx.workflowId, functionId) <= op.fails) throw new Error(`planned failure of step ${functionId}`);
            return `${plan.tag}:${functionId}`;
          },
          { retries: { maxAttempts: op.maxAttempts, intervalMs: 200, backoffRate: 1.5 } },
        ),
      );
    }
    return outputs;
  });

  const faultRules: FaultRule[] = [
    ...CRASH_POINTS.map((point) => ({ point, probability: rate })),
    { point: TransientFault.storeThrottle, probability: rate },
    { point: TransientFault.storeLostResponse, probability: rate / 2 },
    { point: TransientFault.queueSendFailure, probability: rate },
    { point: TransientFault.visibilityFailure, probability: 0.2 },
  ];
  const faults = new FaultInjector({ seed: options.seed, rules: faultRules });
  const layers = withFaults(faults, { wrapStore: (store) => journalingStore(store, journal) });

  const rt: LocalRuntime = await startLocalRuntime({
    workflows: [workflow],
    visibilityTimeoutSeconds: 5,
    functionTimeoutMs: 4_000,
    maxReceiveCount: 6,
    maxConcurrency: 4,
    logger: createLogger((process.env.CAIRN_LOG_LEVEL?.toUpperCase() as "SILENT" | undefined) ?? "SILENT"),
    ...layers,
  });
  try {
    // The control plane sees no faults, but its writes are journaled too.
    const client = new WorkflowClient({ store: journalingStore(rt.store, journal), queue: rt.queue });
    const plans = new Map<string, Plan>();
    const forks: { original: string; fork: string; startStep: number }[] = [];

    // Act 1: start, steer and fault.
    const startAt = Array.from({ length: options.workflows }, () => rng.int(0, Math.floor(actionMs * 0.6)));
    const starter = (async () => {
      const order = startAt.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at);
      for (const { at, i } of order) {
        const wait = started + at - Date.now();
        if (wait > 0) await sleep(wait);
        const plan = makePlan(rng, i);
        const id = `chaos-${options.seed}-${i}`;
        plans.set(id, plan);
        await client.startWorkflow(workflow, plan, { workflowId: id });
      }
    })();

    // One steering action per workflow at a time: the journal learns of a cancel or a
    // resume when its call returns, so a cancel and a resume of one workflow in flight
    // together could leave it believing the wrong one landed last. (Those races are
    // tested on their own in test/faults/races.test.ts, against the store's truth.)
    const steering = new Set<string>();
    const steer = async (): Promise<void> => {
      const ids = [...plans.keys()];
      if (ids.length === 0) return;
      const roll = rng.next();
      const cancelled = [...journal.cancelled];
      // Resumes go mostly to cancelled workflows (elsewhere they are refused, which is tested too).
      const id = roll >= 0.3 && roll < 0.75 && cancelled.length > 0 && rng.chance(0.8) ? rng.pick(cancelled) : rng.pick(ids);
      if (steering.has(id)) return;
      steering.add(id);
      try {
        await steerOne(id, roll);
      } finally {
        steering.delete(id);
      }
    };
    const steerOne = async (id: string, roll: number): Promise<void> => {
      const startedAt = Date.now();
      if (roll < 0.3) {
        const wait = rng.chance(0.3);
        const out = await client.cancelWorkflow(id, wait ? { wait: true, timeoutMs: 15_000 } : {}).catch((err: unknown) => err as Error);
        const ok = !(out instanceof Error);
        const status = ok ? out.status : undefined;
        if (status === WorkflowStatus.CANCELLED) journal.cancelled.add(id);
        journal.events.push({ type: "cancel", workflowId: id, startedAt, endedAt: Date.now(), ok, ...(status ? { status } : {}) });
      } else if (roll < 0.75) {
        // Resume: mark it before the write lands, so bodies of the new generation never count as "after cancel".
        const wasCancelled = journal.cancelled.delete(id);
        const ok = await client.resumeWorkflow(id).then(
          () => true,
          () => false,
        );
        if (!ok && wasCancelled) {
          const s = await client.getWorkflowStatus(id);
          if (s.status === WorkflowStatus.CANCELLED) journal.cancelled.add(id);
        }
        journal.events.push({ type: "resume", workflowId: id, startedAt, endedAt: Date.now(), ok });
      } else {
        const recorded = await rt.store.countSteps(id);
        const startStep = rng.int(1, recorded + 1);
        const forkId = `${id}-f${forks.length}`;
        const ok = await client.forkWorkflow(id, startStep, { workflowId: forkId }).then(
          () => true,
          () => false,
        );
        if (ok) {
          forks.push({ original: id, fork: forkId, startStep });
          plans.set(forkId, plans.get(id)!);
        }
        journal.events.push({ type: "fork", workflowId: id, startedAt, endedAt: Date.now(), ok, forkId, startStep });
      }
    };
    const actions: Promise<void>[] = [];
    while (Date.now() - started < actionMs) {
      await sleep(rng.int(20, 250));
      if (actions.length < 400) actions.push(steer().catch((err: unknown) => print(`steering error (ignored): ${String(err)}`)));
    }
    await starter;
    await Promise.all(actions);
    faults.disable();
    print(`action phase over after ${Date.now() - started} ms: ${plans.size} workflows (${forks.length} forks), ${faults.total} faults injected`);

    // Act 2: heal and wait for quiescence. Workflows that a fault sent to the
    // dead-letter queue are resumed, as an operator would once the cause is fixed.
    const deadline = Date.now() + (options.quiescenceMs ?? 90_000);
    let records = new Map<string, WorkflowRecord | undefined>();
    for (;;) {
      records = new Map(await Promise.all([...plans.keys()].map(async (id) => [id, await rt.store.getWorkflow(id)] as const)));
      const now = Date.now();
      const unhealed = [...records.values()].filter((r) => r?.status === WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED);
      for (const r of unhealed) {
        journal.cancelled.delete(r!.workflowId);
        const startedAt = Date.now();
        const ok = await client.resumeWorkflow(r!.workflowId).then(
          () => true,
          () => false,
        );
        journal.events.push({ type: "resume", workflowId: r!.workflowId, startedAt, endedAt: Date.now(), ok });
      }
      const busy = [...records.entries()].filter(([, r]) => !r || !TERMINAL.includes(r.status) || (r.running !== undefined && r.running.until > now));
      if (busy.length === 0 && unhealed.length === 0) break;
      if (Date.now() > deadline) {
        print(`not quiescent after ${options.quiescenceMs ?? 90_000} ms: ${busy.map(([id, r]) => `${id}=${r?.status}`).join(", ")}`);
        break;
      }
      await sleep(500);
    }
    const queueLeftovers = await drainedDepth(rt, 20_000);

    // Assess
    const steps = new Map<string, StepRecord[]>();
    for (const id of plans.keys()) steps.set(id, (await rt.store.loadState(id))?.steps ?? []);
    const violations = checkInvariants({
      journal,
      plans,
      records,
      steps,
      forks,
      queueLeftovers,
      expectedOutput,
      // Only a planned failure may fail a workflow; with crashes counted as attempts, any step planned to fail can.
      canFail: (plan, record) => {
        // A claim whose invocation died uses up an attempt. A crash kills every record of its
        // batch, so any injected crash (or lost claim answer) can exhaust a step; no run without one can.
        if (record.error?.name === "StepAttemptsExhaustedError") {
          return faults.log.some((f) => (CRASH_POINTS as readonly string[]).includes(f.point) || f.point === TransientFault.storeLostResponse);
        }
        const step = Number(/^planned failure of step (\d+)$/.exec(record.error?.message ?? "")?.[1]);
        const op = plan.ops[step - 1];
        return op?.t === "step" && op.fails > 0;
      },
      decode: deserialize,
    });
    const statusCounts: Record<string, number> = {};
    for (const r of records.values()) statusCounts[r?.status ?? "missing"] = (statusCounts[r?.status ?? "missing"] ?? 0) + 1;
    return {
      seed: options.seed,
      workflows: options.workflows,
      faultsInjected: faults.total,
      ...violations,
      forks: forks.length,
      cancels: journal.events.filter((e) => e.type === "cancel").length,
      resumes: journal.events.filter((e) => e.type === "resume" && e.ok).length,
      bodyStarts: journal.bodies.length,
      stepsRecorded: [...steps.values()].reduce((n, s) => n + s.length, 0),
      statuses: statusCounts,
      faults: faults.counts(),
      durationMs: Date.now() - started,
    };
  } finally {
    await rt.stop();
  }
}

/** Messages still in the work queue and dead-letter queue once they had time to drain. */
async function drainedDepth(rt: LocalRuntime, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let depth = 0;
    for (const queueUrl of [rt.queueUrl, rt.deadLetterQueueUrl]) {
      const out = await rt.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
        }),
      );
      const a = out.Attributes ?? {};
      depth += Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
    }
    if (depth === 0 || Date.now() > deadline) return depth;
    await sleep(250);
  }
}

/** True when the report shows no violated invariant. */
export function isClean(report: ChaosReport): boolean {
  return (
    report.lost === 0 &&
    report.stepsRecordedTwice === 0 &&
    report.stepsAfterCancel === 0 &&
    report.reRunAfterResume === 0 &&
    report.forkMismatches === 0 &&
    report.wrongResults === 0 &&
    report.queueLeftovers === 0
  );
}

/** The report's one line of JSON, the required keys first (violation details are printed apart). */
export function reportLine(r: ChaosReport): string {
  const { seed, workflows, faultsInjected, lost, stepsRecordedTwice, stepsAfterCancel, reRunAfterResume, forkMismatches, details: _details, ...rest } = r;
  return JSON.stringify({ seed, workflows, faultsInjected, lost, stepsRecordedTwice, stepsAfterCancel, reRunAfterResume, forkMismatches, ...rest });
}
