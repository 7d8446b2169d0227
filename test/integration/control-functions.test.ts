import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { lambdaContext } from "../../src/local/lambdaContext.js";
import { createControlHandler, createLogger, defineQueue, defineWorkflow, WorkflowClient, WorkflowStatus, type ControlHandler } from "../../src/index.js";
import { ENV } from "../../src/config.js";
import { encodeQueues } from "../../src/queues/queuesEnv.js";
import { OPERATIONS, type ControlResponse, type OperationName } from "../../src/control/operations.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { greetWorkflow, orderWorkflow, type OrderInput } from "../../functions/workflows.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";

// ---------------------------------------------------------------------------
// Workflows under test: the example ones, plus two whose steps the test steers
// ---------------------------------------------------------------------------

const probe = new StepProbe();

/** Two steps; tests hold the first one open to cancel while it runs. */
const gated = defineWorkflow("ctl.gated", async (ctx, input: { n: number }) => {
  const a = await ctx.step("first", async () => {
    await probe.ran(ctx.workflowId, "first");
    return input.n + 1;
  });
  return ctx.step("second", async () => {
    await probe.ran(ctx.workflowId, "second");
    return a * 10;
  });
});

/** Fails its step until `healed` is set: ERROR first, SUCCESS after a resume. */
const healed = new Set<string>();
const failsUntilHealed = defineWorkflow("ctl.fails-until-healed", async (ctx) =>
  ctx.step("fragile", () => {
    if (!healed.has(ctx.workflowId)) throw new Error("not healed yet");
    return "healed";
  }),
);

/** Says with an event that it waits, then receives a decision (and a second message, if one came) and says how it went. */
const approval = defineWorkflow("ctl.approval", async (ctx) => {
  await ctx.step("prepare", async () => probe.ran(ctx.workflowId, "prepare"));
  await ctx.setEvent("state", "waiting");
  const decision = await ctx.recv<{ approved: boolean }>({ topic: "decision", timeoutMs: 20_000 });
  const another = await ctx.recv({ topic: "decision", timeoutMs: 1_500 });
  await ctx.setEvent("state", decision?.approved ? "approved" : "rejected");
  return { decision, another };
});

/** Greets through a child workflow. */
const parent = defineWorkflow("ctl.parent", async (ctx, input: { name: string }) => {
  const child = await ctx.startWorkflow(greetWorkflow, input);
  return child.getResult();
});

const workflows = [orderWorkflow, greetWorkflow, gated, failsUntilHealed, approval, parent];

/** One at a time: a second workflow waits while the first runs. */
const line = defineQueue("ctl.line", { concurrency: 1 });
/** Priorities and partitions, no limit: everything is admitted at once. */
const ranked = defineQueue("ctl.ranked", { priorityEnabled: true, partitioned: true });
const queues = [line, ranked];

// ---------------------------------------------------------------------------
// Invoking the handlers as Lambda does: a JSON payload and a Context
// ---------------------------------------------------------------------------


let rt: LocalRuntime;
let handlers: Record<OperationName, ControlHandler>;

/** Invoke like Lambda: the payload goes through JSON, and so does the answer. */
async function invoke(op: OperationName, payload: unknown, remainingMs?: number): Promise<ControlResponse<any>> {
  const event = payload === undefined ? undefined : JSON.parse(JSON.stringify(payload));
  const response = await handlers[op](event, lambdaContext(`cairn-${op}`, remainingMs ?? 30_000));
  return JSON.parse(JSON.stringify(response));
}

async function ok(op: OperationName, payload: unknown): Promise<any> {
  const response = await invoke(op, payload);
  assert.ok(response.ok, `${op} ${JSON.stringify(payload)} failed: ${JSON.stringify(response)}`);
  return response.result;
}

async function refused(op: OperationName, payload: unknown, code: string): Promise<{ code: string; name: string; message: string }> {
  const response = await invoke(op, payload);
  assert.equal(response.ok, false, `${op} ${JSON.stringify(payload)} should be refused`);
  if (response.ok) throw new Error("unreachable");
  assert.equal(response.error.code, code, response.error.message);
  assert.equal(typeof response.error.name, "string");
  assert.ok(response.error.message.length > 0);
  return response.error;
}

/** Every workflow with its status, to show that a refused call changed nothing. */
async function snapshot(): Promise<Record<string, string>> {
  const all: Record<string, string> = {};
  for await (const wf of rt.client.iterateWorkflows()) all[wf.workflowId] = wf.status;
  return all;
}

const quiet = createLogger("SILENT");
const nested = (depth: number): unknown => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};
const order: OrderInput = { orderId: "o-1", items: [{ sku: "tea", quantity: 2, unitPrice: 4 }], holdMs: 0 };

before(async () => {
  rt = await startTestRuntime(workflows, { queues });
  handlers = Object.fromEntries(OPERATIONS.map((op) => [op, createControlHandler(op, { client: rt.client, workflows, logger: quiet })])) as Record<
    OperationName,
    ControlHandler
  >;
});

