import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { countdown, failing, greet } from "../../examples/cli-workflows.js";
import { approvalWorkflow } from "../../functions/workflows.js";
import { encodeQueues } from "../../src/queues/queuesEnv.js";
import { OPERATIONS } from "../../src/control/operations.js";
import { defineQueue, defineWorkflow } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { startTestRuntime, waitFor } from "../helpers/runtime.js";
import { startFakeAws, type FakeAws } from "./fakeAws.js";

// These tests run the built binary (`npm run build` first), as users do.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(root, "dist/src/cli/main.js");
const MODULE = path.join(root, "examples/cli-workflows.ts");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** An environment with no Cairn target in it (no table, queue, endpoints or function names). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(CAIRN_|AWS_ENDPOINT_URL|AWS_PROFILE|NODE_TEST_CONTEXT)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

function cairn(args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Greets through a child workflow. */
const family = defineWorkflow("cli.family", async (ctx, input: { name: string }) => (await ctx.startWorkflow(greet, input)).getResult());
/** Waits for a child that waits for a decision. */
const manager = defineWorkflow("cli.manager", async (ctx) => (await ctx.startWorkflow(approvalWorkflow, { timeoutMs: 60_000 })).getResult());

/** One at a time; priorities and partitions; a rate limit. */
const cliQueues = [
  defineQueue("cli.line", { concurrency: 1 }),
  defineQueue("cli.ranked", { priorityEnabled: true, partitioned: true }),
  defineQueue("cli.rated", { rateLimit: { limit: 10, periodMs: 60_000 } }),
];

function json<T = any>(run: Run): T {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

describe("cairn CLI", () => {
  let rt: LocalRuntime;
  let cwd: string;
  let env: NodeJS.ProcessEnv;
  const run = (...args: string[]) => cairn(args, { env, cwd });

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first`);
    rt = await startTestRuntime([greet, countdown, failing, approvalWorkflow, family, manager], { queues: cliQueues });
    cwd = mkdtempSync(path.join(tmpdir(), "cairn-cli-"));
    // The queues' definitions as a deployment (or `cairn dev`) gives them to the CLI.
    env = { ...cleanEnv(), ...rt.env, CAIRN_QUEUES: encodeQueues(cliQueues) };
  });

  after(async () => {
    await rt?.stop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  describe("start, status, result, steps, list", () => {
    it("starts a workflow and shows its status, output and steps", async () => {
      // Prepare / Act
      const started = await run("start", "greet", "--input", '{"name":"Ada"}', "--id", "cli-greet-1", "--app-version", "v7");
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stdout, /Started workflow cli-greet-1/);

      const result = await run("result", "cli-greet-1", "--timeout", "20000");
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { greeting: "HELLO, ADA!", length: 11 });

      // Assess: status as a table and as JSON
      const status = await run("status", "cli-greet-1");
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^Workflow ID:\s+cli-greet-1$/m);
      assert.match(status.stdout, /^Status:\s+SUCCESS$/m);
      assert.match(status.stdout, /^App version:\s+v7$/m);
      assert.match(status.stdout, /^Created:\s+\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/m);
      const statusJson = json(await run("status", "cli-greet-1", "--json"));
      assert.equal(statusJson.status, "SUCCESS");
      assert.equal(statusJson.recordedSteps, 3);
      assert.deepEqual(statusJson.output, { greeting: "HELLO, ADA!", length: 11 });

      const steps = await run("steps", "cli-greet-1");
      assert.equal(steps.code, 0, steps.stderr);
      const lines = steps.stdout.trim().split("\n");
      assert.match(lines[0]!, /^#\s+NAME\s+KIND\s+STATUS\s+ATTEMPTS\s+STARTED\s+COMPLETED\s+OUTPUT \/ ERROR$/);
      assert.match(lines[1]!, /^1\s+compose\s+step\s+SUCCESS\s+1\s+\S+Z\s+\S+Z\s+"Hello, Ada!"$/);
      assert.equal(lines.length, 4);
      const stepsJson = json(await run("steps", "cli-greet-1", "--json"));
      assert.deepEqual(
        stepsJson.steps.map((s: { name: string; status: string }) => [s.name, s.status]),
        [
          ["compose", "SUCCESS"],
          ["shout", "SUCCESS"],
          ["measure", "SUCCESS"],
        ],
      );
    });

    it("lists workflows as a table and as JSON, with filters and paging", async () => {
      // Prepare
      for (const id of ["cli-list-1", "cli-list-2"]) {
        assert.equal((await run("start", "greet", "--input", '{"name":"Bo"}', "--id", id)).code, 0);
        await rt.client.retrieveWorkflow(id).getResult({ timeoutMs: 20_000 });
      }

      // Act
      const table = await run("list", "--name", "greet", "--status", "success");
      const page = json(await run("list", "--name", "greet", "--limit", "1", "--json"));
      const rest = json(await run("list", "--name", "greet", "--next-token", page.nextToken, "--json"));
      const newest = json(await run("list", "--name", "greet", "--desc", "--limit", "1", "--json"));
      const none = json(await run("list", "--name", "greet", "--until", "2001-01-01T00:00:00Z", "--json"));

      // Assess
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^WORKFLOW ID\s+NAME\s+STATUS\s+CREATED\s+UPDATED\s+VERSION$/m);
      assert.match(table.stdout, /^cli-list-1\s+greet\s+SUCCESS\s+\d{4}-\S+Z\s+\d{4}-\S+Z$/m);
      assert.equal(page.workflows.length, 1);
      assert.ok(page.nextToken, "a first page of one has a next token");
      const all = [...page.workflows, ...rest.workflows].map((w: { workflowId: string }) => w.workflowId);
      assert.ok(all.includes("cli-list-1") && all.includes("cli-list-2"), all.join(","));
      assert.equal(newest.workflows[0].workflowId, "cli-list-2");
      assert.deepEqual(none.workflows, []);
    });
  });

  describe("cancel, resume, fork", () => {
    it("cancel --wait returns once the running step finished; nothing after it runs until resume", async () => {
      // Prepare: a workflow in the middle of a step
      assert.equal((await run("start", "countdown", "--input", '{"steps":4,"stepMs":500}', "--id", "cli-cancel-1")).code, 0);
      await waitFor("a running step", async () => (await rt.client.getWorkflowStatus("cli-cancel-1")).runningStep);

      // Act
      const cancelled = await run("cancel", "cli-cancel-1", "--wait");

      // Assess: no step runs now, and none starts afterwards
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.match(cancelled.stdout, /Workflow cli-cancel-1 is CANCELLED$/m);
      const after = await rt.client.getWorkflowStatus("cli-cancel-1");
      assert.equal(after.status, "CANCELLED");
      const steps = json(await run("steps", "cli-cancel-1", "--json")).steps as { status: string }[];
      assert.ok(steps.length >= 1 && steps.length < 4, `recorded ${steps.length}`);
      assert.ok(steps.every((s) => s.status === "SUCCESS"), "the step running at the cancel finished and was recorded");
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(json(await run("steps", "cli-cancel-1", "--json")).steps.length, steps.length);
      const result = await run("result", "cli-cancel-1");
      assert.equal(result.code, 1);
      assert.match(result.stderr, /WORKFLOW_CANCELLED/);

      // Act: resume runs the rest
      const resumed = await run("resume", "cli-cancel-1");
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stdout, /Resumed workflow cli-cancel-1/);
      assert.deepEqual(json(await run("result", "cli-cancel-1", "--json", "--timeout", "20000")), {
        workflowId: "cli-cancel-1",
        status: "SUCCESS",
        output: { ticks: 4 },
      });
      assert.equal(json(await run("steps", "cli-cancel-1", "--json")).steps.length, 4);
    });

    it("forks a workflow from a step, reusing the steps before it", async () => {
      // Prepare
      assert.equal((await run("start", "greet", "--input", '{"name":"Cy"}', "--id", "cli-fork-src")).code, 0);
      await rt.client.retrieveWorkflow("cli-fork-src").getResult({ timeoutMs: 20_000 });

      // Act
      const forked = await run("fork", "cli-fork-src", "--step", "2", "--id", "cli-fork-new", "--app-version", "v2");

      // Assess
      assert.equal(forked.code, 0, forked.stderr);
      assert.match(forked.stdout, /Forked workflow cli-fork-src at step 2 into cli-fork-new/);
      assert.equal(json(await run("result", "cli-fork-new", "--json", "--timeout", "20000")).output.greeting, "HELLO, CY!");
      const status = await run("status", "cli-fork-new");
      assert.match(status.stdout, /^Forked from:\s+cli-fork-src at step 2$/m);
      assert.match(status.stdout, /^App version:\s+v2$/m);
      const steps = json(await run("steps", "cli-fork-new", "--json")).steps;
      assert.equal(steps[0].copiedFrom, "cli-fork-src");
      assert.equal(steps[1].copiedFrom, undefined);
    });
  });

  describe("send, event, list --parent", () => {
    it("sends a decision to a waiting workflow and prints the events it sets", async () => {
      // Prepare
      assert.equal((await run("start", "approval", "--id", "cli-approval-1", "--input", '{"timeoutMs":60000}')).code, 0);

      // Act / Assess: the event it sets first, waited for
      const waiting = await run("event", "cli-approval-1", "state", "--timeout", "20000");
      assert.equal(waiting.code, 0, waiting.stderr);
      assert.equal(waiting.stdout, '"waiting"\n');

      // Act: the decision, twice with one idempotency key
      const sent = await run("send", "cli-approval-1", "--message", '{"approved":true,"by":"cli"}', "--topic", "decision", "--idempotency-key", "d-1");
      const again = json(await run("send", "cli-approval-1", "--message", '{"approved":false}', "--topic", "decision", "--idempotency-key", "d-1", "--json"));

      // Assess
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(sent.stdout, 'Sent a message to workflow cli-approval-1 on topic "decision"\n');
      assert.deepEqual(again, { workflowId: "cli-approval-1", topic: "decision", delivered: true });
      assert.deepEqual(json(await run("result", "cli-approval-1", "--timeout", "20000")), { state: "approved", decidedBy: "cli" });
      assert.deepEqual(json(await run("event", "cli-approval-1", "state", "--json")), { workflowId: "cli-approval-1", key: "state", set: true, value: "approved" });

      // Act / Assess: a key never set, after its --timeout
      const unset = await run("event", "cli-approval-1", "no such key", "--timeout", "200");
      assert.equal(unset.code, 0, unset.stderr);
      assert.equal(unset.stdout, 'Event "no such key" of workflow cli-approval-1 is not set.\n');
      assert.deepEqual(json(await run("event", "cli-approval-1", "nope", "--timeout", "0", "--json")), { workflowId: "cli-approval-1", key: "nope", set: false });
    });

    it("lists a workflow's children with --parent; status and steps name parent and child", async () => {
      // Prepare
      assert.equal((await run("start", "cli.family", "--id", "cli-family-1", "--input", '{"name":"Kid"}')).code, 0);
      assert.deepEqual(json(await run("result", "cli-family-1", "--timeout", "20000")), { greeting: "HELLO, KID!", length: 11 });

      // Act
      const children = json(await run("list", "--parent", "cli-family-1", "--json")).workflows as { workflowId: string; name: string }[];
      const table = await run("list", "--parent", "cli-family-1");
      const none = json(await run("list", "--parent", "cli-greet-1", "--json"));

      // Assess
      assert.deepEqual(children.map((w) => w.name), ["greet"]);
      const childId = children[0]!.workflowId;
      assert.match(table.stdout, new RegExp(`^${childId}\\s+greet\\s+SUCCESS`, "m"));
      assert.deepEqual(none.workflows, []);
      const status = await run("status", childId);
      assert.match(status.stdout, /^Parent:\s+cli-family-1$/m);
      assert.doesNotMatch((await run("status", "cli-family-1")).stdout, /^Parent:/m);
      const steps = (await run("steps", "cli-family-1")).stdout.trim().split("\n");
      assert.match(steps[0]!, /^#\s+NAME\s+KIND\s+STATUS\s+ATTEMPTS\s+STARTED\s+COMPLETED\s+CHILD WORKFLOW\s+OUTPUT \/ ERROR$/);
      assert.ok(steps.slice(1).some((line) => line.includes(` ${childId} `)), steps.join("\n"));
      assert.doesNotMatch((await run("steps", "cli-greet-1")).stdout, /CHILD WORKFLOW/);
    });

    it("cancel names the descendants it cancelled too", async () => {
      assert.equal((await run("start", "cli.manager", "--id", "cli-manager-1")).code, 0);
      const child = await waitFor("the child", async () => json(await run("list", "--parent", "cli-manager-1", "--json")).workflows[0]?.workflowId as string | undefined);
      const cancelled = await run("cancel", "cli-manager-1");
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.equal(cancelled.stdout, `Workflow cli-manager-1 is CANCELLED, and so are its descendants ${child}\n`);
      assert.equal((await rt.client.getWorkflowStatus(child)).status, "CANCELLED");
    });

    it("describes the commands and their options in the help", async () => {
      // Commander wraps descriptions at the terminal's width: compare with the wrapping undone.
      const help = async (...args: string[]) => (await run(...args, "--help")).stdout.replace(/\s+/g, " ");
      const all = await help();
      assert.ok(all.includes(" send [options] <workflowId> send a message to a workflow (it receives it with ctx.recv) "), all);
      assert.ok(all.includes(" event [options] <workflowId> <key> print the latest value of a workflow's event (ctx.setEvent) "), all);
      const send = await help("send");
      for (const option of ["--message <json> the message as JSON", "--topic <topic>", "--idempotency-key <key> deliver the message once"]) assert.ok(send.includes(option), `send --help names ${option}`);
      assert.ok((await help("event")).includes("--timeout <ms> wait this long for the event to be set (default: 60000)"));
      assert.ok((await help("list")).includes("--parent <workflowId> only the child workflows this workflow started"));
    });

    it("refuses a bad --message, a missing one and a topic over its limit, and names an unknown workflow", async () => {
      const badJson = await run("send", "cli-greet-1", "--message", "{approved: true}");
      assert.equal(badJson.code, 2);
      assert.match(badJson.stderr, /--message.*not valid JSON/);
      const noMessage = await run("send", "cli-greet-1", "--topic", "decision");
      assert.equal(noMessage.code, 2);
      assert.match(noMessage.stderr, /required option '--message <json>' not specified/);
      const longTopic = await run("send", "cli-greet-1", "--message", "1", "--topic", "t".repeat(300));
      assert.equal(longTopic.code, 2);
      assert.match(longTopic.stderr, /VALIDATION_ERROR: topic must have 1-256 characters/);
      const badTimeout = await run("event", "cli-greet-1", "state", "--timeout", "soon");
      assert.equal(badTimeout.code, 2);
      for (const missing of [await run("send", "cli-none", "--message", "1"), await run("event", "cli-none", "state", "--timeout", "0")]) {
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /WORKFLOW_NOT_FOUND.*cli-none/);
      }
    });
  });

  describe("queues", () => {
    it("starts on a queue, shows the line in status, queue list and queue show, and refuses a duplicate", async () => {
      // Prepare: the queue's one slot taken by a long workflow (a minute: it outlasts the CLI runs below, on a loaded machine too; cancelled at the end)
      const first = await run("start", "countdown", "--input", '{"steps":40,"stepMs":1500}', "--id", "cli-q-1", "--queue", "cli.line");
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, "Started workflow cli-q-1 on queue cli.line\n");
      await waitFor("cli-q-1 to run", async () => (await rt.client.getWorkflowStatus("cli-q-1")).runningStep);

      // Act
      const second = await run("start", "greet", "--input", '{"name":"Q"}', "--id", "cli-q-2", "--queue", "cli.line", "--dedup", "order-9");
      const duplicate = await run("start", "greet", "--input", '{"name":"Q"}', "--id", "cli-q-3", "--queue", "cli.line", "--dedup", "order-9");
      const status = await run("status", "cli-q-2");
      const list = await run("queue", "list");
      const one = json(await run("queue", "list", "cli.line", "--json"));
      const show = await run("queue", "show", "cli.line");
      const shown = json(await run("queue", "show", "cli.line", "--json"));
      assert.equal((await run("cancel", "cli-q-1")).code, 0);

      // Assess
      assert.equal(second.code, 0, second.stderr);
      assert.equal(duplicate.code, 1);
      assert.match(duplicate.stderr, /DUPLICATE_WORKFLOW: .*"cli-q-2".*"order-9"/);
      assert.match(status.stdout, /^Status:\s+ENQUEUED$/m);
      assert.match(status.stdout, /^Queue:\s+cli\.line$/m);
      assert.match(status.stdout, /^Deduplication ID:\s+order-9$/m);
      assert.match(status.stdout, /^Queue position:\s+0 workflows ahead of it$/m);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^QUEUE\s+PARTITION\s+WAITING\s+IN FLIGHT\s+CONCURRENCY\s+RATE USE$/m);
      assert.match(list.stdout, /^cli\.line\s+1\s+1\s+1\s+-$/m);
      // Known from CAIRN_QUEUES before it admitted anything.
      assert.match(list.stdout, /^cli\.rated\s+0\s+0\s+-\s+0\/10 per 1m$/m);
      assert.deepEqual(one, { queues: [{ queueName: "cli.line", waiting: 1, inFlight: 1, recentAdmissions: [], concurrency: 1 }] });
      assert.equal(show.code, 0, show.stderr);
      const lines = show.stdout.split("\n");
      assert.match(lines[1]!, /^cli\.line\s+1\s+1\s+1\s+-$/);
      assert.equal(lines[2], "");
      assert.match(lines[3]!, /^WORKFLOW ID\s+NAME\s+STATUS\s+POSITION\s+CREATED\s+UPDATED\s+VERSION$/);
      assert.match(lines[4]!, /^cli-q-2\s+greet\s+ENQUEUED\s+0\s+\d{4}-/);
      assert.match(lines[5]!, /^cli-q-1\s+countdown\s+PENDING\s+\d{4}-/);
      assert.deepEqual(
        shown.workflows.map((w: { workflowId: string; queuePosition?: number }) => [w.workflowId, w.queuePosition]),
        [
          ["cli-q-2", 0],
          ["cli-q-1", undefined],
        ],
      );
      assert.equal(shown.queues[0].queueName, "cli.line");
      // The cancel freed the slot: the second one is admitted and runs.
      assert.deepEqual(json(await run("result", "cli-q-2", "--timeout", "20000")), { greeting: "HELLO, Q!", length: 9 });
      assert.doesNotMatch((await run("status", "cli-q-2")).stdout, /Queue position/);
    });

    it("takes priorities and partitions, shows the rate a queue used, and puts resumed and forked workflows on a queue", async () => {
      // Act
      const ranked = await run("start", "greet", "--input", '{"name":"P"}', "--id", "cli-q-p1", "--queue", "cli.ranked", "--priority", "2", "--partition", "t-1");
      const rated = await run("start", "greet", "--input", '{"name":"R"}', "--id", "cli-q-r1", "--queue", "cli.rated");
      assert.equal(ranked.code, 0, ranked.stderr);
      assert.equal(rated.code, 0, rated.stderr);
      await rt.client.retrieveWorkflow("cli-q-p1").getResult({ timeoutMs: 20_000 });
      await rt.client.retrieveWorkflow("cli-q-r1").getResult({ timeoutMs: 20_000 });
      assert.equal((await run("start", "failing", "--id", "cli-q-fail")).code, 0);
      assert.equal((await run("result", "cli-q-fail", "--timeout", "20000")).code, 1);
      const resumed = await run("resume", "cli-q-fail", "--queue", "cli.line");
      const forked = await run("fork", "cli-q-p1", "--step", "2", "--id", "cli-q-fork", "--queue", "cli.ranked", "--partition", "t-2", "--priority", "1");

      // Assess
      const status = (await run("status", "cli-q-p1")).stdout;
      assert.match(status, /^Queue:\s+cli\.ranked$/m);
      assert.match(status, /^Partition:\s+t-1$/m);
      assert.match(status, /^Priority:\s+2$/m);
      assert.match((await run("queue", "list", "cli.rated")).stdout, /^cli\.rated\s+0\s+[01]\s+-\s+1\/10 per 1m$/m);
      const partitions = json(await run("queue", "list", "cli.ranked", "--json")).queues.map((q: { partitionKey: string }) => q.partitionKey);
      assert.deepEqual(partitions.sort(), ["t-1", "t-2"]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal(resumed.stdout, "Resumed workflow cli-q-fail on queue cli.line\n");
      assert.equal(forked.code, 0, forked.stderr);
      assert.equal(forked.stdout, "Forked workflow cli-q-p1 at step 2 into cli-q-fork on queue cli.ranked\n");
      assert.equal(json(await run("result", "cli-q-fork", "--timeout", "20000")).greeting, "HELLO, P!");
      assert.match((await run("status", "cli-q-fork")).stdout, /^Partition:\s+t-2$/m);
      assert.equal(json(await run("status", "cli-q-fail", "--json")).queueName, "cli.line");
    });

    it("refuses bad queue options with exit 2, before anything is written", async () => {
      const cases: [string[], RegExp][] = [
        [["--queue", "nope"], /VALIDATION_ERROR: Unknown queue "nope"; known: cli\.line, cli\.ranked, cli\.rated/],
        [["--priority", "1"], /VALIDATION_ERROR: priority needs a queueName/],
        [["--queue", "cli.line", "--priority", "1"], /VALIDATION_ERROR: Queue "cli\.line" has no priorities/],
        [["--queue", "cli.ranked"], /VALIDATION_ERROR: Queue "cli\.ranked" is partitioned/],
        [["--queue", "cli.ranked", "--partition", "t", "--priority", "0"], /--priority.*expected an integer >= 1/],
        [["--queue", "cli.line", "--dedup", "d".repeat(300)], /VALIDATION_ERROR: deduplicationId must have 1-256 characters/],
      ];
      for (const [flags, message] of cases) {
        const refused = await run("start", "greet", "--input", '{"name":"X"}', "--id", "cli-q-bad", ...flags);
        assert.equal(refused.code, 2, `${flags.join(" ")}: ${refused.stderr}`);
        assert.match(refused.stderr, message);
      }
      assert.equal((await run("status", "cli-q-bad")).code, 1, "nothing was started");
      const noQueue = await run("queue", "show");
      assert.equal(noQueue.code, 2);
      assert.match(noQueue.stderr, /missing required argument 'queueName'/);
      const badStatus = await run("queue", "show", "cli.line", "--status", "SUCCESS");
      assert.equal(badStatus.code, 2);
      assert.match(badStatus.stderr, /VALIDATION_ERROR: status must be ENQUEUED or PENDING/);
    });

    it("describes the queue commands and options in the help", async () => {
      const help = async (...args: string[]) => (await run(...args, "--help")).stdout.replace(/\s+/g, " ");
      assert.ok((await help()).includes(" queue show workflow queues: their limits and use, and the workflows waiting and running on them "));
      const queue = await help("queue");
      assert.ok(queue.includes(" list [options] [queueName] list queues (each partition of a partitioned one) with their use "), queue);
      assert.ok(queue.includes(" show [options] <queueName> show a queue's use, then its workflows: those waiting, in admission order, then those running "), queue);
      for (const command of ["start", "resume", "fork"]) {
        const text = await help(command);
        for (const option of [
          "--queue <name> wait in this workflow queue until its limits admit the workflow",
          "--priority <n> with --queue: its priority there, 1 the highest",
          "--dedup <id> with --queue: a deduplication id",
          "--partition <key> with --queue: the partition whose limits apply",
        ]) {
          assert.ok(text.includes(option), `${command} --help names ${option}`);
        }
      }
      const show = await help("queue", "show");
      for (const option of ["--status <status> only the waiting (ENQUEUED) or the running (PENDING) workflows", "--limit <n>", "--next-token <token>", "--json", "--stack <name>"]) {
        assert.ok(show.includes(option), `queue show --help names ${option}`);
      }
    });
  });

  describe("errors", () => {
    it("exits 1 and names the error code when the operation fails", async () => {
      const missing = await run("status", "no-such-workflow");
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /WORKFLOW_NOT_FOUND/);
      assert.match(missing.stderr, /no-such-workflow/);
      assert.equal(missing.stdout, "");

      const outOfRange = await run("fork", "cli-greet-1", "--step", "99");
      assert.equal(outOfRange.code, 1);
      assert.match(outOfRange.stderr, /STEP_OUT_OF_RANGE/);

      assert.equal((await run("start", "failing", "--id", "cli-fail-1", "--input", '{"reason":"kaboom"}')).code, 0);
      const failed = await run("result", "cli-fail-1", "--timeout", "20000");
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /WORKFLOW_FAILED.*kaboom/);

      const timedOut = await run("result", (await rt.client.startWorkflow("countdown", { steps: 2, stepMs: 1000 })).workflowId, "--timeout", "200");
      assert.equal(timedOut.code, 1);
      assert.match(timedOut.stderr, /RESULT_TIMEOUT.*within 200 ms \(status (ENQUEUED|PENDING)\)/);
    });

    it("exits 2 on bad usage: invalid JSON, missing arguments, bad options, no target", async () => {
      const badJson = await run("start", "greet", "--input", "{not json");
      assert.equal(badJson.code, 2);
      assert.match(badJson.stderr, /--input.*not valid JSON/);

      const missingArg = await run("status");
      assert.equal(missingArg.code, 2);
      assert.match(missingArg.stderr, /missing required argument 'workflowId'/);

      const missingStep = await run("fork", "cli-greet-1");
      assert.equal(missingStep.code, 2);
      assert.match(missingStep.stderr, /--step/);

      const badStatus = await run("list", "--status", "SLEEPING");
      assert.equal(badStatus.code, 2);
      assert.match(badStatus.stderr, /ENQUEUED, PENDING/);

      const badRange = await run("list", "--since", "2030-01-01T00:00:00Z", "--until", "2020-01-01T00:00:00Z");
      assert.equal(badRange.code, 2);
      assert.match(badRange.stderr, /--since .* is after --until/);

      const unknownCommand = await run("explode");
      assert.equal(unknownCommand.code, 2);

      const noTarget = await cairn(["status", "x"], { env: cleanEnv(), cwd });
      assert.equal(noTarget.code, 2);
      assert.match(noTarget.stderr, /NO_TARGET/);
    });

    it("exits 2 with VALIDATION_ERROR and a short message for input the operation refuses", async () => {
      // Prepare: a token of another listing
      const unfiltered = json(await run("list", "--limit", "1", "--json"));
      assert.ok(unfiltered.nextToken, "a first page of one has a next token");

      // Act
      const longName = await run("list", "--name", "n".repeat(3_000));
      const garbageToken = await run("list", "--next-token", "bm90LWEtdG9rZW4");
      const otherQuery = await run("list", "--name", "greet", "--next-token", unfiltered.nextToken);
      const longId = await run("status", "i".repeat(100_000));
      const longInput = await run("start", "greet", "--input", `{"name": ${"[".repeat(5_000)}`);

      // Assess
      for (const refused of [longName, garbageToken, otherQuery, longId]) {
        assert.equal(refused.code, 2, refused.stderr.slice(0, 300));
        assert.match(refused.stderr, /VALIDATION_ERROR/);
        assert.ok(refused.stderr.length < 1_000, `stderr of ${refused.stderr.length} characters`);
        assert.equal(refused.stdout, "");
      }
      assert.match(garbageToken.stderr, /nextToken does not belong to this query/);
      assert.match(otherQuery.stderr, /nextToken does not belong to this query/);
      assert.equal(longInput.code, 2);
      assert.ok(longInput.stderr.length < 1_000, `stderr of ${longInput.stderr.length} characters`);
    });

    it("names a missing table as TABLE_NOT_FOUND, and shows the AWS error behind it with CAIRN_DEBUG=1", async () => {
      // Prepare
      const missingTable = { ...env, CAIRN_TABLE_NAME: "no-such-table" };

      // Act
      const plain = await cairn(["status", "x"], { env: missingTable, cwd });
      const debug = await cairn(["status", "x"], { env: { ...missingTable, CAIRN_DEBUG: "1" }, cwd });

      // Assess
      assert.equal(plain.code, 1);
      assert.match(plain.stderr, /TABLE_NOT_FOUND/);
      assert.match(plain.stderr, /table no-such-table/);
      assert.match(plain.stderr, /CAIRN_DEBUG=1/);
      assert.doesNotMatch(plain.stderr, /ResourceNotFoundException|INTERNAL_ERROR/);
      assert.equal(debug.code, 1);
      assert.match(debug.stderr, /TABLE_NOT_FOUND/);
      assert.match(debug.stderr, /ResourceNotFoundException/);
      assert.match(debug.stderr, /\s+at \S+/, "the stack of the AWS error");
    });

    it("cancel --wait --timeout reports the cancel as done and names the step still running", async () => {
      // Prepare: a workflow in the middle of a 3.5 s step (the test stack's worker timeout is 4 s)
      assert.equal((await run("start", "countdown", "--input", '{"steps":2,"stepMs":3500}', "--id", "cli-cancel-2")).code, 0);
      await waitFor("a running step", async () => (await rt.client.getWorkflowStatus("cli-cancel-2")).runningStep);

      // Act: both at once, while the step runs
      const [cancelled, asJson] = await Promise.all([
        run("cancel", "cli-cancel-2", "--wait", "--timeout", "100"),
        run("cancel", "cli-cancel-2", "--wait", "--timeout", "100", "--json"),
      ]);

      // Assess
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.match(cancelled.stdout, /Workflow cli-cancel-2 is CANCELLED/);
      assert.match(cancelled.stdout, /Step 1 \(tick-2\) is still running/);
      const result = json(asJson);
      assert.equal(result.status, "CANCELLED");
      assert.equal(result.idle, false);
      assert.deepEqual(result.stillRunning, { functionId: 1, name: "tick-2" });
    });
  });

  describe("Lambda mode", () => {
    let aws: FakeAws;
    let lambdaEnv: NodeJS.ProcessEnv;
    before(async () => {
      aws = await startFakeAws({
        client: rt.client,
        functions: Object.fromEntries(OPERATIONS.map((op) => [`cairn-${op}`, op])),
        stacks: { CairnDemo: { ...Object.fromEntries(OPERATIONS.map((op) => [`${op[0]!.toUpperCase()}${op.slice(1)}FunctionName`, `cairn-${op}`])), TableName: "t" } },
      });
      // No table or queue: every operation has to go through the functions.
      lambdaEnv = { ...cleanEnv(), AWS_ENDPOINT_URL_LAMBDA: aws.endpoint, AWS_ENDPOINT_URL_CLOUDFORMATION: aws.endpoint, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "x" };
    });
    after(async () => aws?.stop());

    it("invokes the functions named by a stack's outputs and reads their envelope", async () => {
      const lambda = (...args: string[]) => cairn(args, { env: lambdaEnv, cwd });
      const started = await lambda("start", "greet", "--input", '{"name":"Lu"}', "--id", "cli-lambda-1", "--stack", "CairnDemo");
      assert.equal(started.code, 0, started.stderr);
      const result = json(await lambda("result", "cli-lambda-1", "--stack", "CairnDemo", "--json", "--timeout", "20000"));
      assert.equal(result.output.greeting, "HELLO, LU!");
      assert.ok(aws.invocations.includes("cairn-start") && aws.invocations.includes("cairn-result"));

      const missing = await lambda("status", "nope", "--function-prefix", "cairn-");
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /WORKFLOW_NOT_FOUND/);

      const explicit = json(await lambda("steps", "cli-lambda-1", "--json", "--functions", '{"steps":"cairn-steps"}'));
      assert.equal(explicit.steps.length, 3);

      const noStack = await lambda("status", "x", "--stack", "NoSuchStack");
      assert.equal(noStack.code, 1);
      assert.match(noStack.stderr, /STACK_NOT_FOUND/);

      const noFunction = await lambda("status", "x", "--function-prefix", "other-");
      assert.equal(noFunction.code, 1);
      assert.match(noFunction.stderr, /LAMBDA_INVOKE_FAILED.*ResourceNotFoundException/);
    });

    it("sends, reads events and lists children through the send, event and list functions", async () => {
      const lambda = (...args: string[]) => cairn([...args, "--stack", "CairnDemo"], { env: lambdaEnv, cwd });
      assert.equal((await lambda("start", "approval", "--id", "cli-lambda-2")).code, 0);
      assert.deepEqual(json(await lambda("event", "cli-lambda-2", "state", "--timeout", "20000", "--json")).value, "waiting");
      const sent = await lambda("send", "cli-lambda-2", "--message", '{"approved":false,"by":"lambda"}', "--topic", "decision");
      assert.equal(sent.code, 0, sent.stderr);
      assert.deepEqual(json(await lambda("result", "cli-lambda-2", "--timeout", "20000", "--json")).output, { state: "rejected", decidedBy: "lambda" });
      assert.equal(json(await lambda("event", "cli-lambda-2", "nope", "--timeout", "100", "--json")).set, false);
      assert.equal((await lambda("start", "cli.family", "--id", "cli-lambda-3", "--input", '{"name":"Lu"}')).code, 0);
      await rt.client.retrieveWorkflow("cli-lambda-3").getResult({ timeoutMs: 20_000 });
      assert.deepEqual(json(await lambda("list", "--parent", "cli-lambda-3", "--json")).workflows.map((w: { name: string }) => w.name), ["greet"]);
      for (const fn of ["cairn-send", "cairn-event", "cairn-list"]) assert.ok(aws.invocations.includes(fn), `${fn} was invoked`);
    });

    it("starts on a queue and shows queues through the start, queues and queued functions", async () => {
      const lambda = (...args: string[]) => cairn([...args, "--stack", "CairnDemo"], { env: lambdaEnv, cwd });
      const started = await lambda("start", "greet", "--input", '{"name":"Ql"}', "--id", "cli-lambda-q", "--queue", "cli.ranked", "--partition", "lambda", "--priority", "5");
      assert.equal(started.code, 0, started.stderr);
      assert.equal(started.stdout, "Started workflow cli-lambda-q on queue cli.ranked\n");
      await rt.client.retrieveWorkflow("cli-lambda-q").getResult({ timeoutMs: 20_000 });
      assert.match((await lambda("queue", "list", "cli.ranked")).stdout, /^cli\.ranked\s+lambda\s+0\s+[01]\s+-\s+-$/m);
      const shown = json(await lambda("queue", "show", "cli.ranked", "--json"));
      assert.ok(shown.queues.some((q: { partitionKey?: string }) => q.partitionKey === "lambda"), JSON.stringify(shown));
      assert.ok(Array.isArray(shown.workflows));
      assert.match((await lambda("status", "cli-lambda-q")).stdout, /^Priority:\s+5$/m);
      for (const fn of ["cairn-queues", "cairn-queued"]) assert.ok(aws.invocations.includes(fn), `${fn} was invoked`);
    });
  });
});

describe("cairn dev", () => {
  it("runs the module's workflows on an embedded stack that other commands find, and stops cleanly on SIGINT", async () => {
    // Prepare
    const dir = mkdtempSync(path.join(tmpdir(), "cairn-dev-"));
    const env = cleanEnv();
    let dev: ChildProcess | undefined;
    try {
      dev = spawn(process.execPath, [BIN, "dev", MODULE, "--poll", "100"], { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      dev.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      dev.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => dev!.once("exit", (code) => resolve(code)));
      await waitFor("cairn dev to be ready", () => out.includes("press Ctrl+C to stop") || (dev!.exitCode !== null && Promise.reject(new Error(err))), 40_000);
      assert.match(out, /workflows: countdown, failing, greet/);
      assert.match(out, /^Admitting into queues: tasks$/m);
      assert.match(out, /export CAIRN_QUEUES='\[\{"name":"tasks","concurrency":2\}\]'/);
      assert.match(out, /export CAIRN_TABLE_NAME=\S+/);
      assert.match(out, /export AWS_ENDPOINT_URL_DYNAMODB=http:\/\/127\.0\.0\.1:\d+/);
      const devFile = path.join(dir, ".cairn", "dev.json");
      const settings = JSON.parse(readFileSync(devFile, "utf8")) as { pid: number; env: Record<string, string> };
      assert.equal(settings.pid, dev.pid);
      const dynamoPort = new URL(settings.env.AWS_ENDPOINT_URL_DYNAMODB!).port;

      // Act: another command in the same directory, with no target in its environment
      const started = await cairn(["start", "greet", "--input", '{"name":"Dev"}', "--id", "dev-1"], { env, cwd: dir });
      assert.equal(started.code, 0, started.stderr);
      const result = await cairn(["result", "dev-1", "--timeout", "20000", "--json"], { env, cwd: dir });

      // Act: a workflow on the module's queue, admitted by the dev stack's worker
      const queued = await cairn(["start", "greet", "--input", '{"name":"Queued"}', "--id", "dev-2", "--queue", "tasks"], { env, cwd: dir });
      assert.equal(queued.code, 0, queued.stderr);
      const queuedResult = await cairn(["result", "dev-2", "--timeout", "20000", "--json"], { env, cwd: dir });
      const queues = await cairn(["queue", "list"], { env, cwd: dir });

      // Assess: it ran to SUCCESS, and the dev process showed its progress
      assert.equal(json(result).status, "SUCCESS");
      assert.equal(json(queuedResult).status, "SUCCESS");
      // The dev file told the command the queue's limits.
      assert.match(queues.stdout, /^tasks\s+0\s+[01]\s+2\s+-$/m);
      await waitFor("the progress lines", () => /dev-1\s+greet\s+SUCCESS/.test(out));
      assert.match(out, /dev-1\s+step 1 compose \[step\]\s+SUCCESS/);
      assert.match(out, /dev-1\s+step 3 measure \[step\]\s+SUCCESS/);

      // Act: SIGINT
      dev.kill("SIGINT");
      const code = await exited;

      // Assess: clean exit, no DynamoDB Local left, dev file removed
      assert.equal(code, 0, err);
      assert.match(err, /Dev stack stopped/);
      assert.equal(existsSync(devFile), false);
      const ps = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout;
      assert.ok(!ps.split("\n").some((l) => l.includes("DynamoDBLocal.jar") && l.includes(`-port ${dynamoPort}`)), "a DynamoDB Local process of cairn dev remains");
      const after = await cairn(["status", "dev-1"], { env, cwd: dir });
      assert.equal(after.code, 2);
      assert.match(after.stderr, /NO_TARGET/);
    } finally {
      if (dev && dev.exitCode === null) dev.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
