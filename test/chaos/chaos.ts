import { setTimeout as sleep } from "node:timers/promises";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import {
  createLogger,
  defineQueue,
  defineWorkflow,
  DuplicateWorkflowError,
  WorkflowClient,
  WorkflowNotFoundError,
  WorkflowStatus,
  type ChildWorkflowHandle,
  type EnqueueOptions,
  type QueueDefinition,
  type WorkflowDefinition,
} from "../../src/index.js";
import { startLocalRuntime, type LocalRuntime } from "../../src/local/index.js";
import { deserialize } from "../../src/serialization.js";
import { workflowKey } from "../../src/store/records.js";
import type { QueuePlace, StepRecord, WorkflowRecord } from "../../src/types.js";
import { CRASH_POINTS, FaultInjector, SeededRandom, TransientFault, withFaults, type FaultRule } from "../../src/testing/index.js";
import { isPayload, Journal, journalingStore, type Payload } from "./journal.js";
import { cancelledApart, checkInvariants, placeKey, QueueMeter, type EventRead, type Violations } from "./invariants.js";

export interface ChaosOptions {
  seed: number;
  /** Top-level workflows started (their children and the forks come on top). */
  workflows: number;
  /** How long workflows are started, steered and faulted. @default 15000 */
  actionMs?: number;
  /** Chance per opportunity of each crash point and transient fault. @default 0.03 */
  faultRate?: number;
  /** How long to wait for quiescence once faults stop. @default 90000 */
  quiescenceMs?: number;
  /** Where progress lines go. @default console.log */
  print?: (line: string) => void;
  /** Start some workflows on queues (with priorities, partitions, deduplication ids), and steer workflows into queues. @default true */
  queues?: boolean;
  /**
   * The queue-heavy run: every one of the `workflows` (simple plans: steps and
   * sleeps) starts at once on one queue of concurrency `heavyConcurrency`, under
   * the faults, without steering; the faults stay on until all have ended.
   */
  queueHeavy?: boolean;
  /** @default 3 */
  heavyConcurrency?: number;
  /** How often the queues' state is sampled. @default 100 */
  sampleEveryMs?: number;
  /** The work queue's visibility timeout and the worker's function timeout. @default 5 s and 4 s; queue-heavy: 3 s and 2.5 s */
  visibilityTimeoutSeconds?: number;
  functionTimeoutMs?: number;
}

export interface ChaosReport extends Violations {
  seed: number;
  workflows: number;
  faultsInjected: number;
  forks: number;
  /** Child workflows the plans started (grandchildren included). */
  children: number;
  cancels: number;
  /** Cancels with wait that returned idle, and how many of them cascaded to descendants. */
  idleCancels: number;
  cascades: number;
  resumes: number;
  bodyStarts: number;
  stepsRecorded: number;
  /** Messages delivered (workflow sends and client sends), received, and recvs that timed out. */
  messagesSent: number;
  messagesReceived: number;
  recvTimeouts: number;
  /** Client messages sent with an idempotency key (each several times at once). */
  clientSends: number;
  /** Messages the harness sent to workflows blocked for good on a recv without timeout (see "quiescence"). */
  fillers: number;
  /** Events read with client.getEvent after quiescence. */
  eventsChecked: number;
  /** Workflows started on a queue (forks and resumes into queues come on top: `queueEnters` counts every entry into a line). */
  queued: number;
  queueEnters: number;
  /** Workflows admitted from the lines (one per entry), passes that landed, resumes into a queue and past it, forks onto a queue. */
  admissions: number;
  admissionPasses: number;
  /** Admissions by a pass that left others waiting in the line it read (those where the order of admission shows). */
  contestedAdmissions: number;
  queueResumes: number;
  bypassResumes: number;
  queueForks: number;
  /** Queued workflows cancelled and at once resumed into the queue they were in. */
  requeues: number;
  /** Duplicate starts with a held deduplication id: tried, refused (DuplicateWorkflowError), started; ids checked released at the end. */
  dedupProbes: number;
  dedupRefused: number;
  dedupStarted: number;
  dedupReleased: number;
  /** Looks at the queues, and per place the most workflows seen holding a slot, PENDING among them, PENDING past the queue (bypassed), waiting. */
  queueSamples: number;
  queueMost: Record<string, { holding: number; pending: number; bypassing: number; waiting: number }>;
  statuses: Record<string, number>;
  faults: Record<string, number>;
  durationMs: number;
}

/** A durable operation of a chaos workflow's plan: each is exactly one operation, so op i is functionId i + 1. */
export type Op =
  | { t: "step"; ms: number; /** the first `fails` starts of the body throw */ fails: number; maxAttempts: number }
  | { t: "sleep"; ms: number }
  /**
   * ctx.startWorkflow of a child running `plan`, under the default id `${parentId}-${functionId}`
   * or (`explicit`) one the code gives, `${parentId}.k${functionId}`: derived from the parent's
   * id, as a fixed one would be taken by the same child of the parent's other instances (a
   * fork's children are new workflows running the same plan, and only the fork's own explicit
   * child ids get its prefix).
   */
  | { t: "start"; plan: Plan; explicit?: true }
  /** getResult of the child the op at index `start` started. */
  /** getResult of the child the op at index `start` started; `catches`: the code catches the child's error (and returns nothing of it either way). */
  | { t: "await"; start: number; catches?: true }
  | { t: "invoke"; plan: Plan; explicit?: true; catches?: true }
  | { t: "send"; to: string; topic: string }
  | { t: "recv"; topic: string; timeoutMs?: number }
  | { t: "setEvent"; key: string; value: number }
  | { t: "getEvent"; from: string; key: string; timeoutMs: number };

export interface Plan {
  tag: string;
  ops: Op[];
}

/** What a plan's workflow returns: the outputs of its steps and of the children it awaited, in order. */
export function expectedOutput(plan: Plan): unknown[] {
  return plan.ops.flatMap((op, i): unknown[] => {
    if (op.t === "step") return [`${plan.tag}:${i + 1}`];
    if (op.t === "invoke") return op.catches ? [] : [expectedOutput(op.plan)];
    if (op.t === "await") {
      if (op.catches) return [];
      const start = plan.ops[op.start];
      return start?.t === "start" ? [expectedOutput(start.plan)] : [];
    }
    return [];
  });
}

/** The plan and the plans of every child it starts, at any depth. */
export function planTree(plan: Plan): Plan[] {
  return [plan, ...plan.ops.flatMap((op) => (op.t === "start" || op.t === "invoke" ? planTree(op.plan) : []))];
}

const EVENT_KEYS = ["progress", "phase"];
/** How long quiescence waits on workflows that are stuck (waiting for what is already there) before it reports them. */
const STUCK_GIVE_UP_MS = 15_000;
/** Child plans reach at most this depth below the root. */
const MAX_DEPTH = 2;

