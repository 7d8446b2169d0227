import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import {
  defineWorkflow,
  registerErrorClass,
  StepStatus,
  WorkflowCancelledError,
  WorkflowConflictError,
  WorkflowFailedError,
  WorkflowStatus,
} from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";

// Child workflows on the embedded stack: a tree cancelled and resumed as one,
// forks that reuse or restart children, a child's failure caught by its parent,
// and a cancel racing a child's end.

const probe = new StepProbe();
const tracked =
  <T>(workflowId: string, name: string, value: T) =>
  async (): Promise<T> => {
    await probe.ran(workflowId, name);
    return value;
  };

class Declined extends Error {
  override name = "Declined";
  constructor(readonly reason: string) {
    super(`declined: ${reason}`);
  }
}
registerErrorClass(Declined);

const grandchild = defineWorkflow("tree.grandchild", async (ctx, n: number) => {
  const a = await ctx.step("g1", tracked(ctx.workflowId, "g1", n * 10));
  return ctx.step("g2", tracked(ctx.workflowId, "g2", a + 1));
});

/** Child 1 invokes a grandchild; child 2 waits for a message ("go") before its last step. */
const child = defineWorkflow("tree.child", async (ctx, n: number) => {
  const c1 = await ctx.step("c1", tracked(ctx.workflowId, "c1", n));
  const g = n === 1 ? await ctx.invoke(grandchild, c1) : await ctx.recv<number>({ topic: "go" });
  return ctx.step("c2", tracked(ctx.workflowId, "c2", c1 + (g ?? 0)));
});

const tree = defineWorkflow("tree.parent", async (ctx) => {
  const p1 = await ctx.step("p1", tracked(ctx.workflowId, "p1", 1));
  const first = await ctx.startWorkflow(child, p1);
  const second = await ctx.startWorkflow(child, 2);
  const [r1, r2] = await Promise.all([first.getResult(), second.getResult()]);
  return ctx.step("p2", tracked(ctx.workflowId, "p2", { r1, r2 }));
});

const leaf = defineWorkflow("tree.leaf", async (ctx, n: number) => ctx.step("leaf", tracked(ctx.workflowId, "leaf", n + 1)));

const forkable = defineWorkflow("tree.forkable", async (ctx) => {
  const a = await ctx.step("a", tracked(ctx.workflowId, "a", 1));
  const handle = await ctx.startWorkflow(leaf, a);
  const r = await handle.getResult();
  return ctx.step("b", tracked(ctx.workflowId, "b", r * 100));
});

const failingChild = defineWorkflow("tree.failingChild", async (ctx) => {
  await ctx.step("try", async () => {
    throw new Declined("card expired");
  });
});

const catcher = defineWorkflow("tree.catcher", async (ctx) => {
  try {
    await ctx.invoke(failingChild, undefined);
    return "not thrown";
  } catch (err) {
    return err instanceof Declined ? `caught ${err.reason}` : `wrong error ${String(err)}`;
  }
});

const quickChild = defineWorkflow("tree.quickChild", async (ctx) => ctx.step("only", tracked(ctx.workflowId, "only", 7)));
const racer = defineWorkflow("tree.racer", async (ctx) => {
  const r = await ctx.invoke(quickChild, undefined);
  return ctx.step("after", tracked(ctx.workflowId, "after", r + 1));
});

/** Starting one child id twice is idempotent (the same child); as another workflow, a conflict. */
const explicitIds = defineWorkflow("tree.explicitIds", async (ctx, childId: string) => {
  const handle = await ctx.startWorkflow(leaf, 1, { workflowId: childId });
  const again = await ctx.startWorkflow(leaf, 1, { workflowId: childId });
  if (again.workflowId !== handle.workflowId) return { first: -1, second: "a second child" };
  try {
    await ctx.startWorkflow(quickChild, undefined, { workflowId: childId });
    return { first: await handle.getResult(), second: "started" };
  } catch (err) {
    return { first: await handle.getResult(), second: err instanceof WorkflowConflictError ? "conflict" : String(err) };
  }
});

let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([grandchild, child, tree, leaf, forkable, failingChild, catcher, quickChild, racer, explicitIds], {
    functionTimeoutMs: 10_000,
    maxConcurrency: 8,
  });
});

after(async () => {
  await rt?.stop();
});

const statusOf = async (id: string) => (await rt.client.getWorkflowStatus(id)).status;
const stepNames = async (id: string) => (await rt.client.listWorkflowSteps(id)).filter((s) => s.status !== StepStatus.PENDING).map((s) => s.name);

