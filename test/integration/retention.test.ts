import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { DynamoDBStreamEvent } from "aws-lambda";
import { defineWorkflow, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { ExpiredWorkflowReaper } from "../../src/store/ExpiredWorkflowReaper.js";
import { createReaper } from "../../src/worker/createReaper.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";

/**
 * Retention (issue "Replay fidelity and hard limits", item 8). DynamoDB Local has
 * no TTL: `rt.expireDue(now)` does what DynamoDB's TTL and the reaper Lambda do,
 * at a chosen time, so a month of retention is tested without waiting for it.
 */

const RETENTION_SECONDS = 100;
const DAY_MS = 86_400_000;

const probe = new StepProbe();
/** A second run of a step body for the same workflow shows its history was lost. */
const sleeper = defineWorkflow("retention.sleeper", async (ctx, input: { tag: string; sleepMs: number }) => {
  const a = await ctx.step("a", async () => {
    await probe.ran(ctx.workflowId, "a");
    return `a:${input.tag}`;
  });
  await ctx.sleep(input.sleepMs);
  const b = await ctx.step("b", async () => {
    await probe.ran(ctx.workflowId, "b");
    return `b:${input.tag}`;
  });
  return { a, b };
});

const twoSteps = defineWorkflow("retention.twoSteps", async (ctx, input: { tag: string; padding?: string }) => {
  const a = await ctx.step("a", async () => {
    await probe.ran(ctx.workflowId, "a");
    return `a:${input.tag}`;
  });
  const b = await ctx.step("b", async () => {
    await probe.ran(ctx.workflowId, "b");
    return `b:${input.tag}`;
  });
  return { a, b };
});

let rt: LocalRuntime;
let doc: DynamoDBDocumentClient;

before(async () => {
  rt = await startTestRuntime([sleeper, twoSteps], { retentionSeconds: RETENTION_SECONDS });
  doc = DynamoDBDocumentClient.from(rt.dynamodb);
});

after(async () => {
  await rt?.stop();
});

/** Every item of a workflow's partition, by sort key. */
async function partition(workflowId: string): Promise<Record<string, Record<string, unknown>>> {
  const out = await doc.send(
    new QueryCommand({ TableName: rt.tableName, KeyConditionExpression: "pk = :pk", ExpressionAttributeValues: { ":pk": `WF#${workflowId}` }, ConsistentRead: true }),
  );
  return Object.fromEntries((out.Items ?? []).map((i) => [String(i.sk), i]));
}

const rawRecord = async (workflowId: string) =>
  (await doc.send(new GetCommand({ TableName: rt.tableName, Key: { pk: `WF#${workflowId}`, sk: "#WF" }, ConsistentRead: true }))).Item;

/** What DynamoDB's TTL does first: the record alone goes; the reaper has not run yet. */
const deleteRecordOnly = (workflowId: string) => doc.send(new DeleteCommand({ TableName: rt.tableName, Key: { pk: `WF#${workflowId}`, sk: "#WF" } }));

const bigInput = (tag: string) => ({ tag, padding: "x".repeat(600) });

describe("retention", () => {
  it("never expires a sleeping workflow: past its retention it keeps every item and finishes without running a step again", async () => {
    // Prepare: a workflow that sleeps for longer than the retention period (in the expiry's clock).
    const workflowId = "ret-sleeping";
    const handle = await rt.client.startWorkflow(sleeper, { tag: "s", sleepMs: 4_000 }, { workflowId });
    await waitFor("the sleep to be recorded", async () => Object.keys(await partition(workflowId)).length >= 3);
    const before = await partition(workflowId);
    assert.equal((await rt.client.getWorkflowStatus(workflowId)).status, WorkflowStatus.PENDING);

    // Act: a month passes (the TTL service and the reaper run).
    const expired = await rt.expireDue(Date.now() + 30 * DAY_MS);

    // Assess: nothing of it went, no step ran twice, and it finishes with its first results.
    assert.ok(!expired.includes(workflowId));
    assert.deepEqual(Object.keys(await partition(workflowId)).sort(), Object.keys(before).sort());
    assert.deepEqual(await handle.getResult({ timeoutMs: 20_000 }), { a: "a:s", b: "b:s" });
    assert.equal(probe.count(workflowId, "a"), 1);
    assert.equal(probe.count(workflowId, "b"), 1);
  });

  it("expires a finished workflow's record, input over 400 bytes and steps together, `retention` after it finished", async () => {
    const workflowId = "ret-finished";
    const handle = await rt.client.startWorkflow(twoSteps, bigInput("f"), { workflowId });
    await handle.getResult({ timeoutMs: 20_000 });
    const record = await rawRecord(workflowId);
    const items = await partition(workflowId);
    assert.deepEqual(Object.keys(items).sort(), ["#IN", "#WF", "STEP#0000000001", "STEP#0000000002"]);
    // Only the record carries the TTL, from the moment it finished.
    assert.equal(record?.expiresAt, Math.floor(Number(record?.updatedAt) / 1000) + RETENTION_SECONDS);
    for (const [sk, item] of Object.entries(items)) if (sk !== "#WF") assert.equal(item.expiresAt, undefined, sk);

    // A second before its TTL nothing goes; at it, everything does.
    assert.ok(!(await rt.expireDue((Number(record!.expiresAt) - 1) * 1000)).includes(workflowId));
    assert.equal(Object.keys(await partition(workflowId)).length, 4);
    assert.ok((await rt.expireDue(Number(record!.expiresAt) * 1000)).includes(workflowId));
    assert.deepEqual(await partition(workflowId), {});
  });

  it("restarts the clock of a CANCELLED workflow that is resumed: it does not expire at the time the cancel set", async () => {
    const workflowId = "ret-cancelled";
    const handle = await rt.client.startWorkflow(sleeper, { tag: "c", sleepMs: 1_500 }, { workflowId });
    await waitFor("the sleep to be recorded", async () => Object.keys(await partition(workflowId)).length >= 3);
    await rt.client.cancelWorkflow(workflowId);
    const cancelled = await rawRecord(workflowId);
    assert.equal(cancelled?.status, WorkflowStatus.CANCELLED);
    assert.equal(typeof cancelled?.expiresAt, "number");
    // Resumed over two seconds later: a new clock, which starts when it finishes again.
    await new Promise((r) => setTimeout(r, 2_500));
    await rt.client.resumeWorkflow(workflowId);
    assert.deepEqual(await handle.getResult({ timeoutMs: 20_000 }), { a: "a:c", b: "b:c" });

    const atCancelledExpiry = Number(cancelled!.expiresAt) * 1000 + 500;
    assert.ok(!(await rt.expireDue(atCancelledExpiry)).includes(workflowId));
    assert.deepEqual(Object.keys(await partition(workflowId)).sort(), ["#WF", "STEP#0000000001", "STEP#0000000002", "STEP#0000000003"]);
    assert.equal(probe.count(workflowId, "a"), 1);

    const finished = await rawRecord(workflowId);
    assert.ok(Number(finished!.expiresAt) > Number(cancelled!.expiresAt));
    assert.ok((await rt.expireDue(Number(finished!.expiresAt) * 1000)).includes(workflowId));
    assert.deepEqual(await partition(workflowId), {});
  });

  it("sets the TTL of a workflow marked MAX_RECOVERY_ATTEMPTS_EXCEEDED, and resume removes it", async () => {
    const workflowId = "ret-dead-lettered";
    const now = Date.now();
    await rt.store.createWorkflow({
      workflowId,
      name: twoSteps.name,
      status: WorkflowStatus.ENQUEUED,
      input: JSON.stringify({ tag: "d" }),
      createdAt: now,
      updatedAt: now,
      cancelRequested: false,
      generation: 0,
      version: 0,
    });
    assert.equal(await rt.store.markRecoveryExceeded({ workflowId, generation: 0, reason: "test", now }), true);
    assert.equal((await rawRecord(workflowId))?.expiresAt, Math.floor(now / 1000) + RETENTION_SECONDS);
    await rt.client.resumeWorkflow(workflowId);
    assert.equal((await rawRecord(workflowId))?.expiresAt, undefined);
  });

  it("starts a reused id cleanly after its record expired, while the old steps and input are still there", async () => {
    // Prepare: a finished workflow whose record the TTL deleted; the reaper has not run.
    const workflowId = "ret-reused";
    await (await rt.client.startWorkflow(twoSteps, bigInput("old"), { workflowId })).getResult({ timeoutMs: 20_000 });
    await deleteRecordOnly(workflowId);
    assert.deepEqual(Object.keys(await partition(workflowId)).sort(), ["#IN", "STEP#0000000001", "STEP#0000000002"]);

    // Act: the id is used again, with an input over 400 bytes, then with one inline.
    const handle = await rt.client.startWorkflow(twoSteps, bigInput("new"), { workflowId });

    // Assess: a new workflow, which runs its steps itself and sees none of the old ones.
    assert.deepEqual(await handle.getResult({ timeoutMs: 20_000 }), { a: "a:new", b: "b:new" });
    assert.equal(probe.count(workflowId, "a"), 2);
    assert.equal(((await rt.client.getWorkflowStatus(workflowId)).input as { tag: string }).tag, "new");
    const steps = await rt.client.listWorkflowSteps(workflowId);
    assert.deepEqual(steps.map((s) => s.output), ["a:new", "b:new"]);

    // The same with a small (inline) input: the old input item goes too.
    await rt.expireDue(Date.now() + 30 * DAY_MS);
    await (await rt.client.startWorkflow(twoSteps, bigInput("old2"), { workflowId })).getResult({ timeoutMs: 20_000 });
    await deleteRecordOnly(workflowId);
    const inline = await rt.client.startWorkflow(twoSteps, { tag: "inline" }, { workflowId });
    assert.deepEqual(await inline.getResult({ timeoutMs: 20_000 }), { a: "a:inline", b: "b:inline" });
    assert.deepEqual(Object.keys(await partition(workflowId)).sort(), ["#WF", "STEP#0000000001", "STEP#0000000002"]);
  });

  it("never deletes a new incarnation's items when the reaper of the expired one runs late", async () => {
    const workflowId = "ret-late-reaper";
    await (await rt.client.startWorkflow(twoSteps, bigInput("first"), { workflowId })).getResult({ timeoutMs: 20_000 });
    const expiredImage = await rawRecord(workflowId);
    await deleteRecordOnly(workflowId);
    await (await rt.client.startWorkflow(twoSteps, bigInput("second"), { workflowId })).getResult({ timeoutMs: 20_000 });
    const second = await partition(workflowId);

    // The stream record of the first record's deletion reaches the reaper only now.
    const handler = createReaper({ reaper: new ExpiredWorkflowReaper({ tableName: rt.tableName, client: rt.dynamodb }) });
    const event = streamEvent(workflowId, expiredImage!);
    assert.deepEqual(await handler(event, {} as never), { batchItemFailures: [] });

    assert.deepEqual(await partition(workflowId), second);
    assert.deepEqual((await rt.client.listWorkflowSteps(workflowId)).map((s) => s.output), ["a:second", "b:second"]);
  });

  it("reads no step of another incarnation: the worker's read, status, step listing, and a step put over it", async () => {
    // A leftover of an expired incarnation in the partition of a live workflow
    // (as one would be if its creator died before cleaning the partition).
    const workflowId = "ret-foreign";
    const now = Date.now();
    await rt.store.createWorkflow({
      workflowId,
      name: twoSteps.name,
      status: WorkflowStatus.ENQUEUED,
      input: JSON.stringify({ tag: "x" }),
      createdAt: now,
      updatedAt: now,
      cancelRequested: false,
      generation: 0,
      version: 0,
    });
    const leftover = { pk: `WF#${workflowId}`, sk: "STEP#0000000001", type: "step", workflowId, functionId: 1, name: "a", kind: "step", status: "SUCCESS", output: '"stale"', attempts: 1, startedAt: 1, completedAt: 1, incarnation: "expired-one" };
    await doc.send(new PutCommand({ TableName: rt.tableName, Item: leftover }));

    assert.deepEqual((await rt.store.loadState(workflowId))?.steps, []);
    assert.equal(await rt.store.countSteps(workflowId), 0);
    assert.deepEqual((await rt.store.listSteps(workflowId)).items, []);
    assert.equal(
      await rt.store.putStepIfAbsent({ workflowId, functionId: 1, name: "a", kind: "step", status: "SUCCESS", output: '"fresh"', attempts: 1, startedAt: now, completedAt: now }),
      true,
    );
    assert.deepEqual((await rt.store.loadState(workflowId))?.steps.map((s) => s.output), ['"fresh"']);
    // And a step of this incarnation is recorded exactly once.
    assert.equal(
      await rt.store.putStepIfAbsent({ workflowId, functionId: 1, name: "a", kind: "step", status: "SUCCESS", output: '"again"', attempts: 1, startedAt: now, completedAt: now }),
      false,
    );
    await rt.client.cancelWorkflow(workflowId);
  });

  it("reaps only TTL deletions of workflow records from the stream", async () => {
    const workflowId = "ret-stream";
    await (await rt.client.startWorkflow(twoSteps, bigInput("s"), { workflowId })).getResult({ timeoutMs: 20_000 });
    const image = await rawRecord(workflowId);
    await deleteRecordOnly(workflowId);
    const handler = createReaper({ reaper: new ExpiredWorkflowReaper({ tableName: rt.tableName, client: rt.dynamodb }) });

    // A delete made by someone else (not the TTL service) is not the reaper's business.
    const byUser = streamEvent(workflowId, image!);
    byUser.Records[0]!.userIdentity = undefined;
    await handler(byUser, {} as never);
    assert.equal(Object.keys(await partition(workflowId)).length, 3);

    await handler(streamEvent(workflowId, image!), {} as never);
    assert.deepEqual(await partition(workflowId), {});
  });
});

/** The stream record DynamoDB writes when its TTL deletes a workflow record (OLD_IMAGE view, strings only needed). */
function streamEvent(workflowId: string, image: Record<string, unknown>): DynamoDBStreamEvent {
  const oldImage: Record<string, { S: string }> = {};
  for (const [k, v] of Object.entries(image)) if (typeof v === "string") oldImage[k] = { S: v };
  return {
    Records: [
      {
        eventID: "1",
        eventName: "REMOVE",
        eventSource: "aws:dynamodb",
        userIdentity: { type: "Service", principalId: "dynamodb.amazonaws.com" },
        dynamodb: { Keys: { pk: { S: `WF#${workflowId}` }, sk: { S: "#WF" } }, OldImage: oldImage, SequenceNumber: "100", StreamViewType: "OLD_IMAGE" },
      },
    ],
  };
}
