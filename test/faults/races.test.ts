import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import {
  defineWorkflow,
  InvalidWorkflowStateError,
  StepOutOfRangeError,
  WorkflowClient,
  WorkflowConflictError,
  WorkflowStatus,
  type WorkflowStatusInfo,
} from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { deserialize, serialize } from "../../src/serialization.js";
import type { WorkflowStore } from "../../src/store/WorkflowStore.js";
import type { StepRecord, WorkflowRecord } from "../../src/types.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";
import { quietLogger, recordedSteps } from "./helpers.js";

const probe = new StepProbe();
const STEPS = ["a", "b", "c", "d"] as const;
/** Four steps, each reporting to the probe (so tests can hold one open); returns every output. */
const four = defineWorkflow("faults.races", async (ctx, input: { n: number; steps?: number }) => {
  const outputs: string[] = [];
  for (const name of STEPS.slice(0, input.steps ?? 4)) {
    outputs.push(
      await ctx.step(name, async () => {
        await probe.ran(ctx.workflowId, name);
        return `${name}${input.n}`;
      }),
    );
  }
  return outputs;
});

const TERMINAL: string[] = [WorkflowStatus.SUCCESS, WorkflowStatus.CANCELLED, WorkflowStatus.ERROR, WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED];

describe("races between the worker and the control operations", () => {
  let rt: LocalRuntime;
  before(async () => {
    // A lease (the function timeout) longer than any gate is held, even on a loaded machine: a
    // claim whose lease ran out reads as a dead worker's, and the tests here are about races, not leases.
    rt = await startTestRuntime([four], { logger: quietLogger, functionTimeoutMs: 15_000 });
  });
  after(() => rt?.stop());

  /** Wait until the workflow is terminal and no step of it runs. */
  async function settled(id: string): Promise<WorkflowStatusInfo> {
    return waitFor(
      `${id} to settle`,
      async () => {
        const s = await rt.client.getWorkflowStatus(id);
        return TERMINAL.includes(s.status) && !s.runningStep && s;
      },
      20_000,
    );
  }

  it("ends a cancel racing the last step in CANCELLED or SUCCESS, consistently, and never flips", async () => {
    // Prepare: the last step is held open; cancel and its completion race with varied offsets.
    const offsets = [-30, -5, 0, 0, 5, 15, 40];
    const ids = offsets.map((_, i) => `race-last-${i}`);
    const gates = ids.map((id) => probe.hold(id, "b"));
    await Promise.all(ids.map((id, i) => rt.client.startWorkflow(four, { n: i, steps: 2 }, { workflowId: id })));
    await Promise.all(gates.map((g) => g.reached));

    // Act
    await Promise.all(
      offsets.map(async (offset, i) => {
        const cancel = sleep(Math.max(0, offset)).then(() => rt.client.cancelWorkflow(ids[i]!));
        const finish = sleep(Math.max(0, -offset)).then(() => gates[i]!.open());
        await Promise.all([cancel, finish]);
      }),
    );
    const first = await Promise.all(ids.map(settled));
    const firstSteps = await Promise.all(ids.map((id) => recordedSteps(rt.store, id)));
    await sleep(3_000);

    // Assess
    for (const [i, id] of ids.entries()) {
      const status = first[i]!;
      const steps = firstSteps[i]!;
      assert.ok(status.status === WorkflowStatus.CANCELLED || status.status === WorkflowStatus.SUCCESS, `${id}: ${status.status}`);
      assert.deepEqual(steps.slice(0, 1).map((s) => s.functionId), [1]);
      if (status.status === WorkflowStatus.SUCCESS) {
        assert.deepEqual(steps.map((s) => s.functionId), [1, 2], `${id}: SUCCESS has every step recorded`);
        assert.deepEqual(status.output, [`a${i}`, `b${i}`]);
      } else {
        assert.equal(status.output, undefined, `${id}: a cancelled workflow has no output`);
      }
      assert.equal(probe.count(id, "b"), 1, `${id}: the last step ran once`);
      const later = await rt.client.getWorkflowStatus(id);
      assert.equal(later.status, status.status, `${id}: the status never flips afterwards`);
      assert.deepEqual((await recordedSteps(rt.store, id)).map((s) => s.functionId), steps.map((s) => s.functionId));
    }
  });

  it("runs no step twice when cancel and resume race", async () => {
    // Prepare: cancelled while step b runs.
    const id = "race-cancel-resume";
    const gate = probe.hold(id, "b");
    await rt.client.startWorkflow(four, { n: 7 }, { workflowId: id });
    await gate.reached;
    await rt.client.cancelWorkflow(id);
    gate.open();

    // Act: resumes and cancels race, a few rounds, before b's completion has even landed.
    for (let round = 0; round < 4; round++) {
      const results = await Promise.allSettled([rt.client.resumeWorkflow(id), sleep(round * 7).then(() => rt.client.cancelWorkflow(id))]);
      for (const r of results) {
        if (r.status === "rejected") {
          assert.ok(r.reason instanceof WorkflowConflictError || r.reason instanceof InvalidWorkflowStateError, String(r.reason));
        }
      }
    }
    // Then let it finish: resume until it is no longer cancelled.
    await waitFor(
      `${id} to finish`,
      async () => {
        const s = await rt.client.getWorkflowStatus(id);
        if (s.status === WorkflowStatus.CANCELLED) await rt.client.resumeWorkflow(id).catch(() => undefined);
        return s.status === WorkflowStatus.SUCCESS;
      },
      30_000,
    );

    // Assess
    for (const step of STEPS) assert.equal(probe.count(id, step), 1, `${id}/${step} ran once`);
    assert.deepEqual((await recordedSteps(rt.store, id)).map((s) => s.functionId), [1, 2, 3, 4]);
  });

  it("lets one of two simultaneous resumes win, and runs no step twice", async () => {
    // Prepare: a cancelled workflow with no step running.
    const id = "race-two-resumes";
    const gate = probe.hold(id, "b");
    await rt.client.startWorkflow(four, { n: 8 }, { workflowId: id });
    await gate.reached;
    await rt.client.cancelWorkflow(id);
    gate.open();
    await rt.client.cancelWorkflow(id, { wait: true, timeoutMs: 10_000 });

    // Act
    const results = await Promise.allSettled([rt.client.resumeWorkflow(id), rt.client.resumeWorkflow(id)]);

    // Assess
    assert.ok(results.some((r) => r.status === "fulfilled"), "one resume wins");
    for (const r of results) {
      if (r.status === "rejected") assert.ok(r.reason instanceof WorkflowConflictError || r.reason instanceof InvalidWorkflowStateError, String(r.reason));
    }
    assert.deepEqual(await rt.client.retrieveWorkflow(id).getResult({ timeoutMs: 20_000 }), ["a8", "b8", "c8", "d8"]);
    for (const step of STEPS) assert.equal(probe.count(id, step), 1, `${id}/${step} ran once`);
  });

  it("forks a running workflow from its recorded steps only", async () => {
    // Prepare: the original is running step c (a and b recorded).
    const id = "race-fork-original";
    const gate = probe.hold(id, "c");
    const original = await rt.client.startWorkflow(four, { n: 3 }, { workflowId: id });
    await gate.reached;

    // Act
    await assert.rejects(rt.client.forkWorkflow(id, 4), StepOutOfRangeError, "step 3 is not recorded yet");
    const fork = await rt.client.forkWorkflow(id, 3, { workflowId: "race-fork-copy" });
    const forkResult = await fork.getResult({ timeoutMs: 20_000 });
    gate.open();

    // Assess: the fork reused a and b, ran c and d itself; the original is untouched.
    assert.deepEqual(forkResult, ["a3", "b3", "c3", "d3"]);
    assert.deepEqual(await original.getResult({ timeoutMs: 20_000 }), ["a3", "b3", "c3", "d3"]);
    const forkSteps = await recordedSteps(rt.store, "race-fork-copy");
    assert.deepEqual(forkSteps.map((s) => [s.functionId, s.copiedFrom]), [[1, id], [2, id], [3, undefined], [4, undefined]]);
    const originalSteps = await recordedSteps(rt.store, id);
    assert.deepEqual(forkSteps.slice(0, 2).map((s) => s.output), originalSteps.slice(0, 2).map((s) => s.output));
    assert.deepEqual(STEPS.map((s) => probe.count("race-fork-copy", s)), [0, 0, 1, 1]);
    assert.deepEqual(STEPS.map((s) => probe.count(id, s)), [1, 1, 1, 1]);
    assert.deepEqual((await rt.client.getWorkflowStatus("race-fork-copy")).forkedFrom, { workflowId: id, startStep: 3 });
  });

  describe("listing steps", () => {
    /** The store, counting the pages it serves and their sizes. */
    function countingStore(inner: WorkflowStore): { store: WorkflowStore; pages: number[] } {
      const pages: number[] = [];
      const store = new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === "listSteps") {
            return async (...args: Parameters<WorkflowStore["listSteps"]>) => {
              const page = await target.listSteps(...args);
              pages.push(page.items.length);
              return page;
            };
          }
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      return { store, pages };
    }

    async function recordDirectly(id: string, count: number, output: (i: number) => unknown): Promise<void> {
      const now = Date.now();
      const workflow: WorkflowRecord = {
        workflowId: id,
        name: four.name,
        status: WorkflowStatus.SUCCESS,
        input: serialize({ n: 0 }, "input"),
        createdAt: now,
        updatedAt: now,
        cancelRequested: false,
        generation: 0,
        version: 0,
      };
      const steps: StepRecord[] = Array.from({ length: count }, (_, i) => ({
        workflowId: id,
        functionId: i + 1,
        name: `s${i + 1}`,
        kind: "step",
        status: "SUCCESS",
        output: serialize(output(i + 1), "output"),
        attempts: 1,
        startedAt: now,
        completedAt: now,
      }));
      assert.deepEqual(await rt.store.createWorkflow(workflow, steps), { created: true });
    }

    it("pages through 2,000 steps in order, one bounded page at a time", async () => {
      // Prepare
      await recordDirectly("many-steps", 2_000, (i) => i);
      const { store, pages } = countingStore(rt.store);
      const client = new WorkflowClient({ store, queue: rt.queue });

      // Act
      let expected = 1;
      for await (const step of client.iterateWorkflowSteps("many-steps", { pageSize: 250 })) {
        assert.equal(step.functionId, expected);
        assert.equal(step.output, expected);
        expected++;
        if (expected === 2) assert.equal(pages.length, 1, "the first step comes after one page, not the whole list");
      }

      // Assess
      assert.equal(expected - 1, 2_000);
      assert.ok(pages.every((n) => n <= 250), `pages are bounded: ${pages.join(",")}`);
      assert.ok(pages.length >= 8);
      assert.equal((await rt.client.getWorkflowStatus("many-steps")).recordedSteps, 2_000);
    });

    it("pages through large outputs without loading them all", async () => {
      // Prepare: 12 steps of 300 KB each (3.6 MB in all).
      const size = 300_000;
      await recordDirectly("large-steps", 12, (i) => String(i % 10).repeat(size));
      const { store, pages } = countingStore(rt.store);
      const client = new WorkflowClient({ store, queue: rt.queue });

      // Act
      let seen = 0;
      for await (const step of client.iterateWorkflowSteps("large-steps", { pageSize: 2 })) {
        seen++;
        assert.equal((step.output as string).length, size);
        assert.ok(pages.length <= Math.ceil(seen / 2), "pages are fetched as the caller reads, not ahead");
      }

      // Assess
      assert.equal(seen, 12);
      assert.ok(pages.every((n) => n <= 2), `pages are bounded: ${pages.join(",")}`);
      const first = (await recordedSteps(rt.store, "large-steps"))[0]!;
      assert.equal((deserialize(first.output) as string).length, size);
    });
  });
});