describe("child workflows", () => {
  it("cancels a three-level tree as one, waits for the running grandchild step, and resumes the whole tree without re-running a recorded step", async () => {
    const P = "tree-1";
    const [child1, child2, grand] = [`${P}-2`, `${P}-3`, `${P}-2-2`];
    const gate = probe.hold(grand, "g1");
    await rt.client.startWorkflow(tree, undefined, { workflowId: P });
    await gate.reached;
    await waitFor("child 2 waiting for its message", async () => (await rt.client.listWorkflowSteps(child2)).some((s) => s.name === "c1"));

    const cancelling = rt.client.cancelWorkflow(P, { wait: true });
    await waitFor("the cancel reaching the grandchild", async () => (await statusOf(grand)) === WorkflowStatus.CANCELLED);
    gate.open(); // the grandchild's running step finishes; the cancel's wait ends after it is recorded
    const cancelled = await cancelling;
    assert.equal(cancelled.idle, true, "the cancel waited until nothing of the tree ran");
    assert.deepEqual(new Set(cancelled.cancelledDescendants), new Set([child1, child2, grand]), "every descendant was cancelled by the cascade");
    for (const id of [P, child1, child2, grand]) assert.equal(await statusOf(id), WorkflowStatus.CANCELLED, `${id} is CANCELLED`);
    assert.deepEqual(await stepNames(grand), ["g1"], "the running grandchild step was recorded, nothing after it");

    const before = [probe.count(grand, "g2"), probe.count(child1, "c2"), probe.count(child2, "c2"), probe.count(P, "p2")];
    await sleep(1_500);
    assert.deepEqual([probe.count(grand, "g2"), probe.count(child1, "c2"), probe.count(child2, "c2"), probe.count(P, "p2")], before, "nothing of the tree ran after the cancel");
    assert.deepEqual(before, [0, 0, 0, 0]);

    // The parent's status and listings show the tree.
    assert.equal((await rt.client.getWorkflowStatus(child1)).parentWorkflowId, P);
    const children = await rt.client.listWorkflows({ parentWorkflowId: P });
    assert.deepEqual(children.workflows.map((w) => w.workflowId), [child1, child2], "listWorkflows({ parentWorkflowId }) lists the children in start order");
    const parentSteps = await rt.client.listWorkflowSteps(P);
    assert.deepEqual(parentSteps.filter((s) => s.kind === "start").map((s) => s.childWorkflowId), [child1, child2], "the start steps name their children");

    await rt.client.resumeWorkflow(P);
    await waitFor("child 2 waiting again", async () => (await statusOf(child2)) === WorkflowStatus.PENDING);
    await rt.client.send(child2, 5, { topic: "go" });
    const result = await rt.client.retrieveWorkflow(P).getResult({ timeoutMs: 30_000 });
    assert.deepEqual(result, { r1: 1 + 11, r2: 2 + 5 });
    for (const id of [P, child1, child2, grand]) assert.equal(await statusOf(id), WorkflowStatus.SUCCESS, `${id} is SUCCESS after the resume`);
    for (const [id, step] of [[P, "p1"], [child1, "c1"], [child2, "c1"], [grand, "g1"]] as const) {
      assert.equal(probe.count(id, step), 1, `recorded step ${id}/${step} did not run again`);
    }
  });

  it("makes a parent's getResult throw WorkflowCancelledError when the child is cancelled on its own", async () => {
    const P = "tree-own";
    await rt.client.startWorkflow(tree, undefined, { workflowId: P });
    const child2 = `${P}-3`;
    await waitFor("child 2 waiting", async () => (await rt.client.listWorkflowSteps(child2).catch(() => [])).some((s) => s.name === "c1"));
    await rt.client.cancelWorkflow(child2);
    // The parent waits on child 1, then sees child 2's cancel as its getResult's error.
    await assert.rejects(rt.client.retrieveWorkflow(P).getResult({ timeoutMs: 30_000 }), WorkflowFailedError);
    assert.equal(await statusOf(P), WorkflowStatus.ERROR);
    const error = (await rt.client.getWorkflowStatus(P)).error;
    assert.equal(error?.name, "WorkflowCancelledError", "the parent's getResult threw WorkflowCancelledError");
  });

  it("forks a parent after its child start (the child is reused) and before it (a new child)", async () => {
    const P = "fork-parent";
    assert.equal(await rt.client.startWorkflow(forkable, undefined, { workflowId: P }).then((h) => h.getResult({ timeoutMs: 20_000 })), 200);
    const original = `${P}-2`;

    const reuse = await rt.client.forkWorkflow(P, 3, { workflowId: "fork-after" });
    assert.equal(await reuse.getResult({ timeoutMs: 20_000 }), 200);
    assert.equal(probe.count(original, "leaf"), 1, "the original child did not run again");
    assert.deepEqual((await rt.client.listWorkflows({ parentWorkflowId: "fork-after" })).workflows, [], "no new child");
    const reusedStart = (await rt.client.listWorkflowSteps("fork-after")).find((s) => s.kind === "start");
    assert.equal(reusedStart?.childWorkflowId, original);

    const fresh = await rt.client.forkWorkflow(P, 2, { workflowId: "fork-before" });
    assert.equal(await fresh.getResult({ timeoutMs: 20_000 }), 200);
    const children = (await rt.client.listWorkflows({ parentWorkflowId: "fork-before" })).workflows;
    assert.deepEqual(children.map((w) => w.workflowId), ["fork-before-2"], "a new child under an id derived from the fork's");
    assert.equal(probe.count("fork-before-2", "leaf"), 1);
  });

  it("delivers a child's error to its parent as the same class, which the parent catches", async () => {
    const result = await rt.client.startWorkflow(catcher, undefined, { workflowId: "catcher-1" }).then((h) => h.getResult({ timeoutMs: 20_000 }));
    assert.equal(result, "caught card expired");
    assert.equal(await statusOf("catcher-1-1"), WorkflowStatus.ERROR);
  });

  it("starts one child id twice as the same child, and refuses it to another workflow as an error the workflow catches", async () => {
    const result = await rt.client.startWorkflow(explicitIds, "explicit-child", { workflowId: "explicit-parent" }).then((h) => h.getResult({ timeoutMs: 20_000 }));
    assert.deepEqual(result, { first: 2, second: "conflict" });
    assert.equal((await rt.client.getWorkflowStatus("explicit-child")).parentWorkflowId, "explicit-parent");

    // A fork from before the start never adopts the original's child: the explicit id gets the fork's id in front.
    const fork = await rt.client.forkWorkflow("explicit-parent", 1, { workflowId: "explicit-fork" });
    assert.deepEqual(await fork.getResult({ timeoutMs: 20_000 }), { first: 2, second: "conflict" });
    assert.equal((await rt.client.getWorkflowStatus("explicit-fork-explicit-child")).parentWorkflowId, "explicit-fork");
    assert.equal((await rt.client.getWorkflowStatus("explicit-child")).parentWorkflowId, "explicit-parent", "the original's child is untouched");
  });

  it("keeps a child that ends as its parent is cancelled whole: SUCCESS (seen on resume) or CANCELLED (resumed with it)", async () => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < 12; i++) {
      const P = `race-${i}`;
      const childId = `${P}-1`;
      await rt.client.startWorkflow(racer, undefined, { workflowId: P });
      // From before the child exists to around its only step.
      await sleep((i % 6) * 8);
      const cancelled = await rt.client.cancelWorkflow(P, { wait: true });
      const childStatus = await rt.client.getWorkflowStatus(childId).then((w) => w.status, () => "not started");
      if (cancelled.status === WorkflowStatus.SUCCESS) {
        // The whole tree ended before the cancel: nothing to cancel, nothing to resume.
        assert.equal(childStatus, WorkflowStatus.SUCCESS);
        continue;
      }
      assert.ok(
        childStatus === WorkflowStatus.SUCCESS || childStatus === WorkflowStatus.CANCELLED || childStatus === "not started",
        `child ${childId} is ${childStatus}`,
      );
      seen[childStatus] = (seen[childStatus] ?? 0) + 1;
      if (childStatus === WorkflowStatus.SUCCESS) assert.deepEqual(await stepNames(childId), ["only"], "a SUCCESS child has its step recorded");
      await rt.client.resumeWorkflow(P);
      assert.equal(await rt.client.retrieveWorkflow(P).getResult({ timeoutMs: 20_000 }), 8, `${P} ends with the child's result`);
      assert.equal(await statusOf(childId), WorkflowStatus.SUCCESS);
      assert.equal(probe.count(childId, "only"), 1, `the child's step ran once (${childStatus})`);
    }
    console.log(`# child at the cancel: ${JSON.stringify(seen)}`);
  });

  it("cancels the children of a parent that waits on one of them", async () => {
    const P = "tree-wait";
    await rt.client.startWorkflow(tree, undefined, { workflowId: P });
    await waitFor("child 2 waiting", async () => (await rt.client.listWorkflowSteps(`${P}-3`).catch(() => [])).some((s) => s.name === "c1"));
    await rt.client.cancelWorkflow(P);
    await assert.rejects(rt.client.retrieveWorkflow(P).getResult({ timeoutMs: 1_000 }), WorkflowCancelledError);
    assert.equal(await statusOf(`${P}-3`), WorkflowStatus.CANCELLED);
  });
});
