import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { defineQueue, defineWorkflow, DuplicateWorkflowError, ValidationError, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../src/local/localAws.js";
import { Admitter, ADMISSION_RESEND_MS } from "../../src/queues/Admitter.js";
import { QueueRegistry } from "../../src/queues/defineQueue.js";
import { DynamoWorkflowStore } from "../../src/store/DynamoWorkflowStore.js";
import type { WorkMessage } from "../../src/types.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";
import { interceptStore } from "../helpers/stores.js";

// Workflow queues on the embedded stack: exact concurrency, rate limits,
// priorities, deduplication, partitions, cancel and resume of queued workflows.

const probe = new StepProbe();
/** When each workflow's first step started, by id. */
const startedAt = new Map<string, number>();

const job = defineWorkflow("queue.job", async (ctx, ms: number) => {
  await ctx.step("work", async () => {
    startedAt.set(ctx.workflowId, Date.now());
    await probe.ran(ctx.workflowId, "work");
    await sleep(ms);
  });
  return ctx.workflowId;
});

const narrow = defineQueue("narrow", { concurrency: 3 });
const metered = defineQueue("metered", { rateLimit: { limit: 10, periodMs: 2_000 } });
const ranked = defineQueue("ranked", { concurrency: 1, priorityEnabled: true });
const perTenant = defineQueue("per-tenant", { concurrency: 1, partitioned: true });
const single = defineQueue("single", { concurrency: 1 });
const requeue = defineQueue("requeue", { concurrency: 1 });

/** Admissions as the store wrote them: when, and how many. */
const admissions: { queueName: string; at: number; count: number }[] = [];
/** First messages to drop once (an admitter that died before sending them). */
const dropFirstMessage = new Set<string>();
/** Queues whose admission passes see an empty queue for now (an admitter that has not run yet). */
const pausedQueues = new Set<string>();

let rt: LocalRuntime;

before(async () => {
  rt = await startTestRuntime([job], {
    queues: [narrow, metered, ranked, perTenant, single, requeue],
    maxConcurrency: 8,
    functionTimeoutMs: 10_000,
    wrapStore: (store) =>
      interceptStore(store, {
        readQueue: async (inner, place, maxEntries) => {
          const state = await inner.readQueue(place, maxEntries);
          return pausedQueues.has(place.queueName) ? { ...state, entries: [], slots: [] } : state;
        },
        admitFromQueue: async (inner, args) => {
          const ok = await inner.admitFromQueue(args);
          if (ok && args.admit.length > 0) admissions.push({ queueName: args.state.place.queueName, at: args.now, count: args.admit.length });
          return ok;
        },
      }),
    wrapQueue: (queue) => ({
      send: async (messages: readonly WorkMessage[]) => {
        const kept = messages.filter((m) => !(m.step === 1 && dropFirstMessage.delete(m.workflowId)));
        if (kept.length > 0) await queue.send(kept);
      },
      sendAdmit: (message) => queue.sendAdmit(message),
      extendVisibility: (handle, seconds) => queue.extendVisibility(handle, seconds),
    }),
  });
});

after(async () => {
  await rt?.stop();
});

const statusOf = async (id: string) => (await rt.client.getWorkflowStatus(id)).status;

/** Wait for many workflows with one read per look (not one poller each, which would crowd the SDK's sockets). */
async function allSucceeded(ids: readonly string[], timeoutMs = 90_000): Promise<void> {
  await waitFor(
    `${ids.length} workflows to succeed`,
    async () => {
      const records = await rt.store.getWorkflows(ids);
      return ids.every((id) => records.get(id)?.status === WorkflowStatus.SUCCESS);
    },
    timeoutMs,
  );
}

describe("workflow queues", () => {
  it("never runs more than the queue's concurrency at once, and gives every slot back", async () => {
    const ids = Array.from({ length: 24 }, (_, i) => `narrow-${i}`);
    await Promise.all(ids.map((id) => rt.client.startWorkflow(job, 150, { workflowId: id, queueName: "narrow" })));
    let most = 0;
    let done = false;
    const sampler = (async () => {
      while (!done) {
        const records = await rt.store.getWorkflows(ids);
        most = Math.max(most, [...records.values()].filter((r) => r.status === WorkflowStatus.PENDING).length);
        await sleep(20);
      }
    })();
    await allSucceeded(ids);
    done = true;
    await sampler;
    assert.ok(most <= 3, `at most 3 PENDING at once, saw ${most}`);
    assert.ok(most >= 2, `the queue ran workflows side by side (saw ${most})`);
    await waitFor("every slot given back", async () => (await rt.store.queueCounts({ queueName: "narrow" })).slots === 0);
  });

  it("admits no more than the rate limit in any window", async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `metered-${i}`);
    const t0 = Date.now();
    await Promise.all(ids.map((id) => rt.client.startWorkflow(job, 0, { workflowId: id, queueName: "metered" })));
    await allSucceeded(ids);
    const times = admissions.filter((a) => a.queueName === "metered").flatMap((a) => Array.from({ length: a.count }, () => a.at));
    assert.equal(times.length, 60);
    for (const t of times) {
      const inWindow = times.filter((u) => u >= t && u < t + 2_000).length;
      assert.ok(inWindow <= 10, `at most 10 admissions in the 2 s from ${t - t0} ms, saw ${inWindow}`);
    }
    assert.ok(Math.max(...times) - t0 >= 10_000, "60 at 10 per 2 s take at least five more windows");
  });

  it("admits by priority, then in enqueue order, and shows each waiting workflow's position", async () => {
    const gate = probe.hold("ranked-first", "work");
    await rt.client.startWorkflow(job, 0, { workflowId: "ranked-first", queueName: "ranked" });
    await gate.reached;
    const order: [string, number | undefined][] = [["p5", 5], ["p1a", 1], ["p3", 3], ["none", undefined], ["p1b", 1]];
    for (const [id, priority] of order) {
      await rt.client.startWorkflow(job, 0, { workflowId: `ranked-${id}`, queueName: "ranked", ...(priority !== undefined ? { priority } : {}) });
    }
    const status = await rt.client.getWorkflowStatus("ranked-p3");
    assert.equal(status.status, WorkflowStatus.ENQUEUED);
    assert.equal(status.queueName, "ranked");
    assert.equal(status.priority, 3);
    assert.equal(status.queuePosition, 2, "two priority-1 workflows wait before it");
    gate.open();
    await Promise.all(order.map(([id]) => rt.client.retrieveWorkflow(`ranked-${id}`).getResult({ timeoutMs: 30_000 })));
    const started = ["p1a", "p1b", "p3", "p5", "none"].map((id) => startedAt.get(`ranked-${id}`)!);
    assert.deepEqual([...started].sort((a, b) => a - b), started, "started in priority order, FIFO within a priority, no priority last");
  });

  it("refuses a second start with a deduplication id while the first waits or runs, and takes it again afterwards", async () => {
    const gate = probe.hold("dedup-1", "work");
    await rt.client.startWorkflow(job, 0, { workflowId: "dedup-1", queueName: "single", deduplicationId: "order-9" });
    await gate.reached;
    await assert.rejects(rt.client.startWorkflow(job, 0, { workflowId: "dedup-2", queueName: "single", deduplicationId: "order-9" }), (err: unknown) => {
      assert.ok(err instanceof DuplicateWorkflowError, String(err));
      assert.equal(err.existingWorkflowId, "dedup-1");
      return true;
    });
    await assert.rejects(rt.client.getWorkflowStatus("dedup-2"), /does not exist/, "nothing was started");
    gate.open();
    await rt.client.retrieveWorkflow("dedup-1").getResult({ timeoutMs: 20_000 });
    const again = await rt.client.startWorkflow(job, 0, { workflowId: "dedup-3", queueName: "single", deduplicationId: "order-9" });
    assert.equal(await again.getResult({ timeoutMs: 20_000 }), "dedup-3");
  });

  it("applies the limits per partition", async () => {
    const gates = ["a", "b"].map((t) => probe.hold(`tenant-${t}-1`, "work"));
    for (const t of ["a", "b"]) {
      for (const n of [1, 2]) await rt.client.startWorkflow(job, 0, { workflowId: `tenant-${t}-${n}`, queueName: "per-tenant", partitionKey: t });
    }
    await Promise.all(gates.map((g) => g.reached)); // both partitions run one each at once
    await sleep(500);
    assert.equal(await statusOf("tenant-a-2"), WorkflowStatus.ENQUEUED, "the second of a partition waits");
    assert.equal(await statusOf("tenant-b-2"), WorkflowStatus.ENQUEUED);
    gates.forEach((g) => g.open());
    for (const id of ["tenant-a-2", "tenant-b-2"]) await rt.client.retrieveWorkflow(id).getResult({ timeoutMs: 20_000 });
    await assert.rejects(rt.client.startWorkflow(job, 0, { queueName: "per-tenant" }), ValidationError, "a partitioned queue needs a partitionKey");
  });

  it("takes a cancelled workflow out of the line, frees a cancelled one's slot, and lets a resume bypass the queue or re-enter it", async () => {
    const gate = probe.hold("line-1", "work");
    for (const n of [1, 2, 3, 4]) await rt.client.startWorkflow(job, 0, { workflowId: `line-${n}`, queueName: "single" });
    await gate.reached;
    await rt.client.cancelWorkflow("line-2");
    assert.equal((await rt.store.queueMembers({ queueName: "single" })).waiting.includes("line-2"), false, "out of the line");

    // Resumed without a queue: it starts at once, past the full queue.
    await rt.client.resumeWorkflow("line-2");
    assert.equal(await rt.client.retrieveWorkflow("line-2").getResult({ timeoutMs: 20_000 }), "line-2");
    assert.equal(await statusOf("line-3"), WorkflowStatus.ENQUEUED, "line-3 still waits behind line-1");

    // line-3 bypasses too, with an explicit resume of an ENQUEUED workflow; line-4 re-enters the queue.
    await rt.client.resumeWorkflow("line-3");
    assert.equal(await rt.client.retrieveWorkflow("line-3").getResult({ timeoutMs: 20_000 }), "line-3");
    await rt.client.resumeWorkflow("line-4", { queueName: "single" });
    assert.equal(await statusOf("line-4"), WorkflowStatus.ENQUEUED);

    // Cancelling the running one frees its slot: line-4 is admitted.
    await rt.client.cancelWorkflow("line-1");
    gate.open();
    assert.equal(await rt.client.retrieveWorkflow("line-4").getResult({ timeoutMs: 20_000 }), "line-4");
    assert.equal(probe.count("line-2", "work"), 1);
  });

  it("sends the first message again when the admitter died before sending it", async () => {
    dropFirstMessage.add("lost-1");
    const t0 = Date.now();
    const handle = await rt.client.startWorkflow(job, 0, { workflowId: "lost-1", queueName: "single" });
    assert.equal(await handle.getResult({ timeoutMs: 30_000 }), "lost-1");
    assert.equal(dropFirstMessage.has("lost-1"), false, "the first message was dropped");
    assert.ok(Date.now() - t0 >= ADMISSION_RESEND_MS - 1_000, "it came again after the resend delay");
  });

  it("admits a workflow resumed into the queue whose old run still holds a slot there", async () => {
    const gate = probe.hold("requeue-1", "work");
    await rt.client.startWorkflow(job, 0, { workflowId: "requeue-1", queueName: requeue.name });
    await gate.reached;
    // Cancel and resume into the same queue before any pass gives the old slot back:
    // the next pass sees the old run's slot and the new run's entry for one workflow.
    pausedQueues.add(requeue.name);
    await rt.client.cancelWorkflow("requeue-1");
    await rt.client.resumeWorkflow("requeue-1", { queueName: requeue.name });
    await rt.client.startWorkflow(job, 0, { workflowId: "requeue-2", queueName: requeue.name });
    pausedQueues.delete(requeue.name);
    gate.open();
    await rt.client.startWorkflow(job, 0, { workflowId: "requeue-3", queueName: requeue.name });
    await allSucceeded(["requeue-1", "requeue-2", "requeue-3"], 30_000);
    await waitFor("every slot of the queue given back", async () => (await rt.store.queueCounts({ queueName: requeue.name })).slots === 0, 10_000);
  });

  it("takes the queue fields of a resume into a queue from the resume alone, not from the queue the workflow left", async () => {
    const gate = probe.hold("moved-0", "work");
    await rt.client.startWorkflow(job, 0, { workflowId: "moved-0", queueName: ranked.name });
    await gate.reached;
    await rt.client.startWorkflow(job, 0, { workflowId: "moved-1", queueName: ranked.name, priority: 1, deduplicationId: "moved-dedup" });
    await rt.client.cancelWorkflow("moved-1");
    await assert.rejects(rt.client.resumeWorkflow("moved-1", { queueName: ranked.name, deduplicationId: "again" } as never), ValidationError);
    await rt.client.resumeWorkflow("moved-1", { queueName: ranked.name });
    const resumed = await rt.client.getWorkflowStatus("moved-1");
    assert.deepEqual([resumed.priority, resumed.deduplicationId, resumed.status], [undefined, undefined, WorkflowStatus.ENQUEUED], "the resume gave no priority and holds no deduplication id");
    await rt.client.startWorkflow(job, 0, { workflowId: "moved-2", queueName: ranked.name, deduplicationId: "moved-dedup" });

    // Into a partition (admitted there at once, and held), then back into an
    // unpartitioned queue: the partition key goes with the move.
    const held = probe.hold("moved-1", "work");
    await rt.client.cancelWorkflow("moved-1");
    await rt.client.resumeWorkflow("moved-1", { queueName: perTenant.name, partitionKey: "tenant-y" });
    const partitioned = await rt.client.getWorkflowStatus("moved-1");
    assert.deepEqual([partitioned.queueName, partitioned.partitionKey, partitioned.priority], [perTenant.name, "tenant-y", undefined]);
    await held.reached;
    await rt.client.cancelWorkflow("moved-1");
    await rt.client.resumeWorkflow("moved-1", { queueName: ranked.name });
    const back = await rt.client.getWorkflowStatus("moved-1");
    assert.deepEqual([back.queueName, back.partitionKey, back.priority, back.status], [ranked.name, undefined, undefined, WorkflowStatus.ENQUEUED]);
    held.open();
    gate.open();
    await allSucceeded(["moved-0", "moved-1", "moved-2"], 30_000);
  });

  it("admits on consistent reads only: every read of an admission pass is strongly consistent", async () => {
    const reads: { command: string; consistent: boolean }[] = [];
    const dynamodb = new DynamoDBClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: rt.endpoints.dynamodb });
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const command = String((context as { commandName?: string }).commandName);
        const input = args.input as { ConsistentRead?: boolean; RequestItems?: Record<string, { ConsistentRead?: boolean }> };
        if (command === "BatchGetItemCommand") for (const table of Object.values(input.RequestItems ?? {})) reads.push({ command, consistent: table.ConsistentRead === true });
        else if (command === "GetItemCommand" || command === "QueryCommand") reads.push({ command, consistent: input.ConsistentRead === true });
        return next(args);
      },
      { step: "initialize", name: "recordReads" },
    );
    // The runtime's admitter sees an empty queue meanwhile: this pass is the one that admits.
    pausedQueues.add(requeue.name);
    try {
      for (const n of [1, 2]) await rt.client.startWorkflow(job, 0, { workflowId: `consistent-${n}`, queueName: requeue.name });
      const admitter = new Admitter(new DynamoWorkflowStore({ tableName: rt.tableName, client: dynamodb }), rt.queue, new QueueRegistry([requeue]));
      assert.equal(await admitter.admit({ queueName: requeue.name }), 1);
    } finally {
      pausedQueues.delete(requeue.name);
    }
    assert.ok(reads.some((r) => r.command === "BatchGetItemCommand"), "the pass read the workflows of its slots and entries");
    assert.deepEqual(reads.filter((r) => !r.consistent), [], "no eventually consistent read");
    await allSucceeded(["consistent-1", "consistent-2"], 30_000);
  });
});
