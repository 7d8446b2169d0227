import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  createControlHandler,
  defineWorkflow,
  DynamoWorkflowStore,
  ValidationError,
  WorkflowClient,
  type ControlHandler,
  type Logger,
  type WorkflowStore,
  type WorkQueue,
} from "../../src/index.js";
import { OPERATIONS, type ControlResponse, type OperationName } from "../../src/control/operations.js";
import { lambdaContext } from "../../src/local/lambdaContext.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";

// What a seeded fuzz campaign against the control functions found, one test per
// finding: every bad or hostile request gets a typed error with a short message,
// changes nothing, and no answer outgrows Lambda's 6 MB response limit.

/** Lambda's limit on a function's answer. */
const LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024;
const KB = 1024;

const probe = new StepProbe();

/** Two steps; tests hold the first one open. */
const gated = defineWorkflow("bad.gated", async (ctx, input: { n: number }) => {
  const a = await ctx.step("first", async () => {
    await probe.ran(ctx.workflowId, "first");
    return input.n + 1;
  });
  return ctx.step("second", () => a * 10);
});
/** Started through a client whose messages are lost, so these stay ENQUEUED with their inputs. */
const idle = defineWorkflow("bad.idle", async (ctx) => ctx.step("never", () => "never runs"));
const big = defineWorkflow("bad.big", async (ctx) => ctx.step("never", () => "never runs"));

const workflows = [gated, idle, big];

/** Every log entry the control handlers wrote, as its JSON line (errors with their message and stack). */
const logged: string[] = [];
const entry = (level: string) => (message: string, fields: Record<string, unknown> = {}) => {
  const plain = Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v]),
  );
  logged.push(JSON.stringify({ level, message, ...plain }));
};
const capture: Logger = { debug: entry("DEBUG"), info: entry("INFO"), warn: entry("WARN"), error: entry("ERROR") };

let rt: LocalRuntime;
let stalled: WorkflowClient;
let handlers: Record<OperationName, ControlHandler>;

interface Answer {
  response: ControlResponse<any>;
  /** The answer's size as Lambda would send it. */
  bytes: number;
}

/** Invoke like Lambda: the payload through JSON (unless `raw`), the answer too. */
async function call(op: OperationName, payload: unknown, options: { remainingMs?: number; raw?: boolean; handler?: ControlHandler } = {}): Promise<Answer> {
  const event = options.raw || payload === undefined ? payload : JSON.parse(JSON.stringify(payload));
  const response = await (options.handler ?? handlers[op])(event, lambdaContext(`cairn-${op}`, options.remainingMs ?? 30_000));
  const text = JSON.stringify(response);
  return { response: JSON.parse(text) as ControlResponse<any>, bytes: Buffer.byteLength(text, "utf8") };
}

async function ok(op: OperationName, payload: unknown): Promise<any> {
  const { response } = await call(op, payload);
  assert.ok(response.ok, `${op} failed: ${JSON.stringify(response).slice(0, 500)}`);
  return response.result;
}

async function refused(
  op: OperationName,
  payload: unknown,
  code: string,
  options: { raw?: boolean; handler?: ControlHandler } = {},
): Promise<{ code: string; name: string; message: string; details?: Record<string, unknown> }> {
  const { response } = await call(op, payload, options);
  assert.equal(response.ok, false, `${op} should be refused`);
  if (response.ok) throw new Error("unreachable");
  assert.equal(response.error.code, code, response.error.message.slice(0, 500));
  assert.ok(response.error.message.length < 400, `${op}: a short message, not ${response.error.message.length} characters`);
  return response.error;
}

/** Every workflow with its status and update time, to show that a refused call changed nothing. */
async function snapshot(): Promise<Record<string, string>> {
  const all: Record<string, string> = {};
  for await (const wf of rt.client.iterateWorkflows()) all[wf.workflowId] = `${wf.status}@${wf.updatedAt}`;
  return all;
}

const nested = (depth: number): unknown => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = { down: value };
  return value;
};
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");