after(async () => {
  await rt?.stop();
});

describe("control functions", () => {
  describe("with good input", () => {
    it("start → status → result → steps → list runs a workflow end to end", async () => {
      // Prepare / Act
      const started = await ok("start", { workflowName: "order", workflowId: "ctl-order-1", input: order });
      assert.deepEqual(started, { workflowId: "ctl-order-1" });
      const status = await ok("status", { workflowId: "ctl-order-1" });
      assert.equal(status.workflowId, "ctl-order-1");
      assert.equal(status.name, "order");
      const result = await ok("result", { workflowId: "ctl-order-1", timeoutMs: 20_000 });

      // Assess
      assert.equal(result.status, WorkflowStatus.SUCCESS);
      assert.deepEqual(result.output, { orderId: "o-1", reservationId: "res-o-1", chargeId: "ch-res-o-1", amount: 8, trackingNumber: "trk-o-1" });
      assert.equal((await ok("status", { workflowId: "ctl-order-1" })).status, WorkflowStatus.SUCCESS);
      const { steps } = await ok("steps", { workflowId: "ctl-order-1" });
      assert.deepEqual(
        steps.map((s: { functionId: number; name: string; status: string }) => [s.functionId, s.name, s.status]),
        [
          [1, "reserve", "SUCCESS"],
          [2, "sleep", "SUCCESS"],
          [3, "charge", "SUCCESS"],
          [4, "ship", "SUCCESS"],
        ],
      );
      const listed = await ok("list", { name: "order" });
      assert.ok(listed.workflows.some((w: { workflowId: string; status: string }) => w.workflowId === "ctl-order-1" && w.status === "SUCCESS"));
      const bySuccess = await ok("list", { status: "SUCCESS", limit: 100 });
      assert.ok(bySuccess.workflows.some((w: { workflowId: string }) => w.workflowId === "ctl-order-1"));
    });

    it("cancel lets the running step finish and runs nothing after it; resume then finishes the workflow", async () => {
      // Prepare: hold the first step while it runs
      const gate = probe.hold("ctl-cancel-1", "first");
      await ok("start", { workflowName: "ctl.gated", workflowId: "ctl-cancel-1", input: { n: 4 } });
      await gate.reached;

      // Act
      const cancelled = await ok("cancel", { workflowId: "ctl-cancel-1" });
      gate.open();

      // Assess
      assert.equal(cancelled.status, WorkflowStatus.CANCELLED);
      await waitFor("first step recorded", async () => (await rt.client.listWorkflowSteps("ctl-cancel-1")).some((s) => s.name === "first" && s.status === "SUCCESS"));
      const result = await invoke("result", { workflowId: "ctl-cancel-1" });
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(result.error.code, "WORKFLOW_CANCELLED");
      assert.equal(probe.count("ctl-cancel-1", "second"), 0);
      assert.equal((await ok("status", { workflowId: "ctl-cancel-1" })).status, WorkflowStatus.CANCELLED);

      // Act: resume
      assert.deepEqual(await ok("resume", { workflowId: "ctl-cancel-1" }), { workflowId: "ctl-cancel-1" });
      const resumed = await ok("result", { workflowId: "ctl-cancel-1", timeoutMs: 20_000 });
      assert.equal(resumed.output, 50);
      assert.equal(probe.count("ctl-cancel-1", "first"), 1, "the recorded step did not run again");
      assert.equal(probe.count("ctl-cancel-1", "second"), 1);
    });

    it("cancel with wait answers once no step is running", async () => {
      const gate = probe.hold("ctl-cancel-2", "first");
      await ok("start", { workflowName: "ctl.gated", workflowId: "ctl-cancel-2", input: { n: 1 } });
      await gate.reached;
      const pending = invoke("cancel", { workflowId: "ctl-cancel-2", wait: true });
      setTimeout(() => gate.open(), 200);
      const answer = await pending;
      assert.ok(answer.ok, JSON.stringify(answer));
      assert.equal(answer.result.status, WorkflowStatus.CANCELLED);
      assert.equal(answer.result.running, undefined);
      assert.equal(answer.result.idle, true);
      assert.equal(answer.result.stillRunning, undefined);
    });

    it("resume re-runs the failed step of an ERROR workflow", async () => {
      await ok("start", { workflowName: "ctl.fails-until-healed", workflowId: "ctl-error-1", input: null });
      const failed = await invoke("result", { workflowId: "ctl-error-1", timeoutMs: 20_000 });
      assert.equal(failed.ok, false);
      if (!failed.ok) assert.equal(failed.error.code, "WORKFLOW_FAILED");
      assert.equal((await ok("status", { workflowId: "ctl-error-1" })).status, WorkflowStatus.ERROR);

      healed.add("ctl-error-1");
      await ok("resume", { workflowId: "ctl-error-1" });
      assert.equal((await ok("result", { workflowId: "ctl-error-1", timeoutMs: 20_000 })).output, "healed");
    });

    it("fork starts a new workflow that reuses the steps before startStep and leaves the original untouched", async () => {
      await ok("start", { workflowName: "order", workflowId: "ctl-fork-src", input: { ...order, orderId: "o-2" } });
      await ok("result", { workflowId: "ctl-fork-src", timeoutMs: 20_000 });
      const originalSteps = (await ok("steps", { workflowId: "ctl-fork-src" })).steps;

      const forked = await ok("fork", { workflowId: "ctl-fork-src", startStep: 3, newWorkflowId: "ctl-fork-new" });
      assert.deepEqual(forked, { workflowId: "ctl-fork-new", forkedFrom: { workflowId: "ctl-fork-src", startStep: 3 } });
      const result = await ok("result", { workflowId: "ctl-fork-new", timeoutMs: 20_000 });
      assert.equal(result.output.orderId, "o-2");

      const forkSteps = (await ok("steps", { workflowId: "ctl-fork-new" })).steps;
      assert.deepEqual(
        forkSteps.map((s: { functionId: number; copiedFrom?: string }) => [s.functionId, s.copiedFrom ?? null]),
        [
          [1, "ctl-fork-src"],
          [2, "ctl-fork-src"],
          [3, null],
          [4, null],
        ],
      );
      const status = await ok("status", { workflowId: "ctl-fork-new" });
      assert.deepEqual(status.forkedFrom, { workflowId: "ctl-fork-src", startStep: 3 });
      assert.deepEqual((await ok("steps", { workflowId: "ctl-fork-src" })).steps, originalSteps);
    });

    it("send delivers a message once per idempotency key; event waits for the value the workflow sets", async () => {
      // Prepare: hold the workflow before it sets its first event
      const workflowId = "ctl-approval-1";
      const gate = probe.hold(workflowId, "prepare");
      await ok("start", { workflowName: "ctl.approval", workflowId });
      await gate.reached;

      // Act: wait for an event that is set during the wait
      const waiting = ok("event", { workflowId, key: "state", timeoutMs: 20_000 });
      setTimeout(() => gate.open(), 200);
      const first = await waiting;
      const sent = await ok("send", { workflowId, message: { approved: true }, topic: "decision", idempotencyKey: "approval-1" });
      const again = await ok("send", { workflowId, message: { approved: false }, topic: "decision", idempotencyKey: "approval-1" });

      // Assess: the second send changed nothing, so the second recv timed out
      assert.deepEqual(first, { workflowId, key: "state", set: true, value: "waiting" });
      assert.deepEqual(sent, { workflowId, topic: "decision", delivered: true });
      assert.deepEqual(again, sent);
      const result = await ok("result", { workflowId, timeoutMs: 20_000 });
      assert.deepEqual(result.output, { decision: { approved: true }, another: { $cairn: "undefined" } });
      assert.deepEqual(await ok("event", { workflowId, key: "state", timeoutMs: 0 }), { workflowId, key: "state", set: true, value: "approved" });
    });

    it("event answers set: false once timeoutMs has passed, and never waits past the invocation's deadline", async () => {
      // Prepare
      await ok("start", { workflowName: "greet", workflowId: "ctl-event-1", input: { name: "Ev" } });
      await ok("result", { workflowId: "ctl-event-1", timeoutMs: 20_000 });

      // Act / Assess: an explicit wait
      let started = Date.now();
      assert.deepEqual(await ok("event", { workflowId: "ctl-event-1", key: "never", timeoutMs: 300 }), { workflowId: "ctl-event-1", key: "never", set: false });
      assert.ok(Date.now() - started >= 300, `answered after ${Date.now() - started} ms`);

      // Act / Assess: a wait longer than the invocation has, explicit or the default one
      for (const timeoutMs of [60_000, undefined, null]) {
        started = Date.now();
        const answer = await invoke("event", { workflowId: "ctl-event-1", key: "never", timeoutMs }, 1_600);
        assert.ok(Date.now() - started < 1_600, `answered after ${Date.now() - started} ms`);
        assert.deepEqual(answer, { ok: true, result: { workflowId: "ctl-event-1", key: "never", set: false } });
      }
    });

    it("list with parentWorkflowId lists a workflow's children; status and steps name parent and child", async () => {
      await ok("start", { workflowName: "ctl.parent", workflowId: "ctl-parent-1", input: { name: "Kid" } });
      assert.equal((await ok("result", { workflowId: "ctl-parent-1", timeoutMs: 20_000 })).output, "Hello, Kid!");

      const { workflows: children } = await ok("list", { parentWorkflowId: "ctl-parent-1" });
      assert.deepEqual(children.map((w: { name: string; status: string }) => [w.name, w.status]), [["greet", "SUCCESS"]]);
      const childId: string = children[0].workflowId;
      assert.equal((await ok("status", { workflowId: childId })).parentWorkflowId, "ctl-parent-1");
      assert.equal((await ok("status", { workflowId: "ctl-parent-1" })).parentWorkflowId, undefined);
      const { steps } = await ok("steps", { workflowId: "ctl-parent-1" });
      assert.ok(steps.some((s: { childWorkflowId?: string }) => s.childWorkflowId === childId), JSON.stringify(steps));
      assert.deepEqual((await ok("list", { parentWorkflowId: childId })).workflows, []);
    });

    it("bounds a wait by the time the invocation has left and answers before the deadline", async () => {
      const gate = probe.hold("ctl-deadline-1", "first");
      await ok("start", { workflowName: "ctl.gated", workflowId: "ctl-deadline-1", input: { n: 0 } });
      await gate.reached;
      const started = Date.now();
      const answer = await invoke("result", { workflowId: "ctl-deadline-1", timeoutMs: 60_000 }, 1_600);
      assert.ok(Date.now() - started < 1_600, `answered after ${Date.now() - started} ms`);
      assert.equal(answer.ok, false);
      if (!answer.ok) assert.equal(answer.error.code, "RESULT_TIMEOUT");
      gate.open();
      await ok("result", { workflowId: "ctl-deadline-1", timeoutMs: 20_000 });
    });
  });

  describe("with queues", () => {
    it("start on a queue waits for its limits; status, queues and queued show the line; the first one's end admits the next", async () => {
      // Prepare: the queue's one slot taken by a workflow held in its first step
      const gate = probe.hold("ctl-q-first", "first");
      assert.deepEqual(await ok("start", { workflowName: "ctl.gated", workflowId: "ctl-q-first", input: { n: 1 }, queueName: "ctl.line" }), {
        workflowId: "ctl-q-first",
        queueName: "ctl.line",
      });
      await gate.reached;

      // Act
      await ok("start", { workflowName: "ctl.gated", workflowId: "ctl-q-second", input: { n: 2 }, queueName: "ctl.line" });
      const waiting = await ok("status", { workflowId: "ctl-q-second" });
      const summary = await ok("queues", { queueName: "ctl.line" });
      const listed = await ok("queued", { queueName: "ctl.line" });
      const everyQueue = await ok("queued", {});
      const onlyWaiting = await ok("queued", { queueName: "ctl.line", status: "ENQUEUED" });
      const page = await ok("queued", { queueName: "ctl.line", limit: 1 });
      const rest = await ok("queued", { queueName: "ctl.line", limit: 1, nextToken: page.nextToken });
      gate.open();

      // Assess
      assert.equal(waiting.status, WorkflowStatus.ENQUEUED);
      assert.equal(waiting.queueName, "ctl.line");
      assert.equal(waiting.queuePosition, 0);
      assert.deepEqual(summary, { queues: [{ queueName: "ctl.line", waiting: 1, inFlight: 1, recentAdmissions: [], concurrency: 1 }] });
      const rows = (r: { workflows: { workflowId: string; status: string }[] }) => r.workflows.map((w) => [w.workflowId, w.status]);
      // The line first, in admission order, then the admitted workflows.
      assert.deepEqual(rows(listed), [
        ["ctl-q-second", "ENQUEUED"],
        ["ctl-q-first", "PENDING"],
      ]);
      assert.ok(rows(everyQueue).some(([id]) => id === "ctl-q-second"), JSON.stringify(everyQueue));
      assert.deepEqual(rows(onlyWaiting), [["ctl-q-second", "ENQUEUED"]]);
      assert.deepEqual([...rows(page), ...rows(rest)], rows(listed));
      assert.equal(rest.nextToken, undefined);
      assert.equal((await ok("result", { workflowId: "ctl-q-second", timeoutMs: 20_000 })).output, 30);
      assert.equal((await ok("status", { workflowId: "ctl-q-second" })).queuePosition, undefined);
      await waitFor("the line to empty", async () => (await ok("queues", { queueName: "ctl.line" })).queues[0].waiting === 0 || undefined);
    });

    it("refuses a second start with a deduplication id held on the queue as DUPLICATE_WORKFLOW, naming the holder", async () => {
      // Prepare
      const gate = probe.hold("ctl-q-dedup-1", "first");
      const place = { queueName: "ctl.ranked", partitionKey: "tenant-a", priority: 3, deduplicationId: "invoice-7" };
      await ok("start", { workflowName: "ctl.gated", workflowId: "ctl-q-dedup-1", input: { n: 1 }, ...place });
      await gate.reached;
      const before = await snapshot();

      // Act
      const response = await invoke("start", { workflowName: "ctl.gated", workflowId: "ctl-q-dedup-2", input: { n: 2 }, ...place });
      gate.open();

      // Assess
      assert.equal(response.ok, false);
      if (!response.ok) {
        assert.equal(response.error.code, "DUPLICATE_WORKFLOW");
        assert.equal(response.error.name, "DuplicateWorkflowError");
        assert.deepEqual(response.error.details, { queueName: "ctl.ranked", deduplicationId: "invoice-7", existingWorkflowId: "ctl-q-dedup-1" });
      }
      assert.deepEqual(await snapshot(), before, "nothing was started");
      const status = await ok("status", { workflowId: "ctl-q-dedup-1" });
      assert.deepEqual([status.queueName, status.partitionKey, status.priority, status.deduplicationId], ["ctl.ranked", "tenant-a", 3, "invoice-7"]);
      await ok("result", { workflowId: "ctl-q-dedup-1", timeoutMs: 20_000 });
      // Once the holder has finished, the id is free again.
      await ok("start", { workflowName: "greet", workflowId: "ctl-q-dedup-3", input: { name: "Again" }, ...place });
      assert.equal((await ok("result", { workflowId: "ctl-q-dedup-3", timeoutMs: 20_000 })).output, "Hello, Again!");
    });

    it("resume and fork put the workflow on a queue", async () => {
      // Prepare
      await ok("start", { workflowName: "ctl.fails-until-healed", workflowId: "ctl-q-error", input: null });
      assert.equal((await invoke("result", { workflowId: "ctl-q-error", timeoutMs: 20_000 })).ok, false);
      healed.add("ctl-q-error");
      await ok("start", { workflowName: "greet", workflowId: "ctl-q-fork-src", input: { name: "Fo" } });
      await ok("result", { workflowId: "ctl-q-fork-src", timeoutMs: 20_000 });

      // Act
      const resumed = await ok("resume", { workflowId: "ctl-q-error", queueName: "ctl.line" });
      const forked = await ok("fork", { workflowId: "ctl-q-fork-src", startStep: 1, newWorkflowId: "ctl-q-fork", queueName: "ctl.ranked", partitionKey: "tenant-b", priority: 1 });

      // Assess
      assert.deepEqual(resumed, { workflowId: "ctl-q-error", queueName: "ctl.line" });
      assert.deepEqual(forked, { workflowId: "ctl-q-fork", forkedFrom: { workflowId: "ctl-q-fork-src", startStep: 1 }, queueName: "ctl.ranked" });
      assert.equal((await ok("result", { workflowId: "ctl-q-error", timeoutMs: 20_000 })).output, "healed");
      assert.equal((await ok("result", { workflowId: "ctl-q-fork", timeoutMs: 20_000 })).output, "Hello, Fo!");
      assert.equal((await ok("status", { workflowId: "ctl-q-error" })).queueName, "ctl.line");
      const fork = await ok("status", { workflowId: "ctl-q-fork" });
      assert.deepEqual([fork.queueName, fork.partitionKey, fork.priority], ["ctl.ranked", "tenant-b", 1]);
      const { queues: partitions } = await ok("queues", { queueName: "ctl.ranked" });
      assert.deepEqual(partitions.map((q: { partitionKey: string }) => q.partitionKey).sort(), ["tenant-a", "tenant-b"]);
    });

    it("stops a page of queued workflows before its values outgrow Lambda's answer, with a token for the rest", async () => {
      // Prepare: a client whose queue holds ten workflows of 1 MB inputs
      const calls: { limit?: number; nextToken?: string }[] = [];
      const line = Array.from({ length: 10 }, (_, i) => ({ workflowId: `big-${i}`, name: "greet", status: "ENQUEUED", input: "x".repeat(1_000_000), createdAt: 0, updatedAt: 0 }));
      const client = {
        listQueuedWorkflows: async (input: { limit?: number; nextToken?: string }) => {
          calls.push(input);
          const limit = input.limit ?? 100;
          return { workflows: line.slice(0, limit), ...(limit < line.length ? { nextToken: `after-${limit}` } : {}) };
        },
      } as unknown as WorkflowClient;
      const handler = createControlHandler("queued", { client, logger: quiet });

      // Act
      const answer = await handler({ queueName: "ctl.line", nextToken: "t0" }, lambdaContext("cairn-queued", 30_000));

      // Assess: four fit under the page budget; the page was read again with that limit, so its token goes on after them
      assert.equal(answer.ok, true, JSON.stringify(answer).slice(0, 300));
      if (!answer.ok) return;
      const page = answer.result as { workflows: { workflowId: string }[]; nextToken?: string; sizeLimited?: boolean };
      assert.deepEqual(page.workflows.map((w) => w.workflowId), ["big-0", "big-1", "big-2", "big-3"]);
      assert.equal(page.sizeLimited, true);
      assert.equal(page.nextToken, "after-4");
      assert.deepEqual(calls, [
        { queueName: "ctl.line", nextToken: "t0" },
        { queueName: "ctl.line", nextToken: "t0", limit: 4 },
      ]);
      assert.ok(Buffer.byteLength(JSON.stringify(answer)) < 6 * 1024 * 1024);
    });

    it("queued without a queueName needs the queues' definitions, and says so", async () => {
      const unaware = createControlHandler("queued", { client: new WorkflowClient({ store: rt.store, queue: rt.queue }), logger: quiet });
      const answer = await unaware({}, lambdaContext("cairn-queued", 30_000));
      assert.equal(answer.ok, false);
      if (!answer.ok) {
        assert.equal(answer.error.code, "VALIDATION_ERROR");
        assert.equal(answer.error.details?.field, "queueName");
        assert.match(answer.error.message, /"queueName" is required: no queue definitions are configured here/);
      }
      const named = await unaware({ queueName: "ctl.line" }, lambdaContext("cairn-queued", 30_000));
      assert.equal(named.ok, true, JSON.stringify(named));
    });

    it("knows the queues of CAIRN_QUEUES, as deployed", async () => {
      // Prepare: the environment the construct gives the start and queues functions
      const saved = { ...process.env };
      Object.assign(process.env, rt.env, { [ENV.queues]: encodeQueues(queues) });
      let start: ControlHandler;
      let summary: ControlHandler;
      let broken: ControlHandler;
      try {
        start = createControlHandler("start", { logger: quiet });
        summary = createControlHandler("queues", { logger: quiet });
        // Act
        const unknown = await start({ workflowName: "greet", workflowId: "ctl-q-env-1", queueName: "ctl.nope" }, lambdaContext("cairn-start", 30_000));
        const answer = await summary({ queueName: "ctl.line" }, lambdaContext("cairn-queues", 30_000));
        process.env[ENV.queues] = "[{]";
        broken = createControlHandler("queues", { logger: quiet });
        const misconfigured = await broken({}, lambdaContext("cairn-queues", 30_000));

        // Assess
        assert.equal(unknown.ok, false);
        if (!unknown.ok) {
          assert.equal(unknown.error.code, "VALIDATION_ERROR");
          assert.match(unknown.error.message, /Unknown queue "ctl.nope"; known: ctl.line, ctl.ranked/);
        }
        assert.equal(answer.ok, true, JSON.stringify(answer));
        if (answer.ok) assert.equal((answer.result as { queues: { concurrency?: number }[] }).queues[0]?.concurrency, 1);
        assert.equal(misconfigured.ok, false);
        if (!misconfigured.ok) {
          assert.equal(misconfigured.error.code, "CONFIGURATION_ERROR");
          assert.match(misconfigured.error.message, /CAIRN_QUEUES is not JSON/);
        }
      } finally {
        for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
        Object.assign(process.env, saved);
      }
      assert.equal(Object.keys(await snapshot()).includes("ctl-q-env-1"), false);
    });
  });

  describe("with bad input", () => {
    it("refuses each bad request with a coded error and changes nothing", async () => {
      // Prepare: a finished workflow to misuse
      await ok("start", { workflowName: "greet", workflowId: "ctl-done-1", input: { name: "Ada" } });
      await ok("result", { workflowId: "ctl-done-1", timeoutMs: 20_000 });
      await waitFor("no workflow in flight", async () => Object.values(await snapshot()).every((s) => s !== "ENQUEUED" && s !== "PENDING"));
      const before = await snapshot();

      // Act / Assess
      const cases: [OperationName, unknown, string][] = [
        ["start", {}, "VALIDATION_ERROR"],
        ["start", { workflowName: 42 }, "VALIDATION_ERROR"],
        ["start", { workflowName: "" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "no-such-workflow", workflowId: "ctl-bad-1" }, "UNKNOWN_WORKFLOW"],
        ["start", { workflowName: "greet", workflowId: "bad id with spaces" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-done-1", input: { name: "Ada" }, applicationVersion: 7 }, "VALIDATION_ERROR"],
        ["start", { workflowName: "order", workflowId: "ctl-done-1" }, "WORKFLOW_CONFLICT"],
        ["status", {}, "VALIDATION_ERROR"],
        ["status", { workflowId: 123 }, "VALIDATION_ERROR"],
        ["status", { workflowId: "ctl-missing" }, "WORKFLOW_NOT_FOUND"],
        ["result", { workflowId: "ctl-done-1", timeoutMs: "soon" }, "VALIDATION_ERROR"],
        ["result", { workflowId: "ctl-done-1", timeoutMs: -1 }, "VALIDATION_ERROR"],
        ["steps", { workflowId: ["ctl-done-1"] }, "VALIDATION_ERROR"],
        ["steps", { workflowId: "ctl-missing" }, "WORKFLOW_NOT_FOUND"],
        ["list", { status: "BOGUS" }, "VALIDATION_ERROR"],
        ["list", { limit: "ten" }, "VALIDATION_ERROR"],
        ["list", { name: "n".repeat(129) }, "VALIDATION_ERROR"],
        ["list", { startTime: "yesterday" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-2", applicationVersion: "v".repeat(129) }, "VALIDATION_ERROR"],
        ["cancel", { workflowId: "ctl-done-1", wait: true, timeoutMs: -1 }, "VALIDATION_ERROR"],
        ["fork", { workflowId: "ctl-done-1", startStep: 1, newWorkflowId: "ctl-bad-fork", applicationVersion: "" }, "VALIDATION_ERROR"],
        ["cancel", {}, "VALIDATION_ERROR"],
        ["cancel", { workflowId: "ctl-done-1", wait: "yes" }, "VALIDATION_ERROR"],
        ["cancel", { workflowId: "ctl-missing" }, "WORKFLOW_NOT_FOUND"],
        ["resume", { workflowId: "ctl-done-1" }, "INVALID_WORKFLOW_STATE"],
        ["resume", { workflowId: "ctl-missing" }, "WORKFLOW_NOT_FOUND"],
        ["fork", { workflowId: "ctl-done-1" }, "VALIDATION_ERROR"],
        ["fork", { workflowId: "ctl-done-1", startStep: "1" }, "VALIDATION_ERROR"],
        ["fork", { workflowId: "ctl-done-1", startStep: 99, newWorkflowId: "ctl-bad-fork" }, "STEP_OUT_OF_RANGE"],
        ["fork", { workflowId: "ctl-done-1", startStep: 0, newWorkflowId: "ctl-bad-fork" }, "STEP_OUT_OF_RANGE"],
        ["fork", { workflowId: "ctl-done-1", startStep: 1.5, newWorkflowId: "ctl-bad-fork" }, "VALIDATION_ERROR"],
        ["fork", { workflowId: "ctl-done-1", startStep: 1, newWorkflowId: "ctl-done-1" }, "WORKFLOW_CONFLICT"],
        ["list", { parentWorkflowId: "bad id with spaces" }, "VALIDATION_ERROR"],
        ["list", { parentWorkflowId: 7 }, "VALIDATION_ERROR"],
        ["send", {}, "VALIDATION_ERROR"],
        ["send", { message: "hi" }, "VALIDATION_ERROR"],
        ["send", { workflowId: "ctl-done-1" }, "VALIDATION_ERROR"],
        ["send", { workflowId: "ctl-done-1", message: "hi", topic: "" }, "VALIDATION_ERROR"],
        ["send", { workflowId: "ctl-done-1", message: "hi", topic: 7 }, "VALIDATION_ERROR"],
        ["send", { workflowId: "ctl-done-1", message: "hi", topic: "t".repeat(257) }, "VALIDATION_ERROR"],
        ["send", { workflowId: "ctl-done-1", message: "hi", topic: "t", idempotencyKey: ["k"] }, "VALIDATION_ERROR"],
        ["send", { workflowId: "ctl-done-1", message: "hi", topic: "t", idempotencyKey: "k".repeat(257) }, "VALIDATION_ERROR"],
        ["send", { workflowId: "ctl-done-1", message: nested(200), topic: "t" }, "VALIDATION_ERROR"],
        ["send", { workflowId: "ctl-done-1", message: "x".repeat(400_000), topic: "t" }, "PAYLOAD_TOO_LARGE"],
        ["send", { workflowId: "ctl-missing", message: "hi" }, "WORKFLOW_NOT_FOUND"],
        ["event", {}, "VALIDATION_ERROR"],
        ["event", { workflowId: "ctl-done-1" }, "VALIDATION_ERROR"],
        ["event", { workflowId: "ctl-done-1", key: "" }, "VALIDATION_ERROR"],
        ["event", { workflowId: "ctl-done-1", key: { k: 1 } }, "VALIDATION_ERROR"],
        ["event", { workflowId: "ctl-done-1", key: "k".repeat(257) }, "VALIDATION_ERROR"],
        ["event", { workflowId: "ctl-done-1", key: "k", timeoutMs: "soon" }, "VALIDATION_ERROR"],
        ["event", { workflowId: "ctl-done-1", key: "k", timeoutMs: -1 }, "VALIDATION_ERROR"],
        ["event", { workflowId: "ctl-missing", key: "k", timeoutMs: 0 }, "WORKFLOW_NOT_FOUND"],
        // Queues: every refusal before anything is written.
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: 7 }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "not a queue!" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.nope" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.line", priority: 1 }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.ranked", partitionKey: "t", priority: "1" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.ranked", partitionKey: "t", priority: 0 }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.ranked", partitionKey: "t", priority: 1.5 }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.ranked", partitionKey: "t", priority: 2_147_483_648 }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.ranked" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.line", partitionKey: "t" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.ranked", partitionKey: "k".repeat(257) }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.line", deduplicationId: "" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", queueName: "ctl.line", deduplicationId: ["d"] }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", deduplicationId: "d" }, "VALIDATION_ERROR"],
        ["start", { workflowName: "greet", workflowId: "ctl-bad-q", priority: 1 }, "VALIDATION_ERROR"],
        ["resume", { workflowId: "ctl-done-1", queueName: "ctl.nope" }, "VALIDATION_ERROR"],
        ["resume", { workflowId: "ctl-done-1", partitionKey: "t" }, "VALIDATION_ERROR"],
        ["fork", { workflowId: "ctl-done-1", startStep: 1, newWorkflowId: "ctl-bad-fork", queueName: "ctl.nope" }, "VALIDATION_ERROR"],
        ["fork", { workflowId: "ctl-done-1", startStep: 1, newWorkflowId: "ctl-bad-fork", queueName: "ctl.line", priority: 2 }, "VALIDATION_ERROR"],
        ["queues", { queueName: 5 }, "VALIDATION_ERROR"],
        ["queues", { queueName: "q".repeat(129) }, "VALIDATION_ERROR"],
        ["queued", { queueName: "not a queue!" }, "VALIDATION_ERROR"],
        ["queued", { queueName: "ctl.line", status: "SUCCESS" }, "VALIDATION_ERROR"],
        ["queued", { queueName: "ctl.line", status: 1 }, "VALIDATION_ERROR"],
        ["queued", { queueName: "ctl.line", limit: 0 }, "VALIDATION_ERROR"],
        ["queued", { queueName: "ctl.line", limit: "ten" }, "VALIDATION_ERROR"],
        ["queued", { queueName: "ctl.line", nextToken: "bm90LWEtdG9rZW4" }, "VALIDATION_ERROR"],
      ];
      for (const [op, payload, code] of cases) await refused(op, payload, code);
      const messageError = await refused("send", { workflowId: "ctl-done-1", topic: "t" }, "VALIDATION_ERROR");
      assert.match(messageError.message, /"message" is required/);
      // No refused send left a message behind.
      for (const topic of [undefined, "t"]) assert.equal(await rt.store.oldestMessage("ctl-done-1", topic), undefined, `a message on ${topic ?? "the default topic"}`);

      const resumeError = await refused("resume", { workflowId: "ctl-done-1" }, "INVALID_WORKFLOW_STATE");
      assert.match(resumeError.message, /SUCCESS/);
      const forkError = await refused("fork", { workflowId: "ctl-done-1", startStep: 99 }, "STEP_OUT_OF_RANGE");
      assert.match(forkError.message, /between 1 and 2/);

      assert.deepEqual(await snapshot(), before, "no workflow was created or changed");
      assert.equal((await ok("steps", { workflowId: "ctl-done-1" })).steps.length, 1);
    });

    it("refuses a payload that is not a JSON object, for every operation", async () => {
      const before = await snapshot();
      for (const op of OPERATIONS) {
        for (const payload of [null, "ctl-done-1", 42, true, ["ctl-done-1"]]) {
          const error = await refused(op, payload, "VALIDATION_ERROR");
          assert.match(error.message, /needs a JSON object/);
        }
        // An Invoke without a payload arrives as an empty object (a valid listing).
        if (!["list", "queues", "queued"].includes(op)) await refused(op, undefined, "VALIDATION_ERROR");
      }
      assert.deepEqual(await snapshot(), before);
    });

    it("refuses to start a workflow whose name is not in CAIRN_WORKFLOW_NAMES, as deployed", async () => {
      // Prepare: the start function as the construct configures it with workflowNames.
      process.env.CAIRN_WORKFLOW_NAMES = "greet, order";
      let handler: ControlHandler;
      try {
        handler = createControlHandler("start", { client: rt.client, logger: quiet });
      } finally {
        delete process.env.CAIRN_WORKFLOW_NAMES;
      }
      const before = await snapshot();

      // Act
      const refused = await handler({ workflowName: "gret", workflowId: "ctl-typo-1" }, lambdaContext("cairn-start", 30_000));
      const accepted = await handler({ workflowName: "greet", workflowId: "ctl-names-1", input: { name: "Ada" } }, lambdaContext("cairn-start", 30_000));

      // Assess
      assert.equal(refused.ok, false);
      if (!refused.ok) {
        assert.equal(refused.error.code, "UNKNOWN_WORKFLOW");
        assert.match(refused.error.message, /"gret"/);
      }
      assert.equal(accepted.ok, true);
      await ok("result", { workflowId: "ctl-names-1", timeoutMs: 20_000 });
      assert.equal(Object.keys(await snapshot()).includes("ctl-typo-1"), false);
      assert.equal(Object.keys(before).includes("ctl-typo-1"), false);
    });

    it("answers with an error, never a throw, when the function's environment is missing", async () => {
      const saved = { table: process.env.CAIRN_TABLE_NAME, queue: process.env.CAIRN_QUEUE_URL };
      delete process.env.CAIRN_TABLE_NAME;
      delete process.env.CAIRN_QUEUE_URL;
      try {
        const handler = createControlHandler("status", { logger: quiet });
        const answer = await handler({ workflowId: "ctl-done-1" }, lambdaContext("cairn-status", 30_000));
        assert.equal(answer.ok, false);
        if (!answer.ok) {
          // The deployment's fault, not the caller's: not a VALIDATION_ERROR.
          assert.equal(answer.error.code, "CONFIGURATION_ERROR");
          assert.match(answer.error.message, /CAIRN_TABLE_NAME/);
        }
      } finally {
        if (saved.table !== undefined) process.env.CAIRN_TABLE_NAME = saved.table;
        if (saved.queue !== undefined) process.env.CAIRN_QUEUE_URL = saved.queue;
      }
    });
  });
});
