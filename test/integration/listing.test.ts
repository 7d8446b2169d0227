import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  defineWorkflow,
  ValidationError,
  WorkflowClient,
  WorkflowStatus,
  type ListWorkflowsInput,
  type WorkQueue,
} from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { startTestRuntime, waitFor } from "../helpers/runtime.js";

// ---------------------------------------------------------------------------
// Workflows under test, and the fixture every test lists
// ---------------------------------------------------------------------------

const alpha = defineWorkflow("list.alpha", async (ctx, input: { i: number }) => ctx.step("square", () => input.i * input.i));
const beta = defineWorkflow("list.beta", async (ctx, input: { fail: boolean }) =>
  ctx.step("maybeFail", () => {
    if (input.fail) throw new Error("beta failed on purpose");
    return "ok";
  }),
);
const gamma = defineWorkflow("list.gamma", async (ctx) => ctx.step("never", () => "never runs: its messages are lost"));

const ALPHA = ["alpha-0", "alpha-1", "alpha-2", "alpha-3", "alpha-4"];
const BETA = ["beta-0", "beta-1", "beta-2"];
const GAMMA = ["gamma-cancelled", "gamma-enqueued"];
/** createdAt of each fixture workflow, by id. */
const created = new Map<string, number>();

let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([alpha, beta, gamma]);
  // A client whose messages are lost leaves gamma workflows ENQUEUED for as long as the tests need.
  const lostQueue: WorkQueue = { send: async () => undefined, sendAdmit: async () => undefined, extendVisibility: async () => undefined };
  const stalled = new WorkflowClient({ store: rt.store, queue: lostQueue });
  // Started one at a time, a few ms apart, so creation times are distinct and ordered.
  for (const [i, id] of ALPHA.entries()) {
    await rt.client.startWorkflow(alpha, { i }, { workflowId: id });
    await sleep(3);
  }
  for (const [i, id] of BETA.entries()) {
    await rt.client.startWorkflow(beta, { fail: i === 1 }, { workflowId: id });
    await sleep(3);
  }
  for (const id of GAMMA) {
    await stalled.startWorkflow(gamma, undefined, { workflowId: id });
    await sleep(3);
  }
  await rt.client.cancelWorkflow("gamma-cancelled");
  for (const id of [...ALPHA, ...BETA, ...GAMMA]) {
    const status = await waitFor(`${id} to settle`, async () => {
      const s = await rt.client.getWorkflowStatus(id);
      return s.status !== WorkflowStatus.PENDING && (s.status !== WorkflowStatus.ENQUEUED || id === "gamma-enqueued") ? s : undefined;
    });
    created.set(id, status.createdAt);
  }
});

after(async () => {
  await rt.stop();
});

/** Follow nextToken to the end; returns the pages' ids. */
async function allPages(input: ListWorkflowsInput): Promise<string[][]> {
  const pages: string[][] = [];
  let nextToken: string | undefined;
  do {
    const page = await rt.client.listWorkflows({ ...input, ...(nextToken ? { nextToken } : {}) });
    pages.push(page.workflows.map((w) => w.workflowId));
    nextToken = page.nextToken;
    assert.ok(pages.length <= 20, "paging ends");
  } while (nextToken);
  return pages;
}

const ids = async (input: ListWorkflowsInput) => (await rt.client.listWorkflows(input)).workflows.map((w) => w.workflowId);

