import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CreateTableCommand, DeleteItemCommand, DynamoDBClient, GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startFauxqs } from "fauxqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { WorkflowClient } from "../../src/client/WorkflowClient.js";
import type { ControlResponse } from "../../src/control/operations.js";
import { EventSourcePoller, startDynamoLocal, type DynamoLocal } from "../../src/local/index.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../src/local/localAws.js";
import { isAdmitMessage } from "../../src/queue/messages.js";
import { SqsWorkQueue } from "../../src/queue/SqsWorkQueue.js";
import { DynamoWorkflowStore } from "../../src/store/DynamoWorkflowStore.js";
import { waitFor } from "../helpers/runtime.js";
import { ApiRecorder, allows, type Permission } from "./deployed/ApiRecorder.js";
import { FunctionHost } from "./deployed/FunctionHost.js";
import { importsOf, resolveEnvironment, synthReferenceApp, type DeployedFunction, type ReferenceApp } from "./deployed/referenceApp.js";

/**
 * Deployed = tested. The reference app is synthesized exactly as `npm run synth`
 * does (cdk.json's app, local esbuild), and the bundles in the cloud assembly,
 * the files Lambda would load, are run with plain `node`, one process per
 * function instance, with the environment the template gives each function
 * (its table and queue references resolved to the emulators'). The work and
 * dead-letter queues invoke the worker and dead-letter bundles through the
 * embedded stack's event-source poller, in Lambda's event shape; the control
 * bundles are invoked as the Invoke API would. Every AWS call a bundle makes
 * goes through a recorder and is checked against that function's IAM policy in
 * the template.
 *
 * Workflows are the reference app's examples (functions/workflows.ts): `flaky`
 * for a failing step that is retried, `order` (its durable sleep) for cancel,
 * resume and fork, `orderBatch` for child workflows, `approval` for messages
 * and events, each also on the `partner-api` queue (workflow queues: admitted by
 * the worker, also on the schedule's message); and one it does not deploy, for
 * the dead-letter path.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const TABLE = "cairn-deployed";

type Json = any;

let dir: string;
let app: ReferenceApp;
let dynamo: DynamoLocal | undefined;
let fauxqs: Awaited<ReturnType<typeof startFauxqs>> | undefined;
let dynamodb: DynamoDBClient;
let sqs: SQSClient;
let queueUrl: string;
let deadLetterQueueUrl: string;
const hosts: Record<string, FunctionHost> = {};
const recorders: Record<string, ApiRecorder> = {};
const pollers: EventSourcePoller[] = [];
const pollerClients: SQSClient[] = [];
let started = 0;

/** Invoke a control bundle (RequestResponse) with a payload, as `cairn` or an operator would. */
async function control(operation: string, payload: unknown): Promise<ControlResponse> {
  const host = hosts[operation];
  if (!host) throw new Error(`no control function "${operation}" in the template`);
  return host.invoke<ControlResponse>(payload);
}

function ok<T = Json>(response: ControlResponse): T {
  assert.equal(response.ok, true, `expected success, got ${JSON.stringify(response)}`);
  return (response as { result: T }).result;
}

function refused(response: ControlResponse, name: string, code: string): void {
  assert.equal(response.ok, false, `expected a refusal, got ${JSON.stringify(response)}`);
  const { error } = response as { error: { name: string; code: string } };
  assert.deepEqual({ name: error.name, code: error.code }, { name, code }, JSON.stringify(error));
}

/**
 * A client that puts workflows in a queue's line without asking for an admission
 * pass, as if that request were lost: only a later pass (the schedule's) admits them.
 */
function clientWithoutAdmissions(): WorkflowClient {
  class LostAdmissions extends SqsWorkQueue {
    override async sendAdmit(): Promise<void> {}
  }
  return new WorkflowClient({ store: new DynamoWorkflowStore({ tableName: TABLE, client: dynamodb }), queue: new LostAdmissions({ queueUrl, client: sqs }) });
}

/** The admission messages the worker has handled (acknowledged). */
function admissionsHandled(): number {
  return hosts.worker!.history.reduce((count, inv) => {
    if (inv.error) return count;
    const failed = new Set(((inv.response as Json)?.batchItemFailures ?? []).map((f: Json) => f.itemIdentifier));
    return count + (inv.event as SQSEvent).Records.filter((r) => isAdmitMessage(r.body) && !failed.has(r.messageId)).length;
  }, 0);
}