/** The queues of a chaos run: a pool, a rate limit, priorities and partitions. */
export const CHAOS_QUEUES = {
  pool: defineQueue("chaos-pool", { concurrency: 3 }),
  metered: defineQueue("chaos-metered", { rateLimit: { limit: 2, periodMs: 1_500 } }),
  ranked: defineQueue("chaos-ranked", { concurrency: 1, priorityEnabled: true }),
  tenants: defineQueue("chaos-tenants", { concurrency: 1, partitioned: true }),
} as const;
const PARTITIONS = ["a", "b"];
const HEAVY_QUEUE = "chaos-heavy";

type QueueOptions = EnqueueOptions & { queueName: string };

/**
 * Options that put a workflow of `plan` into one of the chaos queues, at random. A plan
 * that may wait for a client message for good (a recv without timeout: at the end, the
 * harness's fillers answer it) goes only to queues that hold more than one at once, so
 * that a line of concurrency 1 does not wait behind each such workflow in turn.
 */
function queueOptions(rng: SeededRandom, plan: Plan): QueueOptions {
  const waitsForGood = plan.ops.some((op) => op.t === "recv" && op.timeoutMs === undefined);
  const queue = CHAOS_QUEUES[rng.pick(waitsForGood ? (["pool", "metered"] as const) : (["pool", "metered", "ranked", "tenants"] as const))];
  return {
    queueName: queue.name,
    ...(queue.priorityEnabled && rng.chance(0.8) ? { priority: rng.int(1, 4) } : {}),
    ...(queue.partitioned ? { partitionKey: rng.pick(PARTITIONS) } : {}),
  };
}

/**
 * Whether a plan may wait in a queue's line. A plan that exchanges messages with
 * a partner may not: in a line of concurrency 1 behind its partner, which holds
 * the slot while it waits for this one's message, neither would ever go on (a
 * deadlock of the workload, not of the runtime). Client messages ("hook") come
 * from outside, and children never wait in lines, so those are fine.
 */
const queueable = (plan: Plan): boolean => !plan.ops.some((op) => op.t === "send" || op.t === "getEvent" || (op.t === "recv" && op.topic !== "hook"));

/** A few plain operations (steps and sleeps): duplicates' and the queue-heavy run's plans. */
function simplePlan(rng: SeededRandom, tag: string, count: number): Plan {
  return { tag, ops: Array.from({ length: count }, () => plainOp(rng)) };
}

function plainOp(rng: SeededRandom): Op {
  if (rng.chance(0.15)) return { t: "sleep", ms: rng.int(0, 1_500) };
  const roll = rng.next();
  // Mostly healthy steps; some fail and recover by retrying; a few fail past their retries (ERROR, then resumable).
  if (roll < 0.15) return { t: "step", ms: rng.int(0, 150), fails: rng.int(1, 2), maxAttempts: 3 };
  if (roll < 0.2) return { t: "step", ms: rng.int(0, 100), fails: 1, maxAttempts: 1 };
  return { t: "step", ms: rng.int(0, 200), fails: 0, maxAttempts: 1 };
}

/** A few waits for a child catch its error, so a parent can finish SUCCESS with a child that failed or was cancelled. */
const catches = (rng: SeededRandom): { catches?: true } => (rng.chance(0.2) ? { catches: true } : {});

/** Ops of one workflow at `depth`: steps and sleeps, events, and (above the deepest level) children started and awaited. */
function makeOps(rng: SeededRandom, depth: number, tag: string, count: number): Op[] {
  const ops: Op[] = [];
  const waiting: { start: number; after: number }[] = [];
  const flush = (all: boolean) => {
    for (const w of [...waiting]) {
      if (!all && w.after-- > 0) continue;
      ops.push({ t: "await", start: w.start, ...catches(rng) });
      waiting.splice(waiting.indexOf(w), 1);
    }
  };
  for (let i = 0; i < count; i++) {
    const childChance = depth === 0 ? 0.22 : depth < MAX_DEPTH ? 0.18 : 0;
    if (rng.chance(childChance)) {
      const childTag = `${tag}.${ops.length + 1}`;
      const plan: Plan = { tag: childTag, ops: makeOps(rng, depth + 1, childTag, rng.int(1, depth === 0 ? 4 : 3)) };
      const childId = rng.chance(0.3) ? { explicit: true as const } : {};
      if (rng.chance(0.45)) {
        ops.push({ t: "invoke", plan, ...childId, ...catches(rng) });
      } else {
        ops.push({ t: "start", plan, ...childId });
        // Awaited after 0-2 more ops; now and then never awaited (the child runs on its own).
        if (!rng.chance(0.1)) waiting.push({ start: ops.length - 1, after: rng.int(0, 2) });
      }
    } else if (rng.chance(0.1)) {
      ops.push({ t: "setEvent", key: rng.pick(EVENT_KEYS), value: rng.int(0, 1e6) });
    } else {
      ops.push(plainOp(rng));
    }
    flush(false);
  }
  flush(true);
  return ops;
}

/** Client messages ("hook") some top-level workflows wait for: the harness sends them, each several times with one idempotency key. */
function addHooks(rng: SeededRandom, ops: Op[]): void {
  const hooks = rng.int(1, 2);
  for (let h = 0; h < hooks; h++) {
    const at = rng.int(0, ops.length);
    ops.splice(at, 0, { t: "recv", topic: "hook", ...(rng.chance(0.5) ? { timeoutMs: rng.int(500, 4_000) } : {}) });
    // An await names its start by index: those after the insertion moved by one.
    for (const op of ops) if (op.t === "await" && op.start >= at) op.start++;
  }
}

/**
 * Two workflows that talk: a script of exchanges (one sends on a topic, the
 * other receives it), projected onto each side in the same order, so neither
 * ever waits for a message its partner sends only after waiting itself. Some
 * recvs have a timeout (the message then waits for the next recv of its topic);
 * one side may set an event the other reads with ctx.getEvent.
 */
function makePair(rng: SeededRandom, a: { id: string; tag: string }, b: { id: string; tag: string }): [Plan, Plan] {
  const opsA: Op[] = [];
  const opsB: Op[] = [];
  const exchanges = rng.int(2, 4);
  for (let e = 0; e < exchanges; e++) {
    if (rng.chance(0.4)) (rng.chance(0.5) ? opsA : opsB).push(plainOp(rng));
    const aSends = rng.chance(0.5);
    const topic = rng.pick(["t0", "t1"]);
    const timeout = rng.chance(0.35) ? { timeoutMs: rng.int(200, 3_000) } : {};
    (aSends ? opsA : opsB).push({ t: "send", to: aSends ? b.id : a.id, topic });
    (aSends ? opsB : opsA).push({ t: "recv", topic, ...timeout });
  }
  if (rng.chance(0.5)) {
    const key = rng.pick(EVENT_KEYS);
    opsA.push({ t: "setEvent", key, value: rng.int(0, 1e6) });
    opsB.push({ t: "getEvent", from: a.id, key, timeoutMs: rng.int(200, 2_000) });
  }
  if (rng.chance(0.3)) {
    // A last op of a single workflow's kind (a child, maybe): its awaits name starts by index, so shift them.
    const base = opsA.length;
    opsA.push(...makeOps(rng, 0, a.tag, 1).map((op) => (op.t === "await" ? { ...op, start: op.start + base } : op)));
  }
  return [
    { tag: a.tag, ops: opsA },
    { tag: b.tag, ops: opsB },
  ];
}