describe("WorkflowClient", () => {
  describe("listWorkflows", () => {
    it("filters by workflow name, oldest first, with status, input and output", async () => {
      // Act
      const { workflows, nextToken } = await rt.client.listWorkflows({ name: "list.alpha" });

      // Assess
      assert.equal(nextToken, undefined);
      assert.deepEqual(
        workflows.map((w) => [w.workflowId, w.name, w.status, w.input, w.output]),
        ALPHA.map((id, i) => [id, "list.alpha", WorkflowStatus.SUCCESS, { i }, i * i]),
      );
      assert.deepEqual(
        workflows.map((w) => w.createdAt),
        ALPHA.map((id) => created.get(id)),
      );
    });

    it("filters by status", async () => {
      // Act
      const byStatus = {
        ERROR: await ids({ status: WorkflowStatus.ERROR }),
        CANCELLED: await ids({ status: WorkflowStatus.CANCELLED }),
        ENQUEUED: await ids({ status: WorkflowStatus.ENQUEUED }),
        SUCCESS: await ids({ status: WorkflowStatus.SUCCESS }),
        PENDING: await ids({ status: WorkflowStatus.PENDING }),
      };

      // Assess
      assert.deepEqual(byStatus, {
        ERROR: ["beta-1"],
        CANCELLED: ["gamma-cancelled"],
        ENQUEUED: ["gamma-enqueued"],
        SUCCESS: [...ALPHA, "beta-0", "beta-2"],
        PENDING: [],
      });
      const [failed] = (await rt.client.listWorkflows({ status: WorkflowStatus.ERROR })).workflows;
      assert.equal(failed?.error?.message, "beta failed on purpose");
    });

    it("filters by name and status together, paging through the filtered items", async () => {
      // Act
      const together = await ids({ name: "list.beta", status: WorkflowStatus.SUCCESS });
      const pages = await allPages({ name: "list.beta", status: WorkflowStatus.SUCCESS, limit: 1 });

      // Assess
      assert.deepEqual(together, ["beta-0", "beta-2"]);
      assert.deepEqual(pages.flat(), ["beta-0", "beta-2"]);
      assert.ok(pages.every((p) => p.length <= 1));
      assert.deepEqual(await ids({ name: "list.alpha", status: WorkflowStatus.ERROR }), []);
    });

    it("filters by creation time, both bounds inclusive", async () => {
      // Prepare
      const startTime = created.get("alpha-1")!;
      const endTime = created.get("alpha-3")!;

      // Act
      const byName = await ids({ name: "list.alpha", startTime, endTime });
      const all = await ids({ startTime, endTime });
      const fromOnly = await ids({ name: "list.beta", startTime: created.get("beta-1")! });
      const untilOnly = await ids({ name: "list.beta", endTime: created.get("beta-1")! });

      // Assess
      assert.deepEqual(byName, ["alpha-1", "alpha-2", "alpha-3"]);
      assert.deepEqual(all, ["alpha-1", "alpha-2", "alpha-3"]);
      assert.deepEqual(fromOnly, ["beta-1", "beta-2"]);
      assert.deepEqual(untilOnly, ["beta-0", "beta-1"]);
    });

    it("pages with limit and nextToken, each workflow once and in order", async () => {
      // Act
      const pages = await allPages({ name: "list.alpha", limit: 2 });

      // Assess
      assert.deepEqual(pages.slice(0, 3), [
        ["alpha-0", "alpha-1"],
        ["alpha-2", "alpha-3"],
        ["alpha-4"],
      ]);
      assert.deepEqual(pages.flat(), ALPHA);
    });

    it("sorts newest first with sortDesc, across pages too", async () => {
      // Act
      const all = await ids({ name: "list.alpha", sortDesc: true });
      const pages = await allPages({ name: "list.alpha", sortDesc: true, limit: 3 });
      const everything = await ids({ sortDesc: true });

      // Assess
      assert.deepEqual(all, [...ALPHA].reverse());
      assert.deepEqual(pages.flat(), [...ALPHA].reverse());
      assert.deepEqual(everything, [...ALPHA, ...BETA, ...GAMMA].reverse());
    });

    it("lists every workflow, oldest first, when no filter is given", async () => {
      // Act
      const listed = await ids({});

      // Assess
      assert.deepEqual(listed, [...ALPHA, ...BETA, ...GAMMA]);
    });

    it("refuses invalid input with ValidationError", async () => {
      // Act / Assess
      for (const input of [
        { limit: 0 },
        { limit: 1_001 },
        { limit: 2.5 },
        { nextToken: "not-a-token" },
        { status: "DONE" as WorkflowStatus },
        { startTime: -1 },
        { endTime: Number.NaN },
        { name: "" },
        { name: "x".repeat(129) },
        { name: "has space" },
        { startTime: 1e300 },
        { nextToken: "x".repeat(3_000) },
      ]) {
        await assert.rejects(rt.client.listWorkflows(input), ValidationError, JSON.stringify(input).slice(0, 100));
      }
    });

    it("takes a nextToken only with the query it came from, whatever the page size", async () => {
      // Prepare
      const first = await rt.client.listWorkflows({ name: "list.alpha", limit: 2 });
      const token = first.nextToken!;

      // Act
      const rest = await rt.client.listWorkflows({ name: "list.alpha", limit: 10, nextToken: token });

      // Assess: the same query goes on; any other query refuses the token
      assert.deepEqual([...first.workflows, ...rest.workflows].map((w) => w.workflowId), ALPHA);
      for (const other of [
        { name: "list.beta" },
        { name: "list.alpha", status: WorkflowStatus.SUCCESS },
        { name: "list.alpha", startTime: created.get("alpha-1")! },
        { name: "list.alpha", endTime: created.get("alpha-4")! },
        { name: "list.alpha", sortDesc: true },
        {},
      ] as ListWorkflowsInput[]) {
        await assert.rejects(
          rt.client.listWorkflows({ ...other, nextToken: token }),
          (err: unknown) => err instanceof ValidationError && /nextToken does not belong to this query/.test(err.message),
          JSON.stringify(other),
        );
      }
    });
  });

  describe("iterateWorkflows", () => {
    it("yields every matching workflow across pages", async () => {
      // Act
      const seen: string[] = [];
      for await (const wf of rt.client.iterateWorkflows({ status: WorkflowStatus.SUCCESS, limit: 2 })) seen.push(wf.workflowId);

      // Assess
      assert.deepEqual(seen, [...ALPHA, "beta-0", "beta-2"]);
    });
  });
});