/** The records of this workflow that a worker invocation reported failed (or that were in an invocation that failed). */
function failedRecords(workflowId: string): SQSRecord[] {
  return hosts.worker!.history.flatMap((inv) => {
    const failed = new Set(((inv.response as Json)?.batchItemFailures ?? []).map((f: Json) => f.itemIdentifier));
    return (inv.event as SQSEvent).Records.filter((r) => (inv.error || failed.has(r.messageId)) && r.body.includes(`"${workflowId}"`));
  });
}

/** The worker invocations that carried a message for this step of this workflow and did not fail it. */
function handled(workflowId: string, step: number, generation: number) {
  return hosts.worker!.history.filter((inv) => {
    const records = (inv.event as SQSEvent).Records.filter((r) => {
      try {
        const m = JSON.parse(r.body) as { workflowId?: string; step?: number; generation?: number };
        return m.workflowId === workflowId && m.step === step && m.generation === generation;
      } catch {
        return false;
      }
    });
    const failed = new Set(((inv.response as Json)?.batchItemFailures ?? []).map((f: Json) => f.itemIdentifier));
    return !inv.error && records.some((r) => !failed.has(r.messageId));
  });
}

async function createEmulatedResources(): Promise<void> {
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  dynamodb = new DynamoDBClient({ ...common, endpoint: dynamo!.endpoint });
  sqs = new SQSClient({ ...common, endpoint: `http://127.0.0.1:${fauxqs!.port}`, useQueueUrlAsEndpoint: false });
  // The table and queues as the template declares them.
  const table = app.resource(app.tableLogicalId);
  await dynamodb.send(
    new CreateTableCommand({
      TableName: TABLE,
      KeySchema: table.KeySchema,
      AttributeDefinitions: table.AttributeDefinitions,
      GlobalSecondaryIndexes: table.GlobalSecondaryIndexes,
      BillingMode: table.BillingMode,
    }),
  );
  const attributes = (q: Json): Record<string, string> => ({
    ...(q.VisibilityTimeout !== undefined ? { VisibilityTimeout: String(q.VisibilityTimeout) } : {}),
    ...(q.MessageRetentionPeriod !== undefined ? { MessageRetentionPeriod: String(q.MessageRetentionPeriod) } : {}),
  });
  const dlq = app.resource(app.deadLetterQueueLogicalId);
  deadLetterQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "cairn-deployed-dlq", Attributes: attributes(dlq) }))).QueueUrl!;
  const work = app.resource(app.workQueueLogicalId);
  assert.deepEqual(work.RedrivePolicy.deadLetterTargetArn, { "Fn::GetAtt": [app.deadLetterQueueLogicalId, "Arn"] });
  const redrive = { deadLetterTargetArn: await queueArn(deadLetterQueueUrl), maxReceiveCount: work.RedrivePolicy.maxReceiveCount };
  queueUrl = (
    await sqs.send(new CreateQueueCommand({ QueueName: "cairn-deployed-work", Attributes: { ...attributes(work), RedrivePolicy: JSON.stringify(redrive) } }))
  ).QueueUrl!;
}

async function queueArn(url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return out.Attributes!.QueueArn!;
}

