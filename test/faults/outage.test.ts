import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { startFauxqs } from "fauxqs";
import { CAIRN_DEFAULTS } from "../../infra/defaults.js";
import { defineWorkflow, WorkflowStatus } from "../../src/index.js";
import { EventSourcePoller, type LocalRuntime } from "../../src/local/index.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../src/local/localAws.js";
import { FaultInjector, FaultyQueue, TransientFault } from "../../src/testing/index.js";
import { FAILURE_BACKOFF_DEFAULTS, failureBackoffSeconds, queueUrlFromArn, sqsChangeVisibility } from "../../src/worker/failureBackoff.js";
import { sqsBatchHandler } from "../../src/worker/sqsBatchHandler.js";
import { StepProbe, startTestRuntime, waitFor } from "../helpers/runtime.js";
import { assertRecordedOnce, quietLogger } from "./helpers.js";


/** A record as a test handler saw it. */
interface Delivered {
  body: string;
  at: number;
  receiveCount: string;
}

describe("the backoff of failed records", () => {
  it("spreads the deployed maxReceiveCount deliveries over well more than a 5-minute outage", () => {
    // Prepare: the deployed queue dead-letters a message on receive maxReceiveCount + 1.
    const lowest = () => 0;
    const deliveries = CAIRN_DEFAULTS.maxReceiveCount;

    // Act: the least time between the first failed delivery and the last one the queue allows.
    let span = 0;
    for (let n = 1; n < deliveries; n++) span += failureBackoffSeconds(n, FAILURE_BACKOFF_DEFAULTS, lowest);

    // Assess
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((n) => failureBackoffSeconds(n, FAILURE_BACKOFF_DEFAULTS, lowest)),
      [30, 60, 120, 240, 480, 900, 900],
    );
    assert.ok(span >= 450, `the last delivery comes ${span} s after the first failure`);
  });

  it("adds at most the jitter's share, and never exceeds its cap or SQS's 12 hours", () => {
    assert.equal(failureBackoffSeconds(2, FAILURE_BACKOFF_DEFAULTS, () => 0.999), 72);
    assert.equal(failureBackoffSeconds(6, FAILURE_BACKOFF_DEFAULTS, () => 0.999), 900);
    assert.equal(failureBackoffSeconds(40, { baseSeconds: 60, maxSeconds: 1e9, jitter: 0 }), 43_200);
    assert.equal(failureBackoffSeconds(Number.NaN, FAILURE_BACKOFF_DEFAULTS, () => 0), 30, "an unknown receive count counts as the first");
  });

  it("finds the queue URL of an event source ARN", () => {
    assert.equal(queueUrlFromArn("arn:aws:sqs:eu-west-1:123456789012:work", {}), "https://sqs.eu-west-1.amazonaws.com/123456789012/work");
    assert.equal(
      queueUrlFromArn("arn:aws:sqs:us-east-1:000000000000:work", { CAIRN_QUEUE_URL: "http://localhost:4566/000000000000/work" }),
      "http://localhost:4566/000000000000/work",
    );
    assert.equal(queueUrlFromArn("not an arn", {}), undefined);
  });
});