/** A top-level unit of the workload: one workflow, or two that exchange messages; all started at `at`. */
interface Unit {
  at: number;
  members: { id: string; plan: Plan; queue?: QueueOptions }[];
}

function makeUnits(seed: number, count: number, actionMs: number): Unit[] {
  const rng = new SeededRandom(seed).fork("plans");
  const units: Unit[] = [];
  for (let i = 0; i < count; ) {
    const at = rng.int(0, Math.floor(actionMs * 0.6));
    const member = (j: number) => ({ id: `chaos-${seed}-${j}`, tag: `w${j}-${rng.int(0, 1e6)}` });
    if (i + 1 < count && rng.chance(0.3)) {
      const a = member(i);
      const b = member(i + 1);
      const [planA, planB] = makePair(rng, a, b);
      if (rng.chance(0.25)) addHooks(rng, planB.ops);
      units.push({ at, members: [b, a].map((m) => ({ id: m.id, plan: m.id === a.id ? planA : planB })) });
      i += 2;
    } else {
      const m = member(i);
      const plan: Plan = { tag: m.tag, ops: makeOps(rng, 0, m.tag, rng.int(2, 6)) };
      if (rng.chance(0.2)) addHooks(rng, plan.ops);
      units.push({ at, members: [{ id: m.id, plan }] });
      i += 1;
    }
  }
  return units;
}

/**
 * Put some single workflows of queueable plans on queues (with an rng of
 * their own, so each seed keeps its plans): some with a deduplication id. Those
 * on the priority queue start together, so that they wait in line and are
 * admitted in priority order.
 */
function assignQueues(seed: number, units: Unit[]): void {
  const rng = new SeededRandom(seed).fork("queues");
  const ranked: Unit[] = [];
  for (const unit of units) {
    const member = unit.members[0]!;
    if (unit.members.length !== 1 || !queueable(member.plan) || !rng.chance(0.7)) continue;
    const queue = queueOptions(rng, member.plan);
    member.queue = { ...queue, ...(rng.chance(0.35) ? { deduplicationId: `dd-${member.id}` } : {}) };
    if (queue.queueName === CHAOS_QUEUES.ranked.name) ranked.push(unit);
  }
  const burst = Math.min(...ranked.map((u) => u.at));
  for (const unit of ranked) unit.at = burst;
}

/** The queue-heavy workload: `count` workflows of simple plans, all on one queue, started at once. */
function heavyUnits(seed: number, count: number): Unit[] {
  const rng = new SeededRandom(seed).fork("heavy");
  return Array.from({ length: count }, (_, i) => {
    const id = `chaos-${seed}-${i}`;
    // Steps may fail once and retry, never past their attempts (a crash uses one, so they have a few).
    const ops = simplePlan(rng, `h${i}`, rng.int(1, 3)).ops.map((op) =>
      op.t === "step" ? { ...op, fails: Math.min(op.fails, 1), maxAttempts: 4 } : op.t === "sleep" ? { ...op, ms: Math.min(op.ms, 500) } : op,
    );
    return { at: 0, members: [{ id, plan: { tag: `h${i}-${rng.int(0, 1e6)}`, ops }, queue: { queueName: HEAVY_QUEUE } }] };
  });
}

const TERMINAL: readonly string[] = [WorkflowStatus.SUCCESS, WorkflowStatus.ERROR, WorkflowStatus.CANCELLED, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED];

/** Why a workflow has not ended at a look during quiescence. */
type Blocked =
  /** Running a step, or between operations: it goes on by itself. */
  | { id: string; type: "busy"; detail: string }
  /** Waiting on something that will never come by itself: a message nobody sends any more... */
  | { id: string; type: "recv"; topic: string; step: number }
  /** ...or a child that is blocked itself (or still runs). */
  | { id: string; type: "child"; child: string; step: number }
  /** Waiting although what it waits for is there (a message in its mailbox, a child that ended): a lost wake-up if it lasts. */
  | { id: string; type: "stuck"; detail: string };

const describeBlocked = (b: Blocked): string =>
  b.type === "busy" || b.type === "stuck"
    ? `${b.type}: ${b.detail}`
    : b.type === "recv"
      ? `blocked on recv of "${b.topic}" at step ${b.step}`
      : `blocked on child ${b.child} at step ${b.step}`;

/** The id a plan's workflow gives its child explicitly. */
const explicitChildId = (parentId: string, functionId: number) => `${parentId}.k${functionId}`;

/** The id a child op's child gets (see ensureChild in src/worker/operations.ts). */
function childIdOf(wf: WorkflowRecord, functionId: number, explicit: boolean): string {
  if (!explicit) return `${wf.workflowId}-${functionId}`;
  const given = explicitChildId(wf.workflowId, functionId);
  return wf.forkedFrom ? `${wf.workflowId}-${given}` : given;
}

