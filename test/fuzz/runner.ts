/**
 * The fuzz of bad and hostile input (`npm run fuzz -- --seed S --budget N`).
 *
 * - workflows.ts    the workflows it runs; their step bodies report every start to a journal and can be held at a gate
 * - fixtures.ts     per round: a workflow running (step 2 held), finished, failed, asleep, cancelled, dead-lettered;
 *                   once per run: a 6.5 MB history and big inputs, for answers near Lambda's 6 MB
 * - values.ts       seeded hostile values (strings, numbers, JSON: deep, wide, tagged, "__proto__")
 * - controlCases.ts Invoke payloads for the control functions
 * - workerCases.ts  SQS records for the worker: malformed, plausible but wrong, the issue's early-claim takeover,
 *                   duplicates of the live message, far-future notBefore, batches
 * - cliCases.ts     arguments of the built CLI; cliRunner.ts runs it, one process per case
 * - eventSource.ts  hands records to the worker and dead-letter handlers as Lambda's SQS event source does
 * - oracle.ts       what every answer is held to, and the counters
 * - runner.ts       rounds of cases, the checks after each round (stranded workflows, duplicate bodies,
 *                   messages left on the queues), the report
 *
 * Each round r draws from `seed`/round r only, so `--round r` (same seed and budget) reproduces it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { SQSRecord } from "aws-lambda";
import { createControlHandler, createDeadLetterHandler, createLogger, createWorker, WorkflowStatus, type ProcessOutcome } from "../../src/index.js";
import { OPERATIONS, WRITE_OPERATIONS, type OperationName } from "../../src/control/operations.js";
import { startLocalRuntime, type LocalRuntime } from "../../src/local/index.js";
import { lambdaContext } from "../../src/local/lambdaContext.js";
import { SeededRandom } from "../../src/testing/random.js";
import { genCliCase, type CliCase } from "./cliCases.js";
import { BUILT_CLI, builtCliExists, runCli } from "./cliRunner.js";
import { genControlCase, type Aim, type ControlCase } from "./controlCases.js";
import { CapturingLogger, deliver, RecordingQueue, sqsRecord, type DeliveryAnswer } from "./eventSource.js";
import { makeGlobalFixtures, makeRoundFixtures, waitTerminal, type GlobalFixtures, type RoundFixtures } from "./fixtures.js";
import {
  controlAnswerProblems,
  COUNTERS,
  describeReason,
  errorProblems,
  failureKind,
  Findings,
  leakIn,
  MAX_ERROR_MESSAGE_CHARS,
  snapshot,
  snapshotDiff,
  type Counter,
  type Finding,
} from "./oracle.js";
import { clip } from "./values.js";
import { genWorkerCase, type WorkerCase } from "./workerCases.js";
import { encodeQueues } from "../../src/queues/queuesEnv.js";
import { BodyJournal, FUZZ_QUEUES, fuzzWorkflows, SLEEP_MS } from "./workflows.js";

export interface FuzzOptions {
  seed: number;
  /** Cases in all (control invocations, worker cases, CLI runs). */
  budget: number;
  /** Run only this round, to reproduce its findings (same seed and budget). */
  round?: number;
  /** @default 40 */
  casesPerRound?: number;
  /** CLI runs within the budget (each is a process). @default min(60, ceil(budget / 80)) */
  cliCases?: number;
  /** The built CLI to run. @default $CAIRN_FUZZ_CLI, else dist/src/cli/main.js (npm run build) */
  cliPath?: string;
  /** Where progress lines go. @default nowhere */
  print?: (line: string) => void;
  /** Print every case with what it was answered (to follow a round that `--round` reproduces). */
  trace?: boolean;
}

export interface FuzzReport extends Record<Counter, number> {
  seed: number;
  cases: number;
  rounds: number;
  findings: Finding[];
  /** Cases by kind. */
  kinds: Record<string, number>;
  notes: string[];
  durationMs: number;
}

/** The line `npm run fuzz` ends with. */
export function reportLine(r: FuzzReport): string {
  return JSON.stringify({
    seed: r.seed,
    cases: r.cases,
    internalErrors: r.internalErrors,
    unintendedStateChanges: r.unintendedStateChanges,
    duplicateBodies: r.duplicateBodies,
    stuckMessages: r.stuckMessages,
    oversizeResponses: r.oversizeResponses,
  });
}

export const isClean = (r: FuzzReport): boolean => COUNTERS.every((c) => r[c] === 0);