/** One host per function, each behind its own recorder, with the environment Lambda would give it. */
async function hostFunctions(): Promise<void> {
  const physical = { [app.tableLogicalId]: TABLE, [app.workQueueLogicalId]: queueUrl, [app.deadLetterQueueLogicalId]: deadLetterQueueUrl };
  for (const fn of Object.values(app.functions)) {
    const recorder = await ApiRecorder.start(fn.role, { dynamodb: dynamo!.endpoint, sqs: `http://127.0.0.1:${fauxqs!.port}` });
    recorders[fn.role] = recorder;
    hosts[fn.role] = new FunctionHost({
      name: fn.role,
      bundle: fn.bundle,
      exportName: fn.exportName,
      timeoutMs: fn.timeoutSeconds * 1000,
      memorySize: fn.memorySize,
      maxInstances: 2,
      environment: {
        ...resolveEnvironment(fn, physical),
        // What the Lambda runtime sets, then where the emulators are.
        AWS_REGION: LOCAL_REGION,
        AWS_DEFAULT_REGION: LOCAL_REGION,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
        AWS_LAMBDA_FUNCTION_NAME: fn.role,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
        LAMBDA_TASK_ROOT: path.dirname(fn.bundle),
        AWS_ENDPOINT_URL_DYNAMODB: recorder.endpoint,
        AWS_ENDPOINT_URL_SQS: recorder.endpoint,
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        // Node 20 runs the tests, Lambda runs nodejs22.x: keep the SDK's notice about that out of the logs.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      },
    });
  }
  // The event sources: Lambda's pollers, with the mapping's batch size, through the function's recorder
  // (the mapping uses the function's role to receive and delete).
  for (const [role, url] of [
    ["worker", queueUrl],
    ["deadLetterHandler", deadLetterQueueUrl],
  ] as const) {
    const fn = app.functions[role]!;
    const client = new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: recorders[role]!.endpoint, useQueueUrlAsEndpoint: false });
    pollerClients.push(client);
    const poller = new EventSourcePoller({
      sqs: client,
      queueUrl: url,
      queueArn: await queueArn(url),
      handler: hosts[role]!.sqsHandler,
      functionName: role,
      batchSize: fn.eventSource!.batchSize,
      maxConcurrency: role === "worker" ? 2 : 1,
      functionTimeoutMs: fn.timeoutSeconds * 1000,
      region: LOCAL_REGION,
    });
    pollers.push(poller);
  }
  await Promise.all([hosts.worker!.warm(), hosts.start!.warm(), hosts.status!.warm()]);
  for (const p of pollers) p.start();
}

before(async () => {
  started = Date.now();
  dir = mkdtempSync(path.join(tmpdir(), "cairn-bundles-"));
  // Lambda's Node.js runtime provides the AWS SDK (NodejsFunction leaves @aws-sdk/* out of
  // the bundles): stand in for it with the SDK alone, nothing else of this repository's node_modules.
  mkdirSync(path.join(dir, "node_modules"));
  symlinkSync(path.join(ROOT, "node_modules", "@aws-sdk"), path.join(dir, "node_modules", "@aws-sdk"), "dir");
  const synth = synthReferenceApp(ROOT, path.join(dir, "cdk.out"));
  const emulators = Promise.all([
    startDynamoLocal().then((d) => (dynamo = d)),
    startFauxqs({ port: 0, logger: false }).then((f) => (fauxqs = f)),
  ]);
  [app] = await Promise.all([synth, emulators]);
  await createEmulatedResources();
  await hostFunctions();
  console.log(`setup (synth, emulators, first instances): ${Date.now() - started} ms`);
});

after(async () => {
  await Promise.allSettled(pollers.map((p) => p.stop()));
  await Promise.allSettled(Object.values(hosts).map((h) => h.stop()));
  for (const client of pollerClients) client.destroy();
  await Promise.allSettled(Object.values(recorders).map((r) => r.stop()));
  dynamodb?.destroy();
  sqs?.destroy();
  await fauxqs?.stop();
  await dynamo?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  const cold = Object.values(hosts).flatMap((h) => h.initMs);
  console.log(
    `deployed bundles: ${Date.now() - started} ms in all; ${cold.length} cold starts (median init ${cold.sort((a, b) => a - b)[Math.floor(cold.length / 2)]} ms)`,
  );
});

/** On failure, the functions' own logs say most. */
function withLogs(roles: string[], run: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await run();
    } catch (err) {
      for (const role of roles) console.log(`--- logs of ${role} ---\n${hosts[role]?.logs().slice(-6000) ?? ""}`);
      throw err;
    }
  };
}