/**
 * Run many seeded workflows at once under random crashes, throttling and SQS
 * failures while cancelling, resuming and forking them (and their children) at
 * random, with messages between pairs of them and from outside; then stop the
 * faults, wait for quiescence and check the invariants (see invariants.ts).
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const print = options.print ?? ((line: string) => console.log(line));
  const actionMs = options.actionMs ?? 15_000;
  const rate = options.faultRate ?? 0.03;
  const rng = new SeededRandom(options.seed);
  const journal = new Journal();
  const heavy = options.queueHeavy === true;
  const withQueues = heavy || options.queues !== false;
  const units = heavy ? heavyUnits(options.seed, options.workflows) : makeUnits(options.seed, options.workflows, actionMs);
  if (withQueues && !heavy) assignQueues(options.seed, units);
  const queueDefinitions: QueueDefinition[] = heavy
    ? [defineQueue(HEAVY_QUEUE, { concurrency: options.heavyConcurrency ?? 3 })]
    : withQueues
      ? Object.values(CHAOS_QUEUES)
      : [];

  const workflow: WorkflowDefinition<Plan, unknown[]> = defineWorkflow("chaos.plan", async (ctx, plan: Plan) => {
    const outputs: unknown[] = [];
    const handles = new Map<number, ChildWorkflowHandle<unknown[]>>();
    for (const [i, op] of plan.ops.entries()) {
      const functionId = i + 1;
      switch (op.t) {
        case "sleep":
          await ctx.sleep(op.ms);
          break;
        case "step":
          outputs.push(
            await ctx.step(
              `op${functionId}`,
              async () => {
                journal.bodyStarted(ctx.workflowId, functionId);
                if (op.ms > 0) await sleep(op.ms);
                if (journal.starts(ctx.workflowId, functionId) <= op.fails) throw new Error(`planned failure of ${plan.tag} step ${functionId}`);
                return `${plan.tag}:${functionId}`;
              },
              { retries: { maxAttempts: op.maxAttempts, intervalMs: 200, backoffRate: 1.5 } },
            ),
          );
          break;
        case "start":
          handles.set(i, await ctx.startWorkflow(workflow, op.plan, op.explicit ? { workflowId: explicitChildId(ctx.workflowId, functionId) } : {}));
          break;
        case "await":
        case "invoke": {
          const result =
            op.t === "await"
              ? handles.get(op.start)!.getResult()
              : ctx.invoke(workflow, op.plan, op.explicit ? { workflowId: explicitChildId(ctx.workflowId, functionId) } : {});
          if (!op.catches) outputs.push(await result);
          else await result.catch(() => undefined);
          break;
        }
        case "send": {
          const payload: Payload = { mid: `${ctx.workflowId}>${functionId}`, from: ctx.workflowId, topic: op.topic };
          try {
            await ctx.send(op.to, payload, { topic: op.topic });
          } catch (err) {
            // The partner is started just before or after this one: a send that came first is not an error of the plan.
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          }
          break;
        }
        case "recv":
          await ctx.recv({ topic: op.topic, ...(op.timeoutMs !== undefined ? { timeoutMs: op.timeoutMs } : {}) });
          break;
        case "setEvent":
          await ctx.setEvent(op.key, { wf: ctx.workflowId, fid: functionId, v: op.value });
          break;
        case "getEvent":
          await ctx.getEvent(op.from, op.key, { timeoutMs: op.timeoutMs });
          break;
      }
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
    queues: queueDefinitions,
    // The queue-heavy run holds slots through every redelivery: shorter ones keep it to minutes. (An
    // invocation that times out goes on here, unlike on Lambda: keep the timeout well above a batch's work.)
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? (heavy ? 3 : 5),
    functionTimeoutMs: options.functionTimeoutMs ?? (heavy ? 2_500 : 4_000),
    maxReceiveCount: 6,
    maxConcurrency: 4,
    logger: createLogger((process.env.CAIRN_LOG_LEVEL?.toUpperCase() as "SILENT" | undefined) ?? "SILENT"),
    ...layers,
  });
  let stopSampler: (() => Promise<void>) | undefined;
  try {
    // The control plane sees no faults, but its writes are journaled too.
    const client = new WorkflowClient({ store: journalingStore(rt.store, journal), queue: rt.queue, queues: queueDefinitions });
    const plans = new Map<string, Plan>();
    /** Each workflow's tree: a steering action on one member may reach every other (cascades). */
    const rootOf = new Map<string, string>();
    const forks: { original: string; fork: string; startStep: number }[] = [];

    /** Every queue place there is: each unpartitioned queue, and each partition the runs use. */
    const queuePlaces = (): { place: QueuePlace; concurrency?: number }[] =>
      queueDefinitions.flatMap((q) =>
        (q.partitioned ? PARTITIONS.map((partitionKey) => ({ queueName: q.name, partitionKey })) : [{ queueName: q.name }]).map((place) => ({
          place,
          ...(q.concurrency !== undefined ? { concurrency: q.concurrency } : {}),
        })),
      );
    // Sampled straight from the store (no faults, no journal) from now until the end.
    const meter = new QueueMeter(rt.store, journal, queuePlaces);
    const sampler = withQueues ? meter.run(options.sampleEveryMs ?? 100) : undefined;
    stopSampler = sampler?.stop;
    let queueResumes = 0;
    let bypassResumes = 0;
    let queueForks = 0;
    let requeues = 0;

    /** Learn the children of `ids` (their plans are their inputs); returns them. */
    const discoverChildren = async (ids: readonly string[]): Promise<string[]> => {
      const found: string[] = [];
      await Promise.all(
        ids.map(async (id) => {
          for (const childId of await rt.store.childrenOf(id)) {
            found.push(childId);
            if (plans.has(childId)) continue;
            const record = await rt.store.getWorkflow(childId);
            if (!record || plans.has(childId)) continue;
            plans.set(childId, deserialize(record.input) as Plan);
            rootOf.set(childId, rootOf.get(id) ?? id);
          }
        }),
      );
      return found;
    };

    // Act 1: start, steer, message and fault.
    let clientMessages = 0;
    const clientTraffic: Promise<void>[] = [];
    /** Send each "hook" message the workflow waits for, several times at once with one idempotency key; now and then again later. */
    const sendHooks = async (id: string, plan: Plan, crng: SeededRandom): Promise<void> => {
      const hooks = plan.ops.filter((op) => op.t === "recv" && op.topic === "hook").length;
      await sleep(crng.int(0, 3_000));
      for (let k = 1; k <= hooks; k++) {
        const key = `${id}-hook${k}`;
        const copies = crng.int(2, 5);
        const payload = (copy: number): Payload => ({ mid: `client:${id}:${k}`, from: `client:${id}`, topic: "hook", key, copy });
        const outcomes = await Promise.all(
          Array.from({ length: copies }, (_, c) =>
            client.send(id, payload(c), { topic: "hook", idempotencyKey: key }).then(
              () => true,
              () => false,
            ),
          ),
        );
        journal.clientSends.push({ to: id, topic: "hook", key, mid: `client:${id}:${k}`, copies, ok: outcomes.filter(Boolean).length });
        clientMessages++;
        if (crng.chance(0.3)) {
          // The same key once more, after the first copy may have been received: still at most once.
          await sleep(crng.int(200, 1_500));
          await client.send(id, payload(copies), { topic: "hook", idempotencyKey: key }).catch(() => undefined);
        }
        await sleep(crng.int(0, 800));
      }
    };
    const crng = rng.fork("client");
    const dedupTraffic: Promise<void>[] = [];
    /** The latest workflow started with each deduplication id (the one that should hold it). */
    const dedupHolders = new Map<string, { holder: string; queue: QueueOptions }>();
    /** Start a workflow with `queue`'s deduplication id, expecting a refusal naming `holder` while it is ENQUEUED or PENDING. */
    const probeOnce = async (holder: string, workflowId: string, plan: Plan, queue: QueueOptions, track = true): Promise<boolean> => {
      const look = async () => {
        const r = await rt.store.getWorkflow(holder);
        return r ? { status: r.status, generation: r.generation } : undefined;
      };
      const startedAt = Date.now();
      const before = await look();
      // Known before the start, so that quiescence waits for it (and its steps count) if it goes through.
      if (track) {
        plans.set(workflowId, plan);
        rootOf.set(workflowId, workflowId);
      }
      const outcome = await client.startWorkflow(workflow, plan, { workflowId, ...queue }).then(
        () => ({ outcome: "started" as const }),
        (err: unknown) =>
          err instanceof DuplicateWorkflowError ? { outcome: "duplicate" as const, named: err.existingWorkflowId } : { outcome: "error" as const, error: String(err) },
      );
      const after = await look();
      if (track && outcome.outcome !== "started" && (await rt.store.getWorkflow(workflowId)) === undefined) {
        plans.delete(workflowId);
        rootOf.delete(workflowId);
      }
      journal.dedupProbes.push({
        queueName: queue.queueName,
        deduplicationId: queue.deduplicationId!,
        holder,
        workflowId,
        ...outcome,
        ...(before ? { before } : {}),
        ...(after ? { after } : {}),
        startedAt,
        endedAt: Date.now(),
      });
      if (outcome.outcome === "started") dedupHolders.set(queue.deduplicationId!, { holder: workflowId, queue });
      return outcome.outcome === "started";
    };
    /** Now and then during the action phase, start a duplicate of `id` (a short plan): refused while the holder waits or runs. */
    const probeDuplicates = async (id: string, queue: QueueOptions, prng: SeededRandom): Promise<void> => {
      dedupHolders.set(queue.deduplicationId!, { holder: id, queue });
      for (let n = 1; n <= 3; n++) {
        await sleep(prng.int(n === 1 ? 0 : 300, 3_000));
        // Done before the faults stop, so that what it started is steered and faulted like the rest.
        if (Date.now() - started > actionMs - 1_000) return;
        const dupId = `${id}-d${n}`;
        await probeOnce(dedupHolders.get(queue.deduplicationId!)!.holder, dupId, simplePlan(prng, `${dupId}-${prng.int(0, 1e6)}`, prng.int(1, 2)), queue);
      }
    };
    const starter = (async () => {
      if (heavy) {
        // All at once, a few dozen calls at a time.
        const all = units.flatMap((u) => u.members);
        for (const m of all) {
          plans.set(m.id, m.plan);
          rootOf.set(m.id, m.id);
        }
        for (let i = 0; i < all.length; i += 25) {
          await Promise.all(all.slice(i, i + 25).map((m) => client.startWorkflow(workflow, m.plan, { workflowId: m.id, ...m.queue })));
        }
        print(`queue-heavy: ${all.length} workflows started on ${HEAVY_QUEUE} after ${Date.now() - started} ms`);
        return;
      }
      for (const unit of [...units].sort((a, b) => a.at - b.at)) {
        const wait = started + unit.at - Date.now();
        if (wait > 0) await sleep(wait);
        for (const { id, plan, queue } of unit.members) {
          plans.set(id, plan);
          rootOf.set(id, id);
          await client.startWorkflow(workflow, plan, { workflowId: id, ...queue });
          if (queue?.deduplicationId !== undefined) dedupTraffic.push(probeDuplicates(id, queue, crng.fork(`dedup:${id}`)).catch((err: unknown) => print(`dedup probe error (ignored): ${String(err)}`)));
        }
        for (const { id, plan } of unit.members) {
          if (plan.ops.some((op) => op.t === "recv" && op.topic === "hook")) {
            clientTraffic.push(sendHooks(id, plan, crng.fork(id)).catch((err: unknown) => print(`client send error (ignored): ${String(err)}`)));
          }
        }
      }
    })();

    // One steering action per tree at a time: the journal learns of a cancel or a
    // resume when its call returns, so a cancel and a resume of one workflow in flight
    // together could leave it believing the wrong one landed last; a cascade reaches
    // the whole tree. (Those races are tested on their own in test/faults/races.test.ts,
    // against the store's truth.)
    const steering = new Set<string>();
    const steer = async (): Promise<void> => {
      const ids = [...plans.keys()];
      if (ids.length === 0) return;
      const roll = rng.next();
      const cancelled = [...journal.cancelled].filter((id) => plans.has(id));
      // Resumes go mostly to cancelled workflows (elsewhere they are refused, which is tested too);
      // half the cancels to parents, so that they cascade.
      const parents = roll < 0.3 ? ids.filter((id) => plans.get(id)!.ops.some((op) => op.t === "start" || op.t === "invoke")) : [];
      // Some aim at workflows waiting in a queue's line (as the latest look at the queues saw them).
      const waiting = [...meter.waiting].filter((id) => plans.has(id));
      let id =
        waiting.length > 0 && rng.chance(0.2)
          ? rng.pick(waiting)
          : roll >= 0.3 && roll < 0.75 && cancelled.length > 0 && rng.chance(0.8)
            ? rng.pick(cancelled)
            : parents.length > 0 && rng.chance(0.5)
              ? rng.pick(parents)
              : rng.pick(ids);
      // Now and then aim at a child or grandchild instead, so steering hits every level of the trees.
      for (let depth = 0; depth < MAX_DEPTH && rng.chance(0.3); depth++) {
        const children = await discoverChildren([id]);
        if (children.length === 0) break;
        id = rng.pick(children);
      }
      const root = rootOf.get(id) ?? id;
      if (steering.has(root)) return;
      steering.add(root);
      try {
        await steerOne(id, roll);
      } finally {
        steering.delete(root);
      }
    };
    const cancel = async (id: string): Promise<void> => {
      const startedAt = Date.now();
      const wait = rng.chance(0.3);
      const out = await client.cancelWorkflow(id, wait ? { wait: true, timeoutMs: 15_000 } : {}).catch((err: unknown) => err as Error);
      const ok = !(out instanceof Error);
      const status = ok ? out.status : undefined;
      journal.events.push({
        type: "cancel",
        workflowId: id,
        startedAt,
        endedAt: Date.now(),
        ok,
        ...(status ? { status } : {}),
        ...(ok && wait ? { idle: out.idle === true } : {}),
        ...(ok && out.cancelledDescendants ? { cancelledDescendants: out.cancelledDescendants } : {}),
      });
    };
    const resume = async (id: string, queue: QueueOptions | undefined): Promise<void> => {
      const startedAt = Date.now();
      const ok = await client.resumeWorkflow(id, queue ?? {}).then(
        () => true,
        () => false,
      );
      if (ok && queue) queueResumes++;
      if (ok && !queue && journal.queueEnters.some((e) => e.workflowId === id)) bypassResumes++;
      journal.events.push({ type: "resume", workflowId: id, startedAt, endedAt: Date.now(), ok });
    };
    const steerOne = async (id: string, roll: number): Promise<void> => {
      const startedAt = Date.now();
      const line = [...journal.queueEnters].reverse().find((e) => e.workflowId === id);
      if (line && rootOf.get(id) === id && rng.chance(0.15)) {
        // Out of its queue and straight back in: the old run's slot is often still held
        // when the new run's entry is read (the pass must free one and admit the other).
        await cancel(id);
        await resume(id, { queueName: line.place.queueName, ...(line.place.partitionKey !== undefined ? { partitionKey: line.place.partitionKey } : {}) });
        requeues++;
      } else if (roll < 0.3) {
        await cancel(id);
      } else if (roll < 0.75) {
        // Now and then into a queue's line (only a root of a plan that may wait in one), else past any queue.
        await resume(id, withQueues && rootOf.get(id) === id && queueable(plans.get(id)!) && rng.chance(0.35) ? queueOptions(rng, plans.get(id)!) : undefined);
      } else {
        const recorded = await rt.store.countSteps(id);
        const startStep = rng.int(1, recorded + 1);
        const forkId = `${id}-f${forks.length}`;
        const queue = withQueues && queueable(plans.get(id)!) && rng.chance(0.35) ? queueOptions(rng, plans.get(id)!) : undefined;
        const ok = await client.forkWorkflow(id, startStep, { workflowId: forkId, ...queue }).then(
          () => true,
          () => false,
        );
        if (ok && queue) queueForks++;
        if (ok) {
          forks.push({ original: id, fork: forkId, startStep });
          plans.set(forkId, plans.get(id)!);
          rootOf.set(forkId, forkId);
        }
        journal.events.push({ type: "fork", workflowId: id, startedAt, endedAt: Date.now(), ok, forkId, startStep });
      }
    };
    const actions: Promise<void>[] = [];
    if (heavy) {
      // No steering: the faults stay on until every workflow has ended (or the action time, at least 5 minutes, is up).
      await starter;
      const until = started + Math.max(actionMs, 300_000);
      let shown = 0;
      while (Date.now() < until) {
        const ended = [...(await rt.store.getWorkflows([...plans.keys()])).values()].filter((r) => TERMINAL.includes(r.status)).length;
        if (ended === plans.size) break;
        if (Date.now() - shown >= 5_000) {
          shown = Date.now();
          const admitted = journal.admissions.reduce((n, a) => n + a.admitted.length, 0);
          print(`queue-heavy at ${Date.now() - started} ms: ${ended} ended, ${admitted} admitted, now ${JSON.stringify(Object.fromEntries(meter.latest))}, ${faults.total} faults`);
        }
        await sleep(500);
      }
      print(`queue-heavy: every workflow ended (or time ran out) after ${Date.now() - started} ms, faults on throughout`);
    }
    while (!heavy && Date.now() - started < actionMs) {
      await sleep(rng.int(20, 250));
      if (actions.length < 400) actions.push(steer().catch((err: unknown) => print(`steering error (ignored): ${String(err)}`)));
    }
    await starter;
    await Promise.all(actions);
    await Promise.all(clientTraffic);
    await Promise.all(dedupTraffic);
    faults.disable();
    print(`action phase over after ${Date.now() - started} ms: ${plans.size} workflows known (${forks.length} forks), ${faults.total} faults injected`);

    // Act 2: heal and wait for quiescence. Workflows that a fault sent to the
    // dead-letter queue are resumed, as an operator would once the cause is fixed.
    // A workflow may also wait for good, legitimately: on a recv without timeout
    // whose sender was cancelled or forked away, or on a child that does. Once
    // every workflow left is blocked so (and was on the previous look too), each
    // one blocked on a recv gets a message from the harness (a "filler"), and the
    // run goes on until all have ended. A workflow that waits while its mailbox
    // holds a message, or on a child that has ended, is not blocked: it is lost.
    /** Why each busy workflow is not done: running (or about to), or blocked on a recv without timeout or on a running child. */
    const blockedOn = async (busy: readonly string[]): Promise<Blocked[]> => {
      const now = Date.now();
      return Promise.all(
        busy.map(async (id) => {
          const state = await rt.store.loadState(id);
          const wf = state?.workflow;
          if (!state || !wf) return { id, type: "busy" as const, detail: "no record" };
          if (TERMINAL.includes(wf.status)) return { id, type: "busy" as const, detail: "claim still live" };
          if (wf.queued) return { id, type: "busy" as const, detail: `waiting in the line of ${wf.queueName}${wf.partitionKey !== undefined ? `[${wf.partitionKey}]` : ""}` };
          const next = state.steps.reduce((n, s) => Math.max(n, s.functionId), 0) + 1;
          if (wf.running !== undefined && wf.running.until > now && wf.running.step >= next) return { id, type: "busy" as const, detail: `running step ${next}` };
          const op = plans.get(id)?.ops[next - 1];
          if (op?.t === "recv" && op.timeoutMs === undefined) {
            const waiting = await rt.store.oldestMessage(id, op.topic);
            if (!waiting) return { id, type: "recv" as const, topic: op.topic, step: next };
            return { id, type: "stuck" as const, detail: `recv at step ${next} with message ${waiting.messageId} in its mailbox` };
          }
          if (op?.t === "await" || op?.t === "invoke") {
            const child =
              op.t === "await"
                ? state.steps.find((s) => s.functionId === op.start + 1)?.childWorkflowId
                : childIdOf(wf, next, op.explicit === true);
            const childRecord = child === undefined ? undefined : await rt.store.getWorkflow(child);
            if (child !== undefined && (!childRecord || !TERMINAL.includes(childRecord.status))) return { id, type: "child" as const, child, step: next };
            if (child === undefined) return { id, type: "busy" as const, detail: `${op.t} at step ${next} of a child not recorded` };
            return { id, type: "stuck" as const, detail: `${op.t} at step ${next} of child ${child}, which is ${childRecord?.status}` };
          }
          return { id, type: "busy" as const, detail: `${op?.t ?? "end"} at step ${next}` };
        }),
      );
    };
    /** Everything known about one workflow, for a report on why it did not end. */
    const diagnose = async (id: string): Promise<string> => {
      const state = await rt.store.loadState(id);
      const wf = state?.workflow;
      if (!wf) return `  ${id}: no record`;
      const { input: _input, output: _output, ...record } = wf;
      const lines = [`  ${id}: ${JSON.stringify(record)}`];
      for (const s of state.steps) {
        const { workflowId: _w, output, ...step } = s;
        lines.push(`    step ${JSON.stringify({ ...step, ...(output !== undefined ? { output: deserialize(output) } : {}) })}`);
      }
      const plan = plans.get(id);
      const next = plan?.ops[state.steps.reduce((n, s) => Math.max(n, s.functionId), 0)];
      lines.push(`    next op: ${JSON.stringify(next)}`);
      if (next?.t === "recv") lines.push(`    waiters on its "${next.topic}" mailbox: ${JSON.stringify(await rt.store.waitersOf(id, { type: "message", topic: next.topic }))}`);
      lines.push(`    mailbox: ${JSON.stringify((await readMailboxes(rt, [id])).get(id))}`);
      const journaled = [
        ...journal.events.filter((e) => e.workflowId === id || e.cancelledDescendants?.includes(id)).map((e) => ({ at: e.startedAt, what: `${e.type} ${JSON.stringify(e)}` })),
        ...journal.cancelsApplied.filter((c) => c.workflowId === id).map((c) => ({ at: c.at, what: `cancel applied ${JSON.stringify(c)}` })),
        ...journal.resumesApplied.filter((c) => c.workflowId === id).map((c) => ({ at: c.at, what: `resume applied` })),
        ...journal.sent.filter((m) => m.to === id || m.from === id).map((m) => ({ at: m.at, what: `message ${JSON.stringify(m)}` })),
        ...journal.received.filter((m) => m.workflowId === id).map((m) => ({ at: m.at, what: `recv ${JSON.stringify(m)}` })),
        ...journal.writes.filter((w) => w.workflowId === id).map((w) => ({ at: w.at, what: `write ${JSON.stringify(w)}` })),
        ...faults.log.filter((f) => f.workflowId === id).map((f) => ({ at: f.at, what: `fault ${JSON.stringify(f)}` })),
      ].sort((a, b) => a.at - b.at);
      for (const j of journaled) lines.push(`    ${j.at - started} ms: ${j.what}`);
      return lines.join("\n");
    };
    const quiescenceStarted = Date.now();
    const deadline = quiescenceStarted + (options.quiescenceMs ?? 90_000);
    let records = new Map<string, WorkflowRecord | undefined>();
    const childrenFinal = new Set<string>();
    let fillers = 0;
    let lastBlocked = "";
    let unchangedSince = Date.now();
    let fillerRounds = 0;
    let previous = new Map<string, string>();
    for (;;) {
      records = new Map(await Promise.all([...plans.keys()].map(async (id) => [id, await rt.store.getWorkflow(id)] as const)));
      // Children appear while their parent runs: a parent seen ended before its children were listed has them all.
      const unscanned = [...plans.keys()].filter((id) => !childrenFinal.has(id));
      await discoverChildren(unscanned);
      for (const id of unscanned) if (TERMINAL.includes(records.get(id)?.status ?? "")) childrenFinal.add(id);
      const now = Date.now();
      const unhealed = [...records.values()].filter((r) => r?.status === WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED);
      for (const r of unhealed) {
        const startedAt = Date.now();
        const ok = await client.resumeWorkflow(r!.workflowId).then(
          () => true,
          () => false,
        );
        journal.events.push({ type: "resume", workflowId: r!.workflowId, startedAt, endedAt: Date.now(), ok });
        // A resume brings back the children cancelled with it: look at them again.
        childrenFinal.delete(r!.workflowId);
      }
      if (process.env.CAIRN_CHAOS_DEBUG) {
        const left = [...records.values()].filter((r) => !r || !TERMINAL.includes(r.status)).length;
        print(`quiescence look at ${Date.now() - quiescenceStarted} ms: ${left} of ${plans.size} not ended`);
      }
      const busy = [...plans.keys()].filter((id) => {
        const r = records.get(id);
        return !r || !TERMINAL.includes(r.status) || (r.running !== undefined && r.running.until > now);
      });
      if (busy.length === 0 && unhealed.length === 0) {
        print(`quiescent after ${Date.now() - quiescenceStarted} ms (${fillers} fillers in ${fillerRounds} rounds)`);
        break;
      }
      const blocked = unhealed.length === 0 ? await blockedOn(busy) : undefined;
      const signature = blocked && blocked.every((b) => b.type !== "busy") ? JSON.stringify(blocked) : "";
      if (signature !== lastBlocked) {
        lastBlocked = signature;
        unchangedSince = Date.now();
      }
      // A workflow blocked on a recv (on two looks in a row) that nobody will send to any more (every
      // workflow whose plan sends to it has ended or is blocked itself; the client's messages went out
      // before quiescence) gets one message for every recv left in its plan, so it ends in one round.
      const quiet = new Set([
        ...[...records.entries()].filter(([id, r]) => r && TERMINAL.includes(r.status) && !busy.includes(id)).map(([id]) => id),
        ...(blocked ?? []).filter((b) => b.type !== "busy").map((b) => b.id),
      ]);
      const feed = (blocked ?? []).filter(
        (b): b is Extract<Blocked, { type: "recv" }> =>
          b.type === "recv" &&
          previous.get(b.id) === JSON.stringify(b) &&
          [...plans.entries()].every(([id, p]) => quiet.has(id) || !p.ops.some((op) => op.t === "send" && op.to === b.id)),
      );
      previous = new Map((blocked ?? []).map((b) => [b.id, JSON.stringify(b)]));
      for (const b of feed) {
        for (const op of plans.get(b.id)!.ops.slice(b.step - 1)) {
          if (op.t !== "recv") continue;
          const payload: Payload = { mid: `filler:${b.id}:${++fillers}`, from: `filler:${b.id}`, topic: op.topic };
          await client.send(b.id, payload, { topic: op.topic });
        }
        previous.delete(b.id);
      }
      if (feed.length > 0) {
        fillerRounds++;
        if (process.env.CAIRN_CHAOS_DEBUG) print(`filler round at ${Date.now() - quiescenceStarted} ms: ${feed.map((b) => b.id).join(", ")}`);
      }
      // Only stuck workflows (and those waiting on them) left, unchanged for a while: they are lost, no need to wait longer.
      const givingUp = signature !== "" && signature === lastBlocked && Date.now() - unchangedSince > STUCK_GIVE_UP_MS;
      if (Date.now() > deadline || givingUp) {
        const why = blocked ?? (await blockedOn(busy));
        print(
          `not quiescent after ${Date.now() - quiescenceStarted} ms${givingUp ? ` (nothing changed for ${STUCK_GIVE_UP_MS} ms)` : ""}: ${why.map((b) => `${b.id}=${records.get(b.id)?.status}(${describeBlocked(b)})`).join(", ")}`,
        );
        const related = new Set<string>();
        for (const b of why) {
          if (b.type === "recv" || b.type === "child") continue;
          related.add(b.id);
          // The senders of the messages it did not take, the child it waits for.
          for (const m of (await readMailboxes(rt, [b.id])).get(b.id) ?? []) if (plans.has(m.from)) related.add(m.from);
          const child = /of child (\S+),/.exec(b.detail)?.[1];
          if (child) related.add(child);
        }
        for (const id of related) print(await diagnose(id));
        break;
      }
      await sleep(300);
    }

    // Queues at the end: every deduplication id is free again (its holders all ended), and
    // once admission passes ran (the periodic one gives back the slots of workflows that
    // ended), no slot is held and no entry waits in a line.
    const releaseIds: string[] = [];
    for (const { holder, queue } of dedupHolders.values()) {
      const releaseId = `${holder}-released`;
      if (await probeOnce(holder, releaseId, { tag: releaseId, ops: [] }, queue, false)) releaseIds.push(releaseId);
    }
    const releasedBy = Date.now() + 20_000;
    while (releaseIds.length > 0 && Date.now() < releasedBy) {
      const ended = [...(await rt.store.getWorkflows(releaseIds)).values()].filter((r) => TERMINAL.includes(r.status)).length;
      if (ended === releaseIds.length) break;
      await sleep(200);
    }
    const queueCounts = () => Promise.all(queuePlaces().map(async ({ place }) => ({ place, ...(await rt.store.queueCounts(place)) })));
    const settleStarted = Date.now();
    let queueEnd = await queueCounts();
    while (queueEnd.some((q) => q.slots > 0 || q.waiting > 0) && Date.now() - settleStarted < 10_000) {
      await sleep(250);
      queueEnd = await queueCounts();
    }
    await sampler?.stop();
    if (withQueues) {
      print(
        `queues settled after ${Date.now() - settleStarted} ms: ${queueEnd.map((q) => `${placeKey(q.place)} ${q.slots} slots, ${q.waiting} waiting`).join("; ")} (${meter.samples} samples; ${releaseIds.length} of ${dedupHolders.size} deduplication ids taken again)`,
      );
    }

    const drainStarted = Date.now();
    const queueLeftovers = await drainedDepth(rt, 20_000);
    print(`queues drained after ${Date.now() - drainStarted} ms`);

    // Assess
    const steps = new Map<string, StepRecord[]>();
    for (const id of plans.keys()) steps.set(id, (await rt.store.loadState(id))?.steps ?? []);
    const mailboxes = await readMailboxes(rt, [...plans.keys()]);
    const eventsRead: EventRead[] = [];
    for (const [id, list] of steps) {
      for (const key of new Set(list.filter((s) => s.kind === "setEvent").map((s) => s.name))) {
        eventsRead.push({ workflowId: id, key, value: await client.getEvent(id, key, { timeoutMs: 0 }) });
      }
    }
    const violations = checkInvariants({
      journal,
      plans,
      records,
      steps,
      forks,
      mailboxes,
      eventsRead,
      queueLeftovers,
      expectedOutput,
      // Only a planned failure may fail a workflow; with crashes counted as attempts, any step planned to fail can.
      canFail: (plan, record) => {
        const error = record.error;
        const crashes = faults.log.some((f) => (CRASH_POINTS as readonly string[]).includes(f.point) || f.point === TransientFault.storeLostResponse);
        // A claim whose invocation died uses up an attempt. A crash kills every record of its
        // batch, so any injected crash (or lost claim answer) can exhaust a step; no run without one can.
        // (A child's error reaches its parent as is.)
        if (error?.name === "StepAttemptsExhaustedError") return crashes;
        // A child that went to the dead-letter queue: only faults do that.
        if (error?.name === "WorkflowRecoveryExceededError") return faults.total > 0;
        // A child cancelled apart from this workflow (not by a cascade that reached this one too, which its resume undoes).
        if (error?.name === "WorkflowCancelledError") {
          const child = /^Workflow "(.+)" was cancelled$/.exec(error.message ?? "")?.[1];
          return child !== undefined && cancelledApart(journal, child, record.workflowId);
        }
        const planned = /^planned failure of (\S+) step (\d+)$/.exec(error?.message ?? "");
        if (!planned) return false;
        const failing = planTree(plan).find((p) => p.tag === planned[1]);
        const op = failing?.ops[Number(planned[2]) - 1];
        return op?.t === "step" && op.fails > 0;
      },
      decode: deserialize,
      ...(withQueues ? { queues: { definitions: queueDefinitions, meter, leftovers: queueEnd } } : {}),
    });
    const statusCounts: Record<string, number> = {};
    for (const r of records.values()) statusCounts[r?.status ?? "missing"] = (statusCounts[r?.status ?? "missing"] ?? 0) + 1;
    const cancelEvents = journal.events.filter((e) => e.type === "cancel");
    return {
      seed: options.seed,
      workflows: options.workflows,
      faultsInjected: faults.total,
      ...violations,
      forks: forks.length,
      children: [...records.values()].filter((r) => r?.parentWorkflowId !== undefined).length,
      cancels: cancelEvents.length,
      idleCancels: cancelEvents.filter((e) => e.idle === true).length,
      cascades: cancelEvents.filter((e) => (e.cancelledDescendants?.length ?? 0) > 0).length,
      resumes: journal.events.filter((e) => e.type === "resume" && e.ok).length,
      bodyStarts: journal.bodies.length,
      stepsRecorded: [...steps.values()].reduce((n, s) => n + s.length, 0),
      messagesSent: journal.sent.length,
      messagesReceived: journal.received.filter((r) => !r.timedOut).length,
      recvTimeouts: journal.received.filter((r) => r.timedOut).length,
      clientSends: clientMessages,
      fillers,
      eventsChecked: eventsRead.length,
      queued: journal.queueEnters.filter((e) => e.via === "start" && !e.workflowId.endsWith("-released")).length,
      queueEnters: journal.queueEnters.length,
      admissions: journal.admissions.reduce((n, a) => n + a.admitted.length, 0),
      admissionPasses: journal.admissions.length,
      contestedAdmissions: journal.admissions.filter((a) => a.read.length > a.admitted.length + a.dropped.length).reduce((n, a) => n + a.admitted.length, 0),
      queueResumes,
      bypassResumes,
      queueForks,
      requeues,
      dedupProbes: journal.dedupProbes.length,
      dedupRefused: journal.dedupProbes.filter((d) => d.outcome === "duplicate").length,
      dedupStarted: journal.dedupProbes.filter((d) => d.outcome === "started").length,
      dedupReleased: releaseIds.length,
      queueSamples: meter.samples,
      queueMost: Object.fromEntries(meter.most),
      statuses: statusCounts,
      faults: faults.counts(),
      durationMs: Date.now() - started,
    };
  } finally {
    await stopSampler?.();
    await rt.stop();
  }
}