const TERMINAL: readonly string[] = [WorkflowStatus.SUCCESS, WorkflowStatus.ERROR, WorkflowStatus.CANCELLED, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED];
/** The work queue's redrive setting in the fuzz stack; the simulated event source honours it too. */
const MAX_RECEIVE_COUNT = 4;
/** Long enough that a step held for a whole round never outlives its delivery. */
const VISIBILITY_SECONDS = 60;
const FUNCTION_TIMEOUT_MS = 58_000;
const DEAD_LETTER_TRIES = 3;
const FIXTURE_REASON = "fuzz fixture: marked as a dead letter would";

interface Where {
  caseId: string;
  round: number;
  input: string;
}

const VALID_ID = /^[A-Za-z0-9_.:@=+-]{1,200}$/;

/** The id of the workflow a start or fork payload asks to create, when it names a valid one. */
function createdId(op: OperationName, event: unknown): string | undefined {
  if (event === null || typeof event !== "object" || Array.isArray(event)) return undefined;
  const id = op === "start" ? (event as { workflowId?: unknown }).workflowId : op === "fork" ? (event as { newWorkflowId?: unknown }).newWorkflowId : undefined;
  return typeof id === "string" && VALID_ID.test(id) ? id : undefined;
}

function workflowIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { workflowId?: unknown } | null)?.workflowId;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

interface QueueMessage {
  messageId: string;
  body: string;
}

/** Every message on a queue of the embedded SQS emulator (ready, in flight, delayed), without receiving any. */
async function inspectQueue(rt: LocalRuntime, queueUrl: string): Promise<{ ready: QueueMessage[]; inflight: QueueMessage[]; delayed: QueueMessage[] }> {
  const name = queueUrl.split("/").pop()!;
  const res = await fetch(`${rt.endpoints.sqs}/_fauxqs/queues/${encodeURIComponent(name)}`);
  const json = (await res.json()) as { messages: { ready: QueueMessage[]; delayed: QueueMessage[]; inflight: { message: QueueMessage }[] } };
  return { ready: json.messages.ready, delayed: json.messages.delayed, inflight: json.messages.inflight.map((e) => e.message) };
}

/** One fuzz run: the embedded stack, the fuzz's own worker, dead-letter and control handlers, and the findings. */
class FuzzRun {
  readonly findings = new Findings();
  readonly kinds: Record<string, number> = {};
  readonly notes: string[] = [];
  cases = 0;
  private readonly journal = new BodyJournal();
  private readonly workflows = fuzzWorkflows(this.journal);
  private readonly realLog = new CapturingLogger();
  private readonly workerLog = new CapturingLogger();
  private readonly deadLetterLog = new CapturingLogger();
  private readonly outcomes = new Map<string, ProcessOutcome>();
  private rt!: LocalRuntime;
  private queue!: RecordingQueue;
  private worker!: ReturnType<typeof createWorker>;
  private deadLetters!: ReturnType<typeof createDeadLetterHandler>;
  private control!: Record<OperationName, ReturnType<typeof createControlHandler>>;
  private global!: GlobalFixtures;
  private readonly probed = new Set<string>();
  private readonly deadSeen = new Set<string>();
  private readonly backgroundSeen = new Set<string>();
  private deadLetterArn = "arn:aws:sqs:us-east-1:000000000000:cairn-work-dlq";

  // The current round.
  private quiescent = new Set<string>();
  private retries: { record: SQSRecord; where: Where }[] = [];
  private pendings: { where: Where; answer: Promise<DeliveryAnswer> }[] = [];
  private tokens: string[] = [];
  /** When each case of the round ran, to name the case during which a body started again. */
  private timeline: { caseId: string; from: number; to: number; input: string }[] = [];
  private lastInput = "";
  private lastAnswer = "";

  readonly cliPath: string;

  constructor(private readonly options: FuzzOptions) {
    this.cliPath = options.cliPath ?? process.env.CAIRN_FUZZ_CLI ?? BUILT_CLI;
  }

  private print(line: string): void {
    this.options.print?.(line);
  }