describe("the embedded event source mapping", () => {
  let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
  let sqs: SQSClient;
  before(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    sqs = new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: `http://127.0.0.1:${fauxqs.port}`, useQueueUrlAsEndpoint: false });
  });
  after(async () => {
    sqs?.destroy();
    await fauxqs?.stop();
  });

  /** A queue with a 1 s visibility timeout, and a poller whose handler fails the first delivery of "fail" records. */
  async function pollerFailingOnce(name: string, changeVisibility: ReturnType<typeof sqsChangeVisibility>) {
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: "1" } }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    const deliveries: Delivered[] = [];
    const handler = sqsBatchHandler(
      async (event) =>
        Promise.allSettled(
          event.Records.map(async (record: SQSRecord) => {
            deliveries.push({ body: record.body, at: Date.now(), receiveCount: record.attributes.ApproximateReceiveCount });
            if (record.body === "fail" && deliveries.filter((d) => d.body === "fail").length === 1) throw new Error("the table is down");
          }),
        ),
      () => undefined,
      { failureBackoff: { baseSeconds: 4, jitter: 0, logger: quietLogger, changeVisibility } },
    );
    const poller = new EventSourcePoller({ sqs, queueUrl, queueArn: arn, handler, functionName: name, maxConcurrency: 1, logger: quietLogger });
    return { queueUrl, deliveries, poller };
  }

  /** Run the poller until the record "fail" was delivered twice (and a moment more); its two deliveries. */
  async function untilTheFailedRecordReturns(poller: EventSourcePoller, deliveries: Delivered[]): Promise<{ first: Delivered; second: Delivered }> {
    poller.start();
    try {
      await waitFor("the failed record to come back", () => deliveries.filter((d) => d.body === "fail").length >= 2, 15_000);
      await sleep(1_500);
    } finally {
      await poller.stop();
    }
    const [first, second] = deliveries.filter((d) => d.body === "fail");
    return { first: first!, second: second! };
  }

  it("brings a failed record back after the visibility its handler set, not after the queue's default", async () => {
    // Prepare
    const { queueUrl, deliveries, poller } = await pollerFailingOnce("esm-backoff", sqsChangeVisibility(sqs, () => queueUrl));
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "fail" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "ok" }));

    // Act
    const { first, second } = await untilTheFailedRecordReturns(poller, deliveries);

    // Assess
    const gap = second.at - first.at;
    assert.ok(gap >= 3_900, `came back after ${gap} ms, not the 4 s its handler set`);
    assert.equal(second.receiveCount, "2");
    assert.equal(deliveries.filter((d) => d.body === "ok").length, 1, "the record that succeeded was deleted");
  });

  it("leaves a failed record to the queue's visibility timeout when ChangeMessageVisibility fails, and fails nothing else", async () => {
    // Prepare: SQS refuses the visibility change.
    let refused = 0;
    const { queueUrl, deliveries, poller } = await pollerFailingOnce("esm-backoff-refused", async () => {
      refused++;
      throw new Error("SQS is unavailable");
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "fail" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "ok" }));

    // Act
    const { first, second } = await untilTheFailedRecordReturns(poller, deliveries);

    // Assess
    const gap = second.at - first.at;
    assert.ok(refused >= 1);
    assert.ok(gap < 3_500, `came back after ${gap} ms: the queue's 1 s visibility timeout`);
    assert.equal(deliveries.filter((d) => d.body === "ok").length, 1, "the record that succeeded was still deleted");
    assert.equal(poller.stats.failures, 1, "only the failed record was reported");
  });
});

describe("SQS refusing sends for longer than the queue's deliveries last", () => {
  const probe = new StepProbe();
  const threeSteps = defineWorkflow("faults.outage", async (ctx, input: { n: number }) => {
    let total = input.n;
    for (const name of ["a", "b", "c"]) {
      total = await ctx.step(name, async () => {
        await probe.ran(ctx.workflowId, name);
        return total + 1;
      });
    }
    return total;
  });
  const VISIBILITY_SECONDS = 2;
  const MAX_RECEIVE_COUNT = 3;
  /** Longer than MAX_RECEIVE_COUNT visibility timeouts: without a backoff, the messages would be dead-lettered. */
  const OUTAGE_MS = 10_000;
  /** Failed records come back after 5, then 10 s: the last delivery is 15 s after the first failure. */
  const BACKOFF = { baseSeconds: 5, maxSeconds: 60, jitter: 0 };
  const faults = new FaultInjector({ seed: 3, enabled: false, rules: [{ point: TransientFault.queueSendFailure }] });
  let rt: LocalRuntime;

  before(async () => {
    rt = await startTestRuntime([threeSteps], {
      visibilityTimeoutSeconds: VISIBILITY_SECONDS,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      logger: quietLogger,
      failureBackoff: BACKOFF,
      // Only the worker's sends fail (the client's start still goes out), as when SQS refuses SendMessage.
      wrapQueue: (queue) => new FaultyQueue(queue, faults),
    });
  });
  after(() => rt?.stop());

  it("dead-letters no workflow and records every step once", async () => {
    // Prepare
    assert.ok(OUTAGE_MS > MAX_RECEIVE_COUNT * VISIBILITY_SECONDS * 1000);
    const ids = ["sqs-outage-0", "sqs-outage-1", "sqs-outage-2"];

    // Act: every worker send fails from the first step on, for OUTAGE_MS.
    faults.enable();
    const handles = await Promise.all(ids.map((id, i) => rt.client.startWorkflow(threeSteps, { n: i * 10 }, { workflowId: id })));
    await waitFor("step 1 of every workflow to be recorded", async () => (await Promise.all(ids.map((id) => rt.store.countSteps(id)))).every((n) => n >= 1));
    await sleep(OUTAGE_MS);
    faults.disable();

    // Assess
    assert.ok(faults.count(TransientFault.queueSendFailure) >= ids.length, "every workflow's send failed");
    const results = await Promise.all(handles.map((h) => h.getResult({ timeoutMs: 40_000 })));
    for (const [i, id] of ids.entries()) {
      assert.equal(results[i], i * 10 + 3);
      assert.equal((await rt.client.getWorkflowStatus(id)).status, WorkflowStatus.SUCCESS);
      await assertRecordedOnce(rt.store, id, [i * 10 + 1, i * 10 + 2, i * 10 + 3]);
    }
    assert.equal(rt.deadLetters.stats.messages, 0, "nothing reached the dead-letter queue");
  });
});