before(async () => {
  rt = await startTestRuntime(workflows);
  const lostQueue: WorkQueue = { send: async () => undefined, sendAdmit: async () => undefined, extendVisibility: async () => undefined };
  stalled = new WorkflowClient({ store: rt.store, queue: lostQueue });
  handlers = Object.fromEntries(OPERATIONS.map((op) => [op, createControlHandler(op, { client: rt.client, workflows, logger: capture })])) as Record<
    OperationName,
    ControlHandler
  >;
  for (let i = 0; i < 3; i++) {
    await stalled.startWorkflow(idle, undefined, { workflowId: `bad-list-${i}` });
    await sleep(3);
  }
});

after(async () => {
  await rt?.stop();
});

describe("control functions with bad and hostile input", () => {
  describe("list nextToken", () => {
    it("refuses a token that is not a token of the same query, and takes a right one with another limit", async () => {
      // Prepare: tokens of other queries, and forged ones
      const first = await ok("list", { name: "bad.idle", limit: 1 });
      const unfiltered = await ok("list", { limit: 1 });
      const byStatus = await ok("list", { status: "ENQUEUED", limit: 1 });
      const createdAt = first.workflows[0].createdAt as number;
      const before = await snapshot();

      // Act / Assess
      const cases: [string, Record<string, unknown>][] = [
        ["a forged key", { nextToken: b64({ pk: "x" }) }],
        ["a forged key with an object sk", { nextToken: b64({ pk: "WF#bad-list-0", sk: { S: "#WF" } }) }],
        ["a key of this query's shape from another era", { name: "bad.idle", nextToken: b64({ pk: "WF#bad-list-0", sk: "#WF", gsiName: "bad.idle", gsiSort: 1 }) }],
        ["the unfiltered listing's token with a name", { name: "bad.idle", nextToken: unfiltered.nextToken }],
        ["the same query's token with a later startTime", { name: "bad.idle", limit: 1, startTime: createdAt + 1, nextToken: first.nextToken }],
        ["the same query's token in the other order", { name: "bad.idle", sortDesc: true, nextToken: first.nextToken }],
        ["a status listing's token with a name", { name: "bad.idle", status: "ENQUEUED", nextToken: byStatus.nextToken }],
        ["not base64", { nextToken: "%%%not a token%%%" }],
        ["10 KB of base64", { nextToken: "A".repeat(10 * KB) }],
      ];
      for (const [what, payload] of cases) {
        const error = await refused("list", payload, "VALIDATION_ERROR");
        assert.match(error.message, /nextToken does not belong to this query/, what);
        assert.equal(error.details?.field, "nextToken", what);
      }
      assert.deepEqual(await snapshot(), before);

      // A right token goes on where the first page ended, whatever the page size.
      const rest = await ok("list", { name: "bad.idle", limit: 10, nextToken: first.nextToken });
      assert.deepEqual(
        [...first.workflows, ...rest.workflows].map((w: { workflowId: string }) => w.workflowId),
        ["bad-list-0", "bad-list-1", "bad-list-2"],
      );
    });
  });

  describe("limits on strings and values", () => {
    it("refuses every string over its limit before anything is written, with a short message", async () => {
      // Prepare
      const before = await snapshot();
      const mb = "x".repeat(1024 * KB);

      // Act / Assess
      const cases: [OperationName, Record<string, unknown>][] = [
        ["start", { workflowName: "bad.idle", workflowId: "bad-version-1", applicationVersion: "v".repeat(400 * KB) }],
        ["start", { workflowName: "bad.idle", workflowId: mb }],
        ["start", { workflowName: "x".repeat(3_000), workflowId: "bad-name-1" }],
        ["start", { workflowName: mb }],
        ["fork", { workflowId: "bad-list-0", startStep: 1, newWorkflowId: "bad-fork-1", applicationVersion: "v".repeat(400 * KB) }],
        ["fork", { workflowId: "bad-list-0", startStep: 1, newWorkflowId: mb }],
        ["fork", { workflowId: mb, startStep: 1 }],
        ["status", { workflowId: mb }],
        ["result", { workflowId: mb }],
        ["cancel", { workflowId: mb }],
        ["resume", { workflowId: mb }],
        ["steps", { workflowId: mb }],
        ["list", { name: mb }],
        ["list", { name: "x".repeat(3_000) }],
        ["list", { status: mb }],
        ["list", { nextToken: mb }],
      ];
      for (const [op, payload] of cases) {
        const error = await refused(op, payload, "VALIDATION_ERROR");
        assert.ok(!error.message.includes("x".repeat(200)), `${op}: the value is not echoed in full`);
      }
      // The library client checks as the control operations do.
      await assert.rejects(rt.client.forkWorkflow("bad-list-0", 1, { workflowId: "bad-fork-2", applicationVersion: "" }), ValidationError);

      // Assess: nothing was created or changed
      assert.deepEqual(await snapshot(), before);
    });

    it("refuses an input over the value limit with PAYLOAD_TOO_LARGE, and one nested too deep with VALIDATION_ERROR", async () => {
      // Act
      const tooLarge = await refused("start", { workflowName: "bad.idle", workflowId: "bad-input-1", input: "x".repeat(400 * KB) }, "PAYLOAD_TOO_LARGE");
      const deep = await refused("start", { workflowName: "bad.idle", workflowId: "bad-input-2", input: nested(2_000) }, "VALIDATION_ERROR");
      const deeper = await refused("start", { workflowName: "bad.idle", workflowId: "bad-input-3", input: nested(100_000) }, "VALIDATION_ERROR", { raw: true });

      // Assess
      assert.match(tooLarge.message, /bytes/);
      assert.match(deep.message, /nested more than \d+ levels deep/);
      assert.match(deeper.message, /nested more than \d+ levels deep/);
      for (const id of ["bad-input-1", "bad-input-2", "bad-input-3"]) await refused("status", { workflowId: id }, "WORKFLOW_NOT_FOUND");
    });
  });

  describe("errors from AWS and from nowhere", () => {
    it("answers a typed error for a missing table, without DynamoDB's text, and logs the detail", async () => {
      // Prepare: the functions of a stack whose table is gone
      const missing = new WorkflowClient({ store: new DynamoWorkflowStore({ tableName: "no-such-table", client: rt.dynamodb }), queue: rt.queue });
      const handler = createControlHandler("status", { client: missing, logger: capture });
      logged.length = 0;

      // Act
      const error = await refused("status", { workflowId: "bad-list-0" }, "TABLE_NOT_FOUND", { handler });

      // Assess
      assert.doesNotMatch(error.message, /ResourceNotFound|non-existent|Requested resource/);
      assert.match(error.message, /CAIRN_TABLE_NAME/);
      assert.equal(typeof error.details?.errorId, "string");
      assert.ok(logged.some((line) => line.includes("ResourceNotFoundException") && line.includes(String(error.details?.errorId))), "the detail is logged");
    });

    it("answers INTERNAL_ERROR with a generic message for an unknown failure, and logs the detail under the answer's error id", async () => {
      // Prepare: a store that fails as DynamoDB does when a request is malformed
      const failure = Object.assign(new Error("The provided key element does not match the schema"), { name: "ValidationException" });
      const broken = new Proxy({}, { get: () => async () => Promise.reject(failure) }) as WorkflowStore;
      const handler = createControlHandler("status", { client: new WorkflowClient({ store: broken, queue: rt.queue }), logger: capture });
      logged.length = 0;

      // Act
      const error = await refused("status", { workflowId: "bad-list-0" }, "INTERNAL_ERROR", { handler });

      // Assess
      assert.doesNotMatch(error.message, /provided key|ValidationException/);
      const errorId = String(error.details?.errorId);
      assert.match(error.message, new RegExp(errorId));
      assert.ok(logged.some((line) => line.includes("The provided key element") && line.includes(errorId)), "the detail is logged");
    });

    it("clips an echoed value in the answer and in the log", async () => {
      // Prepare
      logged.length = 0;
      const id = "y".repeat(1024 * KB);

      // Act
      const error = await refused("status", { workflowId: id }, "VALIDATION_ERROR");
      const unknownName = await refused("start", { workflowName: "z".repeat(1024 * KB) }, "VALIDATION_ERROR");

      // Assess
      assert.match(error.message, /1048576/, "says how long the value was");
      assert.ok(unknownName.message.length < 400);
      assert.ok(logged.length > 0);
      for (const line of logged) assert.ok(line.length < 5_000, `a log line of ${line.length} characters`);
    });
  });

  describe("answer sizes", () => {
    it("keeps a listing under Lambda's answer limit, paging by size and saying so", async () => {
      // Prepare: 22 workflows with 300 KB inputs
      const ids = Array.from({ length: 22 }, (_, i) => `bad-big-${String(i).padStart(2, "0")}`);
      for (const id of ids) await stalled.startWorkflow(big, { blob: "b".repeat(300 * KB) }, { workflowId: id });

      // Act: follow the pages
      const pages: Answer[] = [];
      let nextToken: string | undefined;
      do {
        const answer = await call("list", { name: "bad.big", limit: 25, ...(nextToken ? { nextToken } : {}) });
        assert.ok(answer.response.ok, JSON.stringify(answer.response).slice(0, 300));
        pages.push(answer);
        nextToken = answer.response.ok ? answer.response.result.nextToken : undefined;
        assert.ok(pages.length <= 22);
      } while (nextToken);
      const unfiltered = await call("list", { limit: 25, sortDesc: true });

      // Assess
      for (const page of [...pages, unfiltered]) assert.ok(page.bytes < LAMBDA_RESPONSE_BYTES, `an answer of ${page.bytes} bytes`);
      assert.ok(pages.length > 1, "the listing was cut into pages");
      const first = pages[0]!.response as { ok: true; result: any };
      assert.equal(first.result.sizeLimited, true);
      assert.ok(first.result.workflows.length < 22);
      const listed = pages.flatMap((p) => (p.response as { ok: true; result: any }).result.workflows.map((w: { workflowId: string }) => w.workflowId));
      assert.deepEqual(listed, ids, "every workflow once, in order");
      assert.equal((pages[0]!.response as { ok: true; result: any }).result.workflows[0].input.blob.length, 300 * KB, "inputs in full");
    });

    it("keeps a steps answer under the limit, paging by size", async () => {
      // Prepare: a workflow with 22 recorded steps of 300 KB outputs
      await stalled.startWorkflow(idle, undefined, { workflowId: "bad-steps-1" });
      const now = Date.now();
      for (let functionId = 1; functionId <= 22; functionId++) {
        await rt.store.putStepIfAbsent({
          workflowId: "bad-steps-1",
          functionId,
          name: `s${functionId}`,
          kind: "step",
          status: "SUCCESS",
          output: JSON.stringify("s".repeat(300 * KB)),
          attempts: 1,
          startedAt: now,
          completedAt: now,
        });
      }

      // Act
      const pages: Answer[] = [];
      let nextToken: string | undefined;
      do {
        const answer = await call("steps", { workflowId: "bad-steps-1", ...(nextToken ? { nextToken } : {}) });
        assert.ok(answer.response.ok, JSON.stringify(answer.response).slice(0, 300));
        pages.push(answer);
        nextToken = answer.response.ok ? answer.response.result.nextToken : undefined;
        assert.ok(pages.length <= 22);
      } while (nextToken);

      // Assess
      for (const page of pages) assert.ok(page.bytes < LAMBDA_RESPONSE_BYTES, `an answer of ${page.bytes} bytes`);
      const steps = pages.flatMap((p) => (p.response as { ok: true; result: any }).result.steps.map((s: { functionId: number }) => s.functionId));
      assert.deepEqual(steps, Array.from({ length: 22 }, (_, i) => i + 1));
      assert.equal((pages[0]!.response as { ok: true; result: any }).result.sizeLimited, true);
      const otherWorkflow = await refused("steps", { workflowId: "bad-list-0", nextToken: (pages[0]!.response as { ok: true; result: any }).result.nextToken }, "VALIDATION_ERROR");
      assert.match(otherWorkflow.message, /nextToken does not belong to this query/);
    });
  });

  describe("cancel and timeoutMs", () => {
    it("answers success once the cancel is applied, naming the step still running when the wait ends first", async () => {
      // Prepare: a workflow in the middle of its first step
      const gate = probe.hold("bad-cancel-1", "first");
      await ok("start", { workflowName: "bad.gated", workflowId: "bad-cancel-1", input: { n: 1 } });
      await gate.reached;

      // Act
      const cancelled = await call("cancel", { workflowId: "bad-cancel-1", wait: true, timeoutMs: 300 });
      gate.open();

      // Assess
      assert.ok(cancelled.response.ok, JSON.stringify(cancelled.response));
      if (!cancelled.response.ok) return;
      assert.equal(cancelled.response.result.status, "CANCELLED");
      assert.equal(cancelled.response.result.idle, false);
      assert.deepEqual(cancelled.response.result.stillRunning, { functionId: 1, name: "first" });
      await waitFor("the running step recorded", async () => (await rt.client.listWorkflowSteps("bad-cancel-1")).some((s) => s.status === "SUCCESS"));
      const again = await ok("cancel", { workflowId: "bad-cancel-1", wait: true, timeoutMs: 5_000 });
      assert.equal(again.idle, true);
      assert.equal(again.stillRunning, undefined);
    });

    it("refuses a bad timeoutMs before cancelling anything", async () => {
      // Prepare
      const gate = probe.hold("bad-cancel-2", "first");
      await ok("start", { workflowName: "bad.gated", workflowId: "bad-cancel-2", input: { n: 2 } });
      await gate.reached;

      // Act / Assess
      for (const timeoutMs of [-1, "soon", true, { ms: 5 }, 1e20]) {
        const error = await refused("cancel", { workflowId: "bad-cancel-2", wait: true, timeoutMs }, "VALIDATION_ERROR");
        assert.equal(error.details?.field, "timeoutMs");
      }
      await refused("result", { workflowId: "bad-cancel-2", timeoutMs: -1 }, "VALIDATION_ERROR");
      assert.equal((await ok("status", { workflowId: "bad-cancel-2" })).status, "PENDING", "not cancelled");
      gate.open();
      await ok("result", { workflowId: "bad-cancel-2", timeoutMs: 20_000 });
    });

    it("treats a null timeoutMs as none, still bounded by the invocation's deadline", async () => {
      // Prepare
      const gate = probe.hold("bad-cancel-3", "first");
      await ok("start", { workflowName: "bad.gated", workflowId: "bad-cancel-3", input: { n: 3 } });
      await gate.reached;

      // Act
      const started = Date.now();
      const answer = await call("cancel", { workflowId: "bad-cancel-3", wait: true, timeoutMs: null }, { remainingMs: 1_600 });
      const tookMs = Date.now() - started;
      gate.open();

      // Assess
      assert.ok(tookMs < 1_600, `answered after ${tookMs} ms`);
      assert.ok(answer.response.ok, JSON.stringify(answer.response));
      if (answer.response.ok) {
        assert.equal(answer.response.result.status, "CANCELLED");
        assert.equal(answer.response.result.idle, false);
      }
      const result = await call("result", { workflowId: "bad-cancel-3", timeoutMs: null });
      assert.equal(result.response.ok, false);
      if (!result.response.ok) assert.equal(result.response.error.code, "WORKFLOW_CANCELLED");
    });

    it("gives a RESULT_TIMEOUT its facts as details, so callers need not parse the message", async () => {
      // Prepare
      const gate = probe.hold("bad-result-1", "first");
      await ok("start", { workflowName: "bad.gated", workflowId: "bad-result-1", input: { n: 4 } });
      await gate.reached;

      // Act
      const error = await refused("result", { workflowId: "bad-result-1", timeoutMs: 50 }, "RESULT_TIMEOUT");
      gate.open();

      // Assess
      assert.deepEqual(error.details, { workflowId: "bad-result-1", timeoutMs: 50, status: "PENDING" });
    });
  });
});