  async start(): Promise<void> {
    this.rt = await startLocalRuntime({
      workflows: this.workflows,
      queues: FUZZ_QUEUES,
      visibilityTimeoutSeconds: VISIBILITY_SECONDS,
      functionTimeoutMs: FUNCTION_TIMEOUT_MS,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      // One message per invocation: a step held at a gate then holds up no other workflow's
      // sends (the worker sends a batch's next messages when the whole batch is done).
      batchSize: 1,
      maxConcurrency: 6,
      logger: this.realLog,
    });
    this.deadLetterArn = `arn:aws:sqs:us-east-1:000000000000:${this.rt.deadLetterQueueUrl.split("/").pop()}`;
    this.queue = new RecordingQueue(this.rt.queue);
    this.worker = createWorker({
      workflows: this.workflows,
      queues: FUZZ_QUEUES,
      store: this.rt.store,
      queue: this.queue,
      visibilityTimeoutSeconds: VISIBILITY_SECONDS,
      logger: this.workerLog,
      onOutcome: (outcome, record) => this.outcomes.set(record.messageId, outcome),
    });
    this.deadLetters = createDeadLetterHandler({ store: this.rt.store, logger: this.deadLetterLog, maxReceiveCount: MAX_RECEIVE_COUNT });
    const quiet = createLogger("SILENT");
    this.control = Object.fromEntries(
      OPERATIONS.map((op) => [op, createControlHandler(op, { client: this.rt.client, workflows: this.workflows, logger: quiet })]),
    ) as Record<OperationName, ReturnType<typeof createControlHandler>>;
    const started = Date.now();
    this.global = await makeGlobalFixtures(this.rt, "g-", { bigInputs: 12 });
    this.print(`global fixtures ready in ${Date.now() - started} ms`);
  }

  async stop(): Promise<void> {
    this.journal.openAll();
    await this.rt?.stop();
  }

  // ---- Rounds --------------------------------------------------------------------------

  async round(r: number, caseCount: number, cliCount: number): Promise<void> {
    const started = Date.now();
    const rng = new SeededRandom(this.options.seed).fork(`round:${r}`);
    const prefix = `r${r}-`;
    const roundStart = Date.now() - 1;
    const fixtures = await makeRoundFixtures(this.rt, this.journal, prefix);
    const fixturesMs = Date.now() - started;
    this.quiescent = new Set([...Object.values(fixtures), this.global.bulky, ...this.global.bigInputs]);
    this.retries = [];
    this.pendings = [];
    this.tokens = [];
    this.timeline = [];
    const cliSlots = new Set<number>();
    const slotRng = rng.fork("cli");
    while (cliSlots.size < Math.min(cliCount, caseCount)) cliSlots.add(slotRng.int(0, caseCount - 1));
    const canRunCli = builtCliExists(this.cliPath);

    for (let c = 0; c < caseCount; c++) {
      const aim: Aim = { rng: rng.fork(`case:${c}`), prefix, round: fixtures, global: this.global, tokens: this.tokens };
      const caseId = `r${r}.c${c}`;
      const from = Date.now();
      if (cliSlots.has(c)) {
        if (!canRunCli) continue;
        await this.cliCase(genCliCase(aim), caseId, r);
      } else if (aim.rng.chance(0.45)) {
        await this.controlCase(genControlCase(aim), caseId, r);
      } else {
        await this.workerCase(await genWorkerCase(aim, this.rt.store), caseId, r);
      }
      this.timeline.push({ caseId, from, to: Date.now(), input: this.lastInput });
      if (this.options.trace) this.print(`${caseId} ${this.lastInput} -> ${this.lastAnswer}`);
      this.cases++;
    }
    const casesMs = Date.now() - started - fixturesMs;
    await this.endRound(r, fixtures, roundStart);
    this.workerLog.trim();
    this.deadLetterLog.trim();
    this.realLog.trim();
    this.print(
      `round ${r}: ${caseCount} cases in ${Date.now() - started} ms (fixtures ${fixturesMs}, cases ${casesMs}, checks ${Date.now() - started - fixturesMs - casesMs}); findings so far ${COUNTERS.map((k) => `${k} ${this.findings.counters[k]}`).join(", ")}`,
    );
  }

  private count(kind: string): void {
    this.kinds[kind] = (this.kinds[kind] ?? 0) + 1;
  }

  /** A workflow's record and how many step items its partition holds (a failed fork must leave none). */
  private async existence(id: string): Promise<string> {
    const steps = await this.rt.store.countSteps(id).catch((err: unknown) => `? (${describeReason(err)})`);
    return `${await snapshot(this.rt.store, id)} with ${steps} step items`;
  }

