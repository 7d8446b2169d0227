import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { awsClientSettings } from "../../src/awsEnv.js";
import { defineWorkflow, WorkflowClient, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { SqsWorkQueue } from "../../src/queue/SqsWorkQueue.js";
import { DynamoWorkflowStore } from "../../src/store/DynamoWorkflowStore.js";
import { startTestRuntime } from "../helpers/runtime.js";

const double = defineWorkflow("fromEnv.double", async (ctx, input: { n: number }) => ctx.step("double", async () => input.n * 2));

/** The AWS variables this process had, restored after the tests. */
const AWS_VARIABLES = [
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_DYNAMODB",
  "AWS_ENDPOINT_URL_SQS",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_EC2_METADATA_DISABLED",
] as const;

describe("fromEnv(env)", () => {
  let rt: LocalRuntime;
  const saved = new Map<string, string | undefined>();
  before(async () => {
    rt = await startTestRuntime([double]);
    // This process's own environment points nowhere: only `env` can lead the clients to the stack.
    for (const name of AWS_VARIABLES) saved.set(name, process.env[name]);
    for (const name of AWS_VARIABLES) delete process.env[name];
    process.env.AWS_REGION = "eu-west-3";
    process.env.AWS_ENDPOINT_URL = "http://127.0.0.1:9"; // nothing listens there
    process.env.AWS_EC2_METADATA_DISABLED = "true"; // fail fast, not after IMDS timeouts
  });
  after(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await rt?.stop();
  });

  it("WorkflowClient.fromEnv reaches the table and queue the given environment names", async () => {
    // Prepare
    const client = WorkflowClient.fromEnv({ ...rt.env });

    // Act
    const handle = await client.startWorkflow(double, { n: 21 }, { workflowId: "from-env-client" });

    // Assess
    assert.equal(await handle.getResult({ timeoutMs: 20_000 }), 42);
    assert.equal((await client.getWorkflowStatus("from-env-client")).status, WorkflowStatus.SUCCESS);
  });

  it("DynamoWorkflowStore.fromEnv and SqsWorkQueue.fromEnv honour the per-service endpoints over AWS_ENDPOINT_URL", async () => {
    // Prepare: a general endpoint that leads nowhere, and the per-service ones that lead to the stack.
    const env = { ...rt.env, AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" };
    const store = DynamoWorkflowStore.fromEnv(env);
    const queue = SqsWorkQueue.fromEnv(env);
    await rt.client.startWorkflow(double, { n: 1 }, { workflowId: "from-env-store" }).then((h) => h.getResult({ timeoutMs: 20_000 }));

    // Act
    const record = await store.getWorkflow("from-env-store");
    await queue.send([{ workflowId: "from-env-store", step: 2, generation: 0 }]);

    // Assess
    assert.equal(record?.status, WorkflowStatus.SUCCESS);
    assert.equal(queue.queueUrl, rt.queueUrl);
  });

  it("reads endpoint, region, credentials and attempts as the SDK would", () => {
    // Act / Assess
    assert.deepEqual(
      awsClientSettings("SQS", {
        AWS_REGION: "eu-north-1",
        AWS_DEFAULT_REGION: "us-west-2",
        AWS_ENDPOINT_URL: "http://general:1",
        AWS_ENDPOINT_URL_SQS: "http://sqs:2",
        AWS_ACCESS_KEY_ID: "id",
        AWS_SECRET_ACCESS_KEY: "secret",
        AWS_MAX_ATTEMPTS: "3",
      }),
      { region: "eu-north-1", endpoint: "http://sqs:2", credentials: { accessKeyId: "id", secretAccessKey: "secret" }, maxAttempts: 3 },
    );
    assert.deepEqual(awsClientSettings("DYNAMODB", { AWS_DEFAULT_REGION: "us-west-2", AWS_ENDPOINT_URL: "http://general:1", AWS_ENDPOINT_URL_SQS: "http://sqs:2" }), {
      region: "us-west-2",
      endpoint: "http://general:1",
    });
    assert.deepEqual(awsClientSettings("DYNAMODB", { AWS_ENDPOINT_URL: "http://general:1", AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true" }), {});
  });
});