/** The messages left in each workflow's mailbox (see src/store/mailboxes.ts for the layout). */
async function readMailboxes(rt: LocalRuntime, ids: readonly string[]): Promise<Map<string, Payload[]>> {
  const doc = DynamoDBDocumentClient.from(rt.dynamodb);
  const out = new Map<string, Payload[]>();
  for (const id of ids) {
    const left: Payload[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(
        new QueryCommand({
          TableName: rt.tableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :msg)",
          ExpressionAttributeValues: { ":pk": workflowKey(id).pk, ":msg": "msg#" },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        const payload = deserialize(String(item.payload));
        if (isPayload(payload)) left.push(payload);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    out.set(id, left);
  }
  return out;
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

/** The violation counters of a report: every one must be zero. */
export const VIOLATION_KEYS = [
  "lost",
  "stepsRecordedTwice",
  "stepsAfterCancel",
  "reRunAfterResume",
  "forkMismatches",
  "wrongResults",
  "queueLeftovers",
  "stepsAfterIdleCancel",
  "childMismatches",
  "messagesLost",
  "messagesMissed",
  "messagesReceivedTwice",
  "messagesOutOfOrder",
  "clientDuplicates",
  "eventMismatches",
  "forkEventsNotCopied",
  "queueLimitExceeded",
  "rateLimitExceeded",
  "priorityInversions",
  "runWithoutAdmission",
  "dedupMismatches",
  "queueSlotsLeft",
  "queueRecordMismatches",
] as const satisfies readonly (keyof Violations)[];

/** True when the report shows no violated invariant. */
export function isClean(report: ChaosReport): boolean {
  return VIOLATION_KEYS.every((k) => report[k] === 0);
}

/** The report's one line of JSON, the required keys first (violation details are printed apart). */
export function reportLine(r: ChaosReport): string {
  const { seed, workflows, faultsInjected, lost, stepsRecordedTwice, stepsAfterCancel, reRunAfterResume, forkMismatches, details: _details, ...rest } = r;
  return JSON.stringify({ seed, workflows, faultsInjected, lost, stepsRecordedTwice, stepsAfterCancel, reRunAfterResume, forkMismatches, ...rest });
}