  private async snapshots(ids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of ids) if (this.quiescent.has(id)) out.set(id, await snapshot(this.rt.store, id));
    return out;
  }

  // ---- Control functions ---------------------------------------------------------------

  private async controlCase(k: ControlCase, caseId: string, round: number): Promise<void> {
    this.count(`control.${k.op}`);
    const where: Where = { caseId, round, input: `control ${k.op} ${clip(k.payload)}` };
    this.lastInput = where.input;
    const before = await this.snapshots(k.targets);
    const event = JSON.parse(k.payload) as unknown;
    // The workflow a start or fork would create: an error answer leaves no trace of it.
    const created = createdId(k.op, event);
    const existedBefore = created ? await this.existence(created) : undefined;
    let answer: unknown;
    try {
      answer = await this.control[k.op](event, lambdaContext(`cairn-${k.op}`, k.remainingMs));
    } catch (err) {
      this.findings.add("internalErrors", where, `the ${k.op} handler threw: ${describeReason(err)}`);
    }
    for (const p of controlAnswerProblems(answer)) this.findings.add(p.counter, where, `${k.op}: ${p.detail}`);
    const envelope = answer as { ok?: boolean; error?: { code?: string }; result?: { nextToken?: unknown } } | undefined;
    const ok = envelope?.ok === true;
    const code = ok ? "ok" : String(envelope?.error?.code);
    this.lastAnswer = code;
    for (const [id, snap] of before) {
      const after = await snapshot(this.rt.store, id);
      if (after === snap) continue;
      this.quiescent.delete(id);
      // A write that succeeded changes state; a timed-out one may have (as on Lambda, its outcome is unknown).
      if ((ok && WRITE_OPERATIONS.includes(k.op)) || code === "FUNCTION_TIMEOUT") continue;
      this.findings.add("unintendedStateChanges", where, `${k.op} answered ${code} but changed ${id}: ${snapshotDiff(snap, after)}`);
    }
    if (created && !ok && code !== "FUNCTION_TIMEOUT") {
      const existsAfter = await this.existence(created);
      if (existsAfter !== existedBefore) {
        this.findings.add("unintendedStateChanges", where, `${k.op} answered ${code} but left items of workflow ${created}: ${clip(existedBefore!, 100)} -> ${clip(existsAfter, 100)}`);
      }
    }
    const token = envelope?.result?.nextToken;
    if (ok && (k.op === "list" || k.op === "queued") && typeof token === "string" && this.tokens.length < 50) this.tokens.push(token);
  }

  // ---- Worker records ------------------------------------------------------------------

  private judge(answer: DeliveryAnswer, where: Where, handler: string, retry: boolean): void {
    if (answer.thrown !== undefined) this.findings.add("internalErrors", where, `the ${handler} threw instead of answering: ${describeReason(answer.thrown)}`);
    for (const { record, reason } of answer.failed) {
      if (failureKind(reason) === "internal") this.findings.add("internalErrors", where, `the ${handler} failed a record with ${describeReason(reason)}`);
      if (retry) this.retries.push({ record, where });
    }
  }

  private async workerCase(k: WorkerCase, caseId: string, round: number): Promise<void> {
    this.count(`worker.${k.family}`);
    const input = `worker ${k.family} ${k.batches.map((b) => `[${b.map((r) => `${r.messageId.slice(0, 8)} ${clip(r.body, 200)}`).join(" | ")}]`).join(" then ")}`;
    const where: Where = { caseId, round, input };
    this.lastInput = input;
    this.lastAnswer = "";
    for (const batch of k.batches) {
      const before = await this.snapshots(k.targets);
      const records = batch.map((spec) => sqsRecord(spec));
      const answer = await deliver(this.worker, this.workerLog, records, { functionName: "fuzz-worker", timeoutMs: FUNCTION_TIMEOUT_MS, waitMs: 2_000 });
      if (answer.pending) {
        // A step body started and is held at its gate: judged once the round's gates open.
        this.lastAnswer += "[pending: a step body runs]";
        this.pendings.push({ where, answer: answer.pending });
        for (const id of k.targets) this.quiescent.delete(id);
        continue;
      }
      this.judge(answer, where, "worker", true);
      const outcomes: string[] = [];
      for (const record of records) {
        const outcome = this.outcomes.get(record.messageId);
        this.outcomes.delete(record.messageId);
        outcomes.push(outcome ?? (answer.acked.includes(record.messageId) ? "acked" : "failed"));
      }
      this.lastAnswer += `[${outcomes.join(", ")}]`;
      // Every fixture that holds still is where no message may move it: a step held with a live
      // claim, a sleep an hour from its end, or finished. Whatever the worker answered, it changes nothing.
      for (const [id, snap] of before) {
        const after = await snapshot(this.rt.store, id);
        if (after === snap) continue;
        this.quiescent.delete(id);
        this.findings.add("unintendedStateChanges", where, `worker answered ${outcomes.join(", ")} but changed ${id}: ${snapshotDiff(snap, after)}`);
      }
    }
  }

  /**
   * Deliver a failed record again as SQS would: up to maxReceiveCount deliveries to
   * the worker, then to the dead-letter handler. One that the dead-letter handler
   * keeps failing would come back for ever.
   */
  private async redeliver(record: SQSRecord, where: Where): Promise<void> {
    for (let receive = 2; receive <= MAX_RECEIVE_COUNT; receive++) {
      await sleep(25);
      const answer = await deliver(this.worker, this.workerLog, [{ ...record, attributes: { ...record.attributes, ApproximateReceiveCount: String(receive) } }], {
        functionName: "fuzz-worker",
        timeoutMs: FUNCTION_TIMEOUT_MS,
        waitMs: 30_000,
      });
      this.outcomes.delete(record.messageId);
      if (answer.pending) {
        this.findings.add("internalErrors", where, `a redelivery of ${record.messageId} did not answer within 30 s after the round's steps were released`);
        return;
      }
      this.judge(answer, where, "worker", false);
      if (answer.acked.includes(record.messageId)) return;
    }
    let last: unknown;
    for (let attempt = 1; attempt <= DEAD_LETTER_TRIES; attempt++) {
      const answer = await deliver(
        this.deadLetters,
        this.deadLetterLog,
        [sqsRecord({ messageId: record.messageId, body: record.body, receiveCount: String(MAX_RECEIVE_COUNT + attempt) }, this.deadLetterArn)],
        { functionName: "fuzz-dead-letters", timeoutMs: 30_000 },
      );
      if (answer.acked.includes(record.messageId)) return;
      if (attempt === 1) this.judge(answer, where, "dead-letter handler", false);
      last = answer.thrown ?? answer.failed[0]?.reason;
    }
    this.findings.add(
      "stuckMessages",
      where,
      `the dead-letter handler fails ${record.messageId} at every delivery (${describeReason(last)}): it comes back from the dead-letter queue for ever; body ${clip(record.body, 200)}`,
    );
  }

  // ---- CLI -----------------------------------------------------------------------------

  private async cliCase(k: CliCase, caseId: string, round: number): Promise<void> {
    this.count(`cli.${k.args[0]}`);
    const where: Where = { caseId, round, input: `cli ${k.args.map((a) => clip(a, 80)).join(" ")}` };
    this.lastInput = where.input;
    const before = await this.snapshots(k.targets);
    // As a deployment (or `cairn dev`) tells the CLI the queues.
    const run = await runCli(this.cliPath, k.args, { ...this.rt.env, CAIRN_QUEUES: encodeQueues(FUZZ_QUEUES) }, 30_000);
    const problems: string[] = [];
    this.lastAnswer = `exit ${run.code}: ${clip(run.stderr.trim().split("\n")[0] ?? "", 200)}`;
    if (run.timedOut) problems.push("hung for 30 s and was killed");
    else if (run.code === null || ![0, 1, 2].includes(run.code)) problems.push(`exited ${run.code ?? run.signal}: ${clip(run.stderr.slice(-500))}`);
    if (/\n\s+at\s/.test(run.stderr) || /\n\s+at\s/.test(run.stdout)) problems.push(`printed a stack trace: ${clip(run.stderr.slice(0, 500))}`);
    if (run.code === 1) {
      const m = /^cairn: ([A-Za-z0-9_]+): (.*)$/m.exec(run.stderr);
      if (!m) problems.push(`failed without "cairn: CODE: message": ${clip(run.stderr.slice(0, 300))}`);
      else for (const p of errorProblems({ code: m[1], name: "CliError", message: m[2] })) problems.push(p.detail);
    }
    if (run.code === 2) {
      const longest = Math.max(0, ...run.stderr.split("\n").map((l) => l.length));
      if (longest > MAX_ERROR_MESSAGE_CHARS) problems.push(`usage error line of ${longest} characters (unclipped)`);
      const leak = leakIn(run.stderr.replace(/not valid JSON \([^)]*\)/g, ""));
      if (leak && !/Unexpected|JSON/.test(leak)) problems.push(`usage error with leaked text (${leak})`);
    }
    if (run.code === 0 && k.args.includes("--json") && !k.args.includes("--help")) {
      try {
        JSON.parse(run.stdout);
      } catch {
        problems.push(`--json printed something that is not JSON: ${clip(run.stdout.slice(0, 200))}`);
      }
    }
    for (const p of problems) this.findings.add("internalErrors", where, `cli ${k.args[0]}: ${p}`);
    const write = (WRITE_OPERATIONS as readonly string[]).includes(k.args[0]!);
    for (const [id, snap] of before) {
      const after = await snapshot(this.rt.store, id);
      if (after === snap) continue;
      this.quiescent.delete(id);
      if (run.code === 0 && write) continue;
      this.findings.add("unintendedStateChanges", where, `cli ${k.args[0]} exited ${run.code} but changed ${id}: ${snapshotDiff(snap, after)}`);
    }
  }

  // ---- End of a round: release, settle, check ------------------------------------------

  /**
   * The workflows a round may have moved: its fixtures, those created during it, and
   * every one not finished (a resume in this round may have woken an older one).
   */
  private async roundWorkflowIds(since: number, fixtures: RoundFixtures): Promise<string[]> {
    const ids = new Set<string>(Object.values(fixtures));
    const queries = [{ startTime: since }, { status: WorkflowStatus.PENDING }, { status: WorkflowStatus.ENQUEUED }];
    for (const query of queries) {
      let nextToken: string | undefined;
      do {
        const page = await this.rt.store.listWorkflows({ ...query, limit: 1000, ...(nextToken ? { nextToken } : {}) });
        for (const wf of page.items) ids.add(wf.workflowId);
        nextToken = page.nextToken;
      } while (nextToken);
    }
    return [...ids];
  }

  /** Finished, or asleep for long with nothing running: a workflow that will not move before the run ends. */
  private async settled(id: string): Promise<boolean> {
    const state = await this.rt.store.loadState(id);
    if (!state) return true;
    const wf = state.workflow;
    if (TERMINAL.includes(wf.status)) return true;
    const now = Date.now();
    const last = state.steps.reduce<(typeof state.steps)[number] | undefined>((m, s) => (!m || s.functionId > m.functionId ? s : m), undefined);
    const claimLive = wf.running !== undefined && wf.running.until > now && !state.steps.some((s) => s.functionId === wf.running!.step);
    return !claimLive && last?.kind === "sleep" && (last.wakeAt ?? 0) > now + SLEEP_MS / 2;
  }

  private async endRound(r: number, fixtures: RoundFixtures, roundStart: number): Promise<void> {
    const where = (what: string): Where => ({ caseId: `r${r}.end`, round: r, input: what });
    this.journal.openAll();

    // Deliveries that ran into a held step body finish now.
    const pending = this.pendings;
    this.pendings = [];
    for (const p of pending) {
      const answer = await Promise.race([p.answer, sleep(30_000).then(() => undefined)]);
      if (!answer) this.findings.add("internalErrors", p.where, "a worker delivery did not answer within 30 s after the round's steps were released");
      else this.judge(answer, p.where, "worker", true);
    }

    // Failed records come back, as after their visibility timeout, until acknowledged or dead-lettered.
    const retries = this.retries;
    this.retries = [];
    for (let i = 0; i < retries.length; i += 8) await Promise.all(retries.slice(i, i + 8).map((x) => this.redeliver(x.record, x.where)));

    // Every workflow of the round must finish or sleep; one that does neither is stranded.
    const ids = await this.roundWorkflowIds(roundStart, fixtures);
    const deadline = Date.now() + 20_000;
    let unsettled = ids;
    while (unsettled.length > 0 && Date.now() < deadline) {
      await sleep(100);
      const checks = await Promise.all(unsettled.map(async (id) => [id, await this.settled(id)] as const));
      unsettled = checks.filter(([, ok]) => !ok).map(([id]) => id);
    }
    for (const id of unsettled) {
      const wf = await this.rt.store.getWorkflow(id);
      this.findings.add(
        "unintendedStateChanges",
        where(`workflow ${id}`),
        `stranded: ${id} is ${wf?.status} and has not moved for 20 s after the round's steps were released (steps recorded: ${await this.rt.store.countSteps(id)}, claim ${wf?.running ? `on step ${wf.running.step}` : "none"})`,
      );
    }

    // Step bodies that started twice.
    this.checkDuplicates(r);

    // Only the fixture was marked as a dead letter would; a healthy workflow never is.
    for (const id of ids) {
      const wf = await this.rt.store.getWorkflow(id);
      if (wf?.status === WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED && wf.recoveryReason !== FIXTURE_REASON) {
        this.findings.add("unintendedStateChanges", where(`workflow ${id}`), `${id} was marked MAX_RECOVERY_ATTEMPTS_EXCEEDED: ${wf.recoveryReason}`);
      }
    }

    // Stop everything still asleep or running, then nothing may stay on the queues.
    await Promise.all(
      ids.map(async (id) => {
        const wf = await this.rt.store.getWorkflow(id);
        if (wf && !TERMINAL.includes(wf.status)) await this.rt.client.cancelWorkflow(id).catch(() => undefined);
      }),
    );
    await Promise.all(ids.map((id) => waitTerminal(this.rt, id, 10_000).catch(() => undefined)));
    await this.checkQueues(r);
    this.checkBackground(r);
  }

  /**
   * Messages left on the work queue once every workflow of the round is finished:
   * each is delivered now (a copy, to the fuzz's worker, whose sends go nowhere);
   * it must be acknowledged without being sent again. A message sent again when
   * it surfaces (a far-future notBefore re-sent every 15 minutes) is stuck.
   */
  private async checkQueues(r: number): Promise<void> {
    const where = (what: string): Where => ({ caseId: `r${r}.end`, round: r, input: what });
    const drainBy = Date.now() + 5_000;
    let work = await inspectQueue(this.rt, this.rt.queueUrl);
    while (work.ready.length + work.inflight.length > 0 && Date.now() < drainBy) {
      await sleep(100);
      work = await inspectQueue(this.rt, this.rt.queueUrl);
    }
    const left = [...work.ready, ...work.inflight, ...work.delayed].filter((m) => !this.probed.has(m.messageId));
    this.queue.forward = false;
    try {
      for (const m of left) {
        this.probed.add(m.messageId);
        const at = where(`left on the work queue: ${clip(m.body, 300)}`);
        const workflowId = workflowIdOf(m.body);
        const mark = this.queue.sent.length;
        const record = sqsRecord({ messageId: `probe-${m.messageId}`, body: m.body });
        const answer = await deliver(this.worker, this.workerLog, [record], { functionName: "fuzz-worker", timeoutMs: FUNCTION_TIMEOUT_MS, waitMs: 30_000 });
        const outcome = this.outcomes.get(record.messageId);
        this.outcomes.delete(record.messageId);
        if (answer.pending) {
          this.findings.add("stuckMessages", at, "a message left on the queue did not answer within 30 s when delivered");
          continue;
        }
        const again = this.queue.sent.slice(mark).filter((s) => s.message.workflowId === workflowId);
        if (again.length > 0) {
          const wf = workflowId ? await this.rt.store.getWorkflow(workflowId) : undefined;
          this.findings.add(
            "stuckMessages",
            at,
            `a message for ${workflowId} (${wf?.status ?? "no such workflow"}) is sent again when it surfaces (${outcome ?? "no outcome"}; step ${again[0]!.message.step}, notBefore ${again[0]!.message.notBefore ?? "none"}) instead of being dropped`,
          );
        }
        this.judge(answer, at, "worker", false);
        for (const f of answer.failed) await this.redeliver(f.record, at);
      }
    } finally {
      this.queue.forward = true;
    }

    // The dead-letter queue: its handler acknowledges everything but what it marks.
    const dlqBy = Date.now() + 3_000;
    let dead = await inspectQueue(this.rt, this.rt.deadLetterQueueUrl);
    const waiting = () => [...dead.ready, ...dead.inflight, ...dead.delayed].filter((m) => !this.deadSeen.has(m.messageId));
    while (waiting().length > 0 && Date.now() < dlqBy) {
      await sleep(100);
      dead = await inspectQueue(this.rt, this.rt.deadLetterQueueUrl);
    }
    for (const m of waiting()) {
      this.deadSeen.add(m.messageId);
      const at = where(`left on the dead-letter queue: ${clip(m.body, 300)}`);
      const answer = await deliver(this.deadLetters, this.deadLetterLog, [sqsRecord({ messageId: m.messageId, body: m.body, receiveCount: "9" }, this.deadLetterArn)], {
        functionName: "fuzz-dead-letters",
        timeoutMs: 30_000,
      });
      if (!answer.acked.includes(m.messageId)) this.findings.add("stuckMessages", at, `stays on the dead-letter queue: ${describeReason(answer.failed[0]?.reason)}`);
    }
  }

  /** Failures of the stack's own worker and dead-letter handler that betray a bug (a TypeError, an SDK refusal). */
  private checkBackground(r: number): void {
    for (const line of this.realLog.lines) {
      const id = line.fields.messageId;
      if (typeof id !== "string" || !("error" in line.fields) || this.backgroundSeen.has(id)) continue;
      this.backgroundSeen.add(id);
      if (failureKind(line.fields.error) === "internal") {
        this.findings.add("internalErrors", { caseId: `r${r}.background`, round: r, input: `the stack's ${line.message}` }, describeReason(line.fields.error));
      }
    }
  }

  /** Bodies that started twice, each named with the cases during which it started (or "round end"). */
  private checkDuplicates(r: number): void {
    const during = (t: number): string => this.timeline.find((c) => c.from <= t && t <= c.to)?.caseId ?? "between cases or at the round's end";
    for (const d of this.journal.duplicates()) {
      const cases = d.times.map(during);
      const caseId = cases.slice(1).find((c) => c.startsWith("r")) ?? `r${r}.end`;
      const input = this.timeline.find((c) => c.caseId === caseId)?.input ?? `workflow ${d.workflowId}`;
      this.findings.add(
        "duplicateBodies",
        { caseId, round: r, input },
        `step ${d.functionId} of ${d.workflowId} started ${d.starts} times (starts during: ${cases.join(", ")})`,
      );
    }
  }

  // ---- Run end -------------------------------------------------------------------------

  async finish(): Promise<void> {
    this.checkDuplicates(-1);
  }
}