describe("the deployed bundles of the reference app", () => {
  it("are one file per function that needs only Node.js and the AWS SDK that the Lambda runtime provides", () => {
    const roles = Object.keys(app.functions).sort();
    assert.deepEqual(roles, [
      "cancel",
      "deadLetterHandler",
      "event",
      "fork",
      "list",
      "queued",
      "queues",
      "reaper",
      "result",
      "resume",
      "send",
      "start",
      "status",
      "steps",
      "worker",
    ]);
    for (const fn of Object.values<DeployedFunction>(app.functions)) {
      const foreign = importsOf(fn.bundle).filter((m) => !m.startsWith("node:") && !builtinModules.includes(m) && !m.startsWith("@aws-sdk/"));
      assert.deepEqual(foreign, [], `${fn.role} loads modules Lambda does not provide`);
    }
  });

  // Independent of one another: they run at once, as a deployment's callers would.
  describe("run as deployed", { concurrency: true }, () => {
    it(
      "answer refusals with Cairn's error class names and codes",
      withLogs(["status", "cancel", "start", "steps", "fork", "resume", "result", "list", "send", "event", "queues", "queued"], async () => {
        const missing = { workflowId: "no-such-workflow" };
        const [status, cancel, steps, fork, resume, result, send, event, unknownName, noName, badList, badSend, badQueues, badQueued] = await Promise.all([
          control("status", missing),
          control("cancel", missing),
          control("steps", missing),
          control("fork", { ...missing, startStep: 1 }),
          control("resume", missing),
          control("result", missing),
          control("send", { ...missing, message: "hi" }),
          control("event", { ...missing, key: "state", timeoutMs: 0 }),
          control("start", { workflowName: "refund", input: {} }),
          control("start", { input: {} }),
          control("list", { status: "SLEEPING" }),
          control("send", { ...missing, message: "hi", topic: "" }),
          control("queues", { queueName: 7 }),
          control("queued", { queueName: "partner-api", status: "SUCCESS" }),
        ]);
        for (const r of [status, cancel, steps, fork, resume, result, send, event]) refused(r, "WorkflowNotFoundError", "WORKFLOW_NOT_FOUND");
        // The template's CAIRN_WORKFLOW_NAMES lets the start function refuse names the worker does not run.
        refused(unknownName, "UnknownWorkflowError", "UNKNOWN_WORKFLOW");
        for (const r of [noName, badList, badSend, badQueues, badQueued]) refused(r, "ValidationError", "VALIDATION_ERROR");
      }),
    );

    it(
      "run a workflow whose step fails and is retried with backoff to its result (flaky)",
      withLogs(["start", "worker", "result", "steps"], async () => {
        const workflowId = "flaky-1";
        // The dependency is down for 2.5 s after the first step: the first attempt of the second
        // fails, and the last of its four (after 0.5 + 1 + 2 s of backoff) comes after the outage.
        assert.deepEqual(ok(await control("start", { workflowName: "flaky", workflowId, input: { outageMs: 2_500 } })), { workflowId });
        const result = ok<Json>(await control("result", { workflowId, timeoutMs: 25_000 }));
        assert.equal(result.status, "SUCCESS");
        assert.ok(result.output.recoveredAfterMs >= 2_500, JSON.stringify(result.output));
        const { steps } = ok<{ steps: Json[] }>(await control("steps", { workflowId }));
        assert.deepEqual(
          steps.map((s) => [s.functionId, s.name, s.status]),
          [
            [1, "note-start", "SUCCESS"],
            [2, "call-dependency", "SUCCESS"],
          ],
        );
        assert.ok(steps[1].attempts >= 2, `call-dependency was retried: ${JSON.stringify(steps)}`);
      }),
    );

    it(
      "cancel a sleeping workflow so that nothing after the sleep runs; resume and fork then finish it (order)",
      withLogs(["start", "status", "cancel", "worker", "result", "steps", "resume", "fork", "list"], async () => {
        const workflowId = "order-1";
        const input = { orderId: "o-1", items: [{ sku: "a", quantity: 2, unitPrice: 5 }], holdMs: 3_000 };
        ok(await control("start", { workflowName: "order", workflowId, input }));
        // reserve and the sleep recorded: the workflow now waits for a delayed message.
        await waitFor("order-1 to sleep", async () => (ok<Json>(await control("status", { workflowId })).recordedSteps ?? 0) >= 2, 15_000);

        const cancelled = ok<Json>(await control("cancel", { workflowId, wait: true }));
        assert.equal(cancelled.status, "CANCELLED");
        refused(await control("result", { workflowId }), "WorkflowCancelledError", "WORKFLOW_CANCELLED");
        // The sleep's wake-up message (step 3) surfaces and the worker drops it unexecuted.
        await waitFor("the worker to handle order-1's wake-up message", () => handled(workflowId, 3, 0).length > 0, 15_000);
        const afterCancel = ok<{ steps: Json[] }>(await control("steps", { workflowId })).steps;
        assert.deepEqual(afterCancel.map((s) => [s.functionId, s.kind, s.status]), [
          [1, "step", "SUCCESS"],
          [2, "sleep", "SUCCESS"],
        ]);
        assert.equal(ok<Json>(await control("status", { workflowId })).status, "CANCELLED");

        ok(await control("resume", { workflowId }));
        const expected = { orderId: "o-1", reservationId: "res-o-1", chargeId: "ch-res-o-1", amount: 10, trackingNumber: "trk-o-1" };
        const resumed = ok<Json>(await control("result", { workflowId, timeoutMs: 20_000 }));
        assert.deepEqual(resumed.output, expected);
        const steps = ok<{ steps: Json[] }>(await control("steps", { workflowId })).steps;
        assert.deepEqual(steps.map((s) => [s.functionId, s.name, s.status]).filter(([id]) => id !== 2), [
          [1, "reserve", "SUCCESS"],
          [3, "charge", "SUCCESS"],
          [4, "ship", "SUCCESS"],
        ]);

        const forkId = "order-1-from-charge";
        ok(await control("fork", { workflowId, startStep: 3, newWorkflowId: forkId }));
        assert.deepEqual(ok<Json>(await control("result", { workflowId: forkId, timeoutMs: 20_000 })).output, expected);
        const forkSteps = ok<{ steps: Json[] }>(await control("steps", { workflowId: forkId })).steps;
        assert.deepEqual(forkSteps.map((s) => s.copiedFrom), [workflowId, workflowId, undefined, undefined]);
        // The orderBatch test's children are order workflows too.
        const listed = ok<{ workflows: Json[] }>(await control("list", { name: "order" }))
          .workflows.filter((w) => w.parentWorkflowId === undefined)
          .map((w) => [w.workflowId, w.status]);
        assert.deepEqual(listed.sort(), [
          [workflowId, "SUCCESS"],
          [forkId, "SUCCESS"],
        ]);
      }),
    );

    it(
      "run orders as child workflows, listed by their parent; a child cancelled while the parent waits for it fails the parent (orderBatch)",
      withLogs(["start", "worker", "list", "cancel", "status", "steps", "result"], async () => {
        const workflowId = "batch-1";
        const items = [{ sku: "a", quantity: 1, unitPrice: 3 }];
        ok(await control("start", { workflowName: "orderBatch", workflowId, input: { orders: [{ orderId: "b-1", items, holdMs: 0 }, { orderId: "b-2", items, holdMs: 60_000 }] } }));
        const children = await waitFor(
          "batch-1 to start both children",
          async () => {
            const listed = ok<{ workflows: Json[] }>(await control("list", { parentWorkflowId: workflowId })).workflows;
            return listed.length === 2 && listed;
          },
          15_000,
        );
        const sleeper: string = children.find((w) => w.input.orderId === "b-2").workflowId;
        assert.equal(ok<Json>(await control("status", { workflowId: sleeper })).parentWorkflowId, workflowId);
        // A child is registered as it is created, its start step recorded just after.
        const started = async () => new Set(ok<{ steps: Json[] }>(await control("steps", { workflowId })).steps.map((s) => s.childWorkflowId).filter(Boolean));
        await waitFor("batch-1 to record both starts, naming the children", async () => (await started()).size === 2);
        assert.deepEqual([...(await started())].sort(), children.map((w) => w.workflowId).sort());

        // The parent has the first child's result and waits for the sleeper's end: cancelling it wakes the parent.
        const store = new DynamoWorkflowStore({ tableName: TABLE, client: dynamodb });
        await waitFor("batch-1 to wait for its second child", async () => (await store.waitersOf(sleeper, { type: "end" })).length > 0, 15_000);
        assert.equal(ok<Json>(await control("cancel", { workflowId: sleeper })).status, "CANCELLED");
        const failed = await waitFor("batch-1 to fail", async () => {
          const r = await control("result", { workflowId, timeoutMs: 1_000 });
          return !r.ok && r.error.code !== "RESULT_TIMEOUT" && r;
        });
        refused(failed, "WorkflowFailedError", "WORKFLOW_FAILED");
        assert.match(JSON.stringify(failed), /WorkflowCancelledError/);
        assert.ok(recorders.cancel!.permissions().some((p) => p.action === "sqs:SendMessage"), "the cancel function woke the parent");
      }),
    );

    it(
      "deliver a decision to a workflow blocked on it, once, and read the state it publishes (approval: send, event)",
      withLogs(["start", "worker", "event", "send", "result", "steps"], async () => {
        const workflowId = "approval-1";
        ok(await control("start", { workflowName: "approval", workflowId, input: { timeoutMs: 60_000 } }));
        assert.deepEqual(ok(await control("event", { workflowId, key: "state", timeoutMs: 15_000 })), { workflowId, key: "state", set: true, value: "waiting" });
        // Blocked in recv (registered as waiting for the topic): the send wakes it with a work message.
        const store = new DynamoWorkflowStore({ tableName: TABLE, client: dynamodb });
        await waitFor("approval-1 to wait in recv", async () => (await store.waitersOf(workflowId, { type: "message", topic: "decision" })).length > 0, 15_000);
        const decision = { workflowId, message: { approved: true, by: "ada" }, topic: "decision", idempotencyKey: "decision-1" };
        const sent = { workflowId, topic: "decision", delivered: true };
        assert.deepEqual(ok(await control("send", decision)), sent);
        // The same idempotency key again: answered alike, delivered nothing.
        assert.deepEqual(ok(await control("send", { ...decision, message: { approved: false } })), sent);
        assert.deepEqual(ok<Json>(await control("result", { workflowId, timeoutMs: 20_000 })).output, { state: "approved", decidedBy: "ada" });
        assert.deepEqual(ok(await control("event", { workflowId, key: "state" })), { workflowId, key: "state", set: true, value: "approved" });
        assert.ok(recorders.send!.permissions().some((p) => p.action === "sqs:SendMessage"), "the send function woke the workflow");
      }),
    );

    it(
      "admit workflows started, resumed and forked on the reference app's queue, on the schedule's message too; refuse a duplicate; show the line (queues, queued)",
      withLogs(["start", "worker", "result", "queues", "queued", "status", "cancel", "resume", "fork", "send"], async () => {
        // A workflow whose admission request was lost (nothing else uses the queue yet) waits in line.
        const lost = clientWithoutAdmissions();
        await lost.startWorkflow("greet", { name: "Lost" }, { workflowId: "queued-lost", queueName: "partner-api" });
        const waiting = ok<Json>(await control("status", { workflowId: "queued-lost" }));
        assert.deepEqual([waiting.status, waiting.queueName, waiting.queuePosition], ["ENQUEUED", "partner-api", 0]);
        const line = ok<{ workflows: Json[] }>(await control("queued", { queueName: "partner-api", status: "ENQUEUED" }));
        assert.deepEqual(line.workflows.map((w) => w.workflowId), ["queued-lost"]);
        // Cancelled, it leaves the line (and asks for a pass, which finds nothing to admit).
        const handledBefore = admissionsHandled();
        assert.equal(ok<Json>(await control("cancel", { workflowId: "queued-lost" })).status, "CANCELLED");
        await waitFor("the cancel's admission pass", () => admissionsHandled() > handledBefore, 15_000);
        assert.equal(ok<{ queues: Json[] }>(await control("queues", { queueName: "partner-api" })).queues[0].waiting, 0);

        // The schedule's message, as EventBridge sends it (the rule's Input is the body), admits what no trigger did.
        const rules = Object.values<Json>(app.template.Resources).filter((r) => r.Type === "AWS::Events::Rule");
        assert.equal(rules.length, 1);
        const [target] = rules[0].Properties.Targets;
        assert.deepEqual(target.Arn, { "Fn::GetAtt": [app.workQueueLogicalId, "Arn"] });
        assert.ok(isAdmitMessage(target.Input), target.Input);
        await lost.startWorkflow("greet", { name: "Scheduled" }, { workflowId: "queued-scheduled", queueName: "partner-api" });
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(ok<Json>(await control("status", { workflowId: "queued-scheduled" })).status, "ENQUEUED", "nothing admits it before the schedule");
        await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: target.Input }));
        assert.equal(ok<Json>(await control("result", { workflowId: "queued-scheduled", timeoutMs: 20_000 })).output, "Hello, Scheduled!");

        // Resumed onto the queue, the cancelled one runs.
        assert.deepEqual(ok(await control("resume", { workflowId: "queued-lost", queueName: "partner-api" })), { workflowId: "queued-lost", queueName: "partner-api" });
        assert.equal(ok<Json>(await control("result", { workflowId: "queued-lost", timeoutMs: 20_000 })).output, "Hello, Lost!");

        // Started and forked on the queue through the functions: they ask for a pass, which the worker runs.
        assert.deepEqual(ok(await control("start", { workflowName: "greet", workflowId: "queued-1", input: { name: "Q" }, queueName: "partner-api" })), {
          workflowId: "queued-1",
          queueName: "partner-api",
        });
        assert.equal(ok<Json>(await control("result", { workflowId: "queued-1", timeoutMs: 20_000 })).output, "Hello, Q!");
        const forked = ok<Json>(await control("fork", { workflowId: "queued-1", startStep: 1, newWorkflowId: "queued-1-fork", queueName: "partner-api" }));
        assert.equal(forked.queueName, "partner-api");
        assert.equal(ok<Json>(await control("result", { workflowId: "queued-1-fork", timeoutMs: 20_000 })).output, "Hello, Q!");
        // The limits come from the template's CAIRN_QUEUES, the admissions from the worker's passes.
        const [summary] = ok<{ queues: Json[] }>(await control("queues", {})).queues;
        assert.deepEqual({ ...summary, inFlight: 0, recentAdmissions: summary.recentAdmissions.length }, {
          queueName: "partner-api",
          waiting: 0,
          inFlight: 0,
          recentAdmissions: 4,
          concurrency: 5,
          rateLimit: { limit: 100, periodMs: 60_000 },
        });
        refused(await control("start", { workflowName: "greet", workflowId: "queued-x", queueName: "no-such-queue" }), "ValidationError", "VALIDATION_ERROR");

        // A deduplication id held by a running workflow.
        const held = { workflowName: "approval", input: { timeoutMs: 60_000 }, queueName: "partner-api", deduplicationId: "approval-q" };
        ok(await control("start", { ...held, workflowId: "queued-approval" }));
        const duplicate = await control("start", { ...held, workflowId: "queued-approval-2" });
        refused(duplicate, "DuplicateWorkflowError", "DUPLICATE_WORKFLOW");
        assert.deepEqual((duplicate as { error: { details: Json } }).error.details, { queueName: "partner-api", deduplicationId: "approval-q", existingWorkflowId: "queued-approval" });
        const running = await waitFor("queued-approval to be admitted", async () => {
          const listed = ok<{ workflows: Json[] }>(await control("queued", {})).workflows;
          return listed.find((w) => w.workflowId === "queued-approval" && w.status === "PENDING");
        });
        assert.equal(running.deduplicationId, "approval-q");
        ok(await control("send", { workflowId: "queued-approval", message: { approved: true, by: "q" }, topic: "decision" }));
        assert.equal(ok<Json>(await control("result", { workflowId: "queued-approval", timeoutMs: 20_000 })).output.state, "approved");
      }),
    );

    it(
      "reap the input and steps of a finished workflow once the TTL deleted its record (flaky, then the reaper)",
      withLogs(["start", "worker", "result", "reaper"], async () => {
        const workflowId = "reaped-1";
        // An input over 400 bytes is an item of its own, which the reaper must delete too.
        ok(await control("start", { workflowName: "flaky", workflowId, input: { outageMs: 0, note: "x".repeat(600) } }));
        assert.equal(ok<Json>(await control("result", { workflowId, timeoutMs: 20_000 })).status, "SUCCESS");
        const key = { pk: { S: `WF#${workflowId}` }, sk: { S: "#WF" } };
        const record = (await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: key, ConsistentRead: true }))).Item!;
        assert.equal(typeof record.expiresAt?.N, "string", "the finished record carries the TTL");
        const partition = async () =>
          (
            await dynamodb.send(
              new QueryCommand({ TableName: TABLE, KeyConditionExpression: "pk = :pk", ExpressionAttributeValues: { ":pk": key.pk }, ConsistentRead: true }),
            )
          ).Items?.map((i) => i.sk!.S) ?? [];
        assert.deepEqual(await partition(), ["#IN", "#WF", "STEP#0000000001", "STEP#0000000002"]);
        // DynamoDB's TTL deletes the record; the stream record of that deletion invokes the reaper.
        await dynamodb.send(new DeleteItemCommand({ TableName: TABLE, Key: key }));
        const response = await hosts.reaper!.invoke<Json>({
          Records: [
            {
              eventID: "1",
              eventName: "REMOVE",
              eventSource: "aws:dynamodb",
              awsRegion: LOCAL_REGION,
              userIdentity: { type: "Service", principalId: "dynamodb.amazonaws.com" },
              dynamodb: { Keys: key, OldImage: record, SequenceNumber: "1000", SizeBytes: 1000, StreamViewType: "OLD_IMAGE" },
            },
          ],
        });
        assert.deepEqual(response, { batchItemFailures: [] });
        assert.deepEqual(await partition(), []);
      }),
    );

    it(
      "mark a dead-lettered workflow MAX_RECOVERY_ATTEMPTS_EXCEEDED, naming the worker's error by its class (a workflow the worker does not run)",
      withLogs(["worker", "deadLetterHandler", "status", "result"], async () => {
        // Started past the start function (which refuses the name), as a worker deployed
        // without the workflow would meet it: its delivery fails with UnknownWorkflowError,
        // which the worker notes on the workflow.
        const client = new WorkflowClient({
          store: new DynamoWorkflowStore({ tableName: TABLE, client: dynamodb }),
          queue: new SqsWorkQueue({ queueUrl, client: sqs }),
        });
        const workflowId = "retired-1";
        await client.startWorkflow("retired", {}, { workflowId });
        const failed = await waitFor("the worker to fail retired-1's message", () => failedRecords(workflowId)[0], 15_000);
        // SQS would move it to the dead-letter queue once maxReceiveCount deliveries failed; the
        // worker backs each failed delivery off for longer (30 s, 60 s, ...), so the test moves it.
        await sqs.send(new SendMessageCommand({ QueueUrl: deadLetterQueueUrl, MessageBody: failed.body }));
        const status = await waitFor(
          "retired-1 to go MAX_RECOVERY_ATTEMPTS_EXCEEDED",
          async () => {
            const s = ok<Json>(await control("status", { workflowId }));
            return s.status === "MAX_RECOVERY_ATTEMPTS_EXCEEDED" && s;
          },
          15_000,
        );
        assert.match(status.recoveryReason, /last error: UnknownWorkflowError: No workflow named "retired"/);
        refused(await control("result", { workflowId }), "WorkflowRecoveryExceededError", "MAX_RECOVERY_ATTEMPTS_EXCEEDED");
      }),
    );
  });

  it("make no AWS call that their function's IAM policy in the template does not allow", () => {
    const keyOf = (p: Permission): string => {
      const r = p.resource;
      if (r.kind === "queue") {
        if (r.queueUrl === queueUrl) return app.workQueueLogicalId;
        if (r.queueUrl === deadLetterQueueUrl) return app.deadLetterQueueLogicalId;
        return `unknown queue ${r.queueUrl}`;
      }
      if (r.table !== TABLE) return `unknown table ${r.table}`;
      return r.kind === "index" ? `${app.tableLogicalId}/index/${r.index}` : app.tableLogicalId;
    };
    const denied: string[] = [];
    const made: Record<string, string[]> = {};
    for (const [role, recorder] of Object.entries(recorders)) {
      const fn = app.functions[role]!;
      made[role] = recorder.permissions().map((p) => `${p.action} ${keyOf(p)}`).sort();
      for (const p of recorder.permissions()) if (!allows(fn.statements, p.action, keyOf(p))) denied.push(`${role}: ${p.action} on ${keyOf(p)}`);
    }
    console.log(`AWS calls made by each bundle (IAM action, resource):\n${JSON.stringify(made, null, 1)}`);
    assert.deepEqual(denied, []);
    // Every function was exercised.
    for (const role of Object.keys(app.functions)) assert.ok(recorders[role]!.calls.length > 0, `${role} made no AWS call (did a test above fail before using it?)`);
  });
});