/** Cases of each round, and CLI runs among them (a function of seed-independent numbers, so `--round` reproduces). */
export function plan(options: Pick<FuzzOptions, "budget" | "casesPerRound" | "cliCases">): { cases: number; cli: number }[] {
  const per = Math.max(1, options.casesPerRound ?? 40);
  const rounds = Math.max(1, Math.ceil(options.budget / per));
  const cliTotal = Math.min(options.cliCases ?? Math.min(60, Math.ceil(options.budget / 80)), options.budget);
  return Array.from({ length: rounds }, (_, r) => {
    const cases = Math.min(per, options.budget - r * per);
    const cli = Math.floor(((r + 1) * cliTotal) / rounds) - Math.floor((r * cliTotal) / rounds);
    return { cases, cli };
  });
}

/** Run the fuzz: seeded cases against the embedded stack, checked by the oracle. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const run = new FuzzRun(options);
  const rounds = plan(options);
  const only = options.round;
  if (only !== undefined && (only < 0 || only >= rounds.length)) throw new Error(`--round ${only}: this budget has rounds 0-${rounds.length - 1}`);
  if (!builtCliExists(run.cliPath)) run.notes.push(`no built CLI at ${run.cliPath}: CLI cases skipped (run npm run build)`);
  try {
    await run.start();
    for (const [r, { cases, cli }] of rounds.entries()) {
      if (only !== undefined && r !== only) continue;
      await run.round(r, cases, cli);
    }
    await run.finish();
  } finally {
    await run.stop();
  }
  return {
    seed: options.seed,
    cases: run.cases,
    rounds: only !== undefined ? 1 : rounds.length,
    ...run.findings.counters,
    findings: run.findings.list,
    kinds: run.kinds,
    notes: run.notes,
    durationMs: Date.now() - started,
  };
}

/** Findings grouped by what went wrong (ids and numbers left out), most frequent first. */
export function groupFindings(findings: readonly Finding[]): { signature: string; counter: Counter; count: number; first: Finding }[] {
  const groups = new Map<string, { signature: string; counter: Counter; count: number; first: Finding }>();
  for (const f of findings) {
    // A state change is grouped by the fields it changed, not by their values.
    const changed = /^(.* but changed \S+ \[[^\]]*\])/.exec(f.detail)?.[1];
    const signature = `${f.counter}: ${(changed ?? f.detail.replace(/ \(starts during: .*\)$/, ""))
      .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
      .replace(/\b(?:r\d+|g)-[A-Za-z0-9_.:@=+-]*/g, "<id>")
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<msg>")
      .replace(/\d+/g, "N")
      .slice(0, 160)}`;
    const g = groups.get(signature);
    if (g) g.count++;
    else groups.set(signature, { signature, counter: f.counter, count: 1, first: f });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

