import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { App, Duration, Stack } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import * as cloudwatchActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import { CairnWorkflows, CAIRN_DEFAULTS, READ_OPERATIONS, type CairnWorkflowsProps } from "../../infra/index.js";
import { ENV } from "../../src/config.js";
import { OPERATIONS, WRITE_OPERATIONS, type OperationName } from "../../src/control/operations.js";
import { queuesFromEnv } from "../../src/queues/queuesEnv.js";
import { decodeAdmitMessage, encodeAdmitMessage, isAdmitMessage } from "../../src/queue/messages.js";
import { defineQueue } from "../../src/queues/defineQueue.js";
import { tableDefinition, TTL_ATTRIBUTE } from "../../src/store/tableSchema.js";

const WORKER_ENTRY = path.resolve("functions/worker.ts");
const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

type Json = any;

/**
 * The default stack is synthesized once with real bundling (local esbuild,
 * fifteen functions: about 1 s each, most of it `npx` starting). Variants skip bundling
 * (`aws:cdk:bundling-stacks: []`): their templates are the same apart from asset hashes.
 */
interface Built {
  stack: Stack;
  cairn: CairnWorkflows;
  template: Template;
  json: Json;
  outdir: string;
  synthMs: number;
}

function build(props: Partial<CairnWorkflowsProps>, options: { bundle: boolean; extra?: (stack: Stack, cairn: CairnWorkflows) => void }): Built {
  const outdir = mkdtempSync(path.join(tmpdir(), "cairn-cdk-"));
  const app = new App({ outdir, context: options.bundle ? {} : { "aws:cdk:bundling-stacks": [] } });
  const stack = new Stack(app, "TestStack", { env: { account: "123456789012", region: "eu-west-1" } });
  const started = Date.now();
  const cairn = new CairnWorkflows(stack, "Cairn", { workerEntry: WORKER_ENTRY, ...props });
  options.extra?.(stack, cairn);
  const template = Template.fromStack(stack);
  return { stack, cairn, template, json: template.toJSON(), outdir, synthMs: Date.now() - started };
}

const logicalId = (stack: Stack, fn: { node: { defaultChild?: unknown } }) => stack.getLogicalId(fn.node.defaultChild as CfnFunction);

/** Every statement of every AWS::IAM::Policy attached to the role of `functionId`. */
function statementsOfFunction(json: Json, functionId: string): Json[] {
  const roleRef = json.Resources[functionId].Properties.Role["Fn::GetAtt"][0];
  return Object.values<Json>(json.Resources)
    .filter((r) => r.Type === "AWS::IAM::Policy" && r.Properties.Roles.some((ref: Json) => ref.Ref === roleRef))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
}

const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/**
 * A function's grants as { resource: sorted actions }, the resource named by what it is:
 * "table", "index <name>", "workQueue", "deadLetterQueue", "own log group", "key".
 */
function grantsOf(b: Built, fn: { node: { defaultChild?: unknown } }): Record<string, string[]> {
  const id = (c: unknown) => b.stack.getLogicalId((c as { node: { defaultChild: CfnFunction } }).node.defaultChild);
  const tableId = id(b.cairn.table);
  const functionId = logicalId(b.stack, fn);
  const logGroupId = b.json.Resources[functionId].Properties.LoggingConfig.LogGroup.Ref;
  const names: Record<string, string> = {
    [tableId]: "table",
    [id(b.cairn.queue)]: "workQueue",
    [id(b.cairn.deadLetterQueue)]: "deadLetterQueue",
    [logGroupId]: "own log group",
  };
  const streamOfTable = JSON.stringify({ "Fn::GetAtt": [tableId, "StreamArn"] });
  if (b.cairn.encryptionKey) names[id(b.cairn.encryptionKey)] = "key";
  const label = (resource: Json): string => {
    const getAtt = resource?.["Fn::GetAtt"];
    if (getAtt?.[1] === "Arn" && names[getAtt[0]]) return names[getAtt[0]]!;
    if (JSON.stringify(resource) === streamOfTable) return "stream";
    const join = resource?.["Fn::Join"]?.[1];
    if (Array.isArray(join) && join[0]?.["Fn::GetAtt"]?.[0] === tableId && join.length === 2) {
      const index = /^\/index\/([\w.-]+)$/.exec(String(join[1]));
      if (index) return `index ${index[1]}`;
    }
    return JSON.stringify(resource);
  };
  const grants: Record<string, Set<string>> = {};
  for (const s of statementsOfFunction(b.json, functionId)) {
    assert.equal(s.Effect, "Allow");
    for (const resource of asList<Json>(s.Resource)) for (const action of asList<string>(s.Action)) (grants[label(resource)] ??= new Set()).add(action);
  }
  return Object.fromEntries(Object.entries(grants).map(([k, v]) => [k, [...v].sort()]));
}

const variantQueues = [
  defineQueue("partner-api", { concurrency: 5, rateLimit: { limit: 100, periodMs: 60_000 } }),
  defineQueue("bulk", { priorityEnabled: true, partitioned: true }),
];

let main: Built;
let variant: Built;
let key: kms.Key;
let topic: sns.Topic;

before(() => {
  main = build(
    {},
    {
      bundle: true,
      extra: (stack, cairn) => {
        cairn.grantRead(new iam.Role(stack, "Reader", { assumedBy: new iam.AccountRootPrincipal() }));
        cairn.grantOperate(new iam.Role(stack, "Operator", { assumedBy: new iam.AccountRootPrincipal() }));
      },
    },
  );
  // The variant needs a key and a topic in its own stack, so it is built here rather than by build().
  const outdir = mkdtempSync(path.join(tmpdir(), "cairn-cdk-"));
  const app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new Stack(app, "VariantStack", { env: { account: "123456789012", region: "eu-west-1" } });
  key = new kms.Key(stack, "Key", { enableKeyRotation: true });
  topic = new sns.Topic(stack, "Alarms");
  const started = Date.now();
  const cairn = new CairnWorkflows(stack, "Cairn", {
    workerEntry: WORKER_ENTRY,
    workerTimeout: Duration.minutes(2),
    workerMemorySize: 2048,
    batchSize: 5,
    maxConcurrency: 50,
    maxReceiveCount: 8,
    retentionDays: 7,
    encryptionKey: key,
    alarmActions: [new cloudwatchActions.SnsAction(topic)],
    workerEnvironment: { PAYMENTS_URL: "https://payments.example" },
    workflowNames: ["order", "refund"],
    queues: variantQueues,
    admissionSchedule: Duration.minutes(5),
    outputPrefix: "Orders",
  });
  const template = Template.fromStack(stack);
  variant = { stack, cairn, template, json: template.toJSON(), outdir, synthMs: Date.now() - started };
  console.log(`synth: default stack with bundling ${main.synthMs} ms, variant without bundling ${variant.synthMs} ms`);
});

after(() => {
  for (const b of [main, variant]) if (b) rmSync(b.outdir, { recursive: true, force: true });
});

describe("CairnWorkflows", () => {
  describe("table", () => {
    it("declares exactly the keys, attributes and indexes of the store's tableDefinition()", () => {
      const def = tableDefinition("x");
      const [table] = Object.values<Json>(main.template.findResources("AWS::DynamoDB::Table"));
      const props = table.Properties;
      assert.deepEqual(props.KeySchema, def.KeySchema);
      const byName = (a: { AttributeName?: string }, b: { AttributeName?: string }) => a.AttributeName!.localeCompare(b.AttributeName!);
      assert.deepEqual([...props.AttributeDefinitions].sort(byName), [...def.AttributeDefinitions!].sort(byName));
      const byIndex = (a: { IndexName?: string }, b: { IndexName?: string }) => a.IndexName!.localeCompare(b.IndexName!);
      assert.deepEqual([...props.GlobalSecondaryIndexes].sort(byIndex), [...def.GlobalSecondaryIndexes!].sort(byIndex));
      assert.equal(props.LocalSecondaryIndexes, undefined);
    });

    it("is on-demand, with point-in-time recovery, AWS-managed encryption and the TTL attribute", () => {
      main.template.hasResourceProperties("AWS::DynamoDB::Table", {
        BillingMode: "PAY_PER_REQUEST",
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      });
      assert.equal(TTL_ATTRIBUTE, "expiresAt");
    });

    it("streams the old image of deleted items, for the reaper", () => {
      main.template.hasResourceProperties("AWS::DynamoDB::Table", { StreamSpecification: { StreamViewType: "OLD_IMAGE" } });
    });

    it("is retained when the stack is deleted, by default", () => {
      main.template.hasResource("AWS::DynamoDB::Table", { DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
    });

    it("uses the customer-managed key when one is given", () => {
      variant.template.hasResourceProperties("AWS::DynamoDB::Table", {
        SSESpecification: { SSEEnabled: true, SSEType: "KMS", KMSMasterKeyId: { "Fn::GetAtt": [variant.stack.getLogicalId(key.node.defaultChild as kms.CfnKey), "Arn"] } },
      });
    });
  });

  describe("queues", () => {
    it("gives the work queue a visibility timeout of at least 6 × the worker timeout and a redrive to the dead-letter queue", () => {
      const dlqId = main.stack.getLogicalId(main.cairn.deadLetterQueue.node.defaultChild as never);
      const queue = main.json.Resources[main.stack.getLogicalId(main.cairn.queue.node.defaultChild as never)].Properties;
      const worker = main.json.Resources[logicalId(main.stack, main.cairn.worker)].Properties;
      assert.ok(queue.VisibilityTimeout >= 6 * worker.Timeout, `visibility ${queue.VisibilityTimeout} s vs worker timeout ${worker.Timeout} s`);
      assert.equal(queue.VisibilityTimeout, 360);
      assert.deepEqual(queue.RedrivePolicy, { deadLetterTargetArn: { "Fn::GetAtt": [dlqId, "Arn"] }, maxReceiveCount: CAIRN_DEFAULTS.maxReceiveCount });
      const vQueue = variant.json.Resources[variant.stack.getLogicalId(variant.cairn.queue.node.defaultChild as never)].Properties;
      assert.equal(vQueue.VisibilityTimeout, 720);
      assert.equal(vQueue.RedrivePolicy.maxReceiveCount, 8);
    });

    it("encrypts both queues (SQS-managed SSE by default, the given key otherwise)", () => {
      const queues = Object.values<Json>(main.template.findResources("AWS::SQS::Queue"));
      assert.equal(queues.length, 2);
      for (const q of queues) assert.equal(q.Properties.SqsManagedSseEnabled, true);
      for (const q of Object.values<Json>(variant.template.findResources("AWS::SQS::Queue"))) {
        assert.ok(q.Properties.KmsMasterKeyId, "queue encrypted with the customer key");
      }
    });

    it("refuses requests without TLS on both queues", () => {
      const policies = Object.values<Json>(main.template.findResources("AWS::SQS::QueuePolicy"));
      assert.equal(policies.length, 2);
      for (const p of policies) {
        assert.ok(
          p.Properties.PolicyDocument.Statement.some(
            (s: Json) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === "false",
          ),
        );
      }
    });

    it("keeps dead letters for 14 days", () => {
      const dlq = main.json.Resources[main.stack.getLogicalId(main.cairn.deadLetterQueue.node.defaultChild as never)].Properties;
      assert.equal(dlq.MessageRetentionPeriod, 14 * 86_400);
    });

    it("gives the dead-letter queue a visibility timeout of at least 6 × the dead-letter handler's timeout", () => {
      for (const b of [main, variant]) {
        const dlq = b.json.Resources[b.stack.getLogicalId(b.cairn.deadLetterQueue.node.defaultChild as never)].Properties;
        const handler = b.json.Resources[logicalId(b.stack, b.cairn.deadLetterHandler)].Properties;
        assert.ok(dlq.VisibilityTimeout >= 6 * handler.Timeout, `visibility ${dlq.VisibilityTimeout} s vs handler timeout ${handler.Timeout} s`);
        assert.equal(dlq.VisibilityTimeout, 180);
      }
    });
  });

  describe("functions", () => {
    it("builds fifteen functions on nodejs22.x / arm64, each with its own log group and role", () => {
      const fns = Object.values<Json>(main.template.findResources("AWS::Lambda::Function"));
      assert.equal(fns.length, 15);
      for (const fn of fns) {
        assert.equal(fn.Properties.Runtime, "nodejs22.x");
        assert.deepEqual(fn.Properties.Architectures, ["arm64"]);
        assert.ok(fn.Properties.LoggingConfig.LogGroup.Ref, "own log group");
        assert.equal(fn.Properties.Environment.Variables[ENV.tableName].Ref, main.stack.getLogicalId(main.cairn.table.node.defaultChild as never));
      }
      main.template.resourceCountIs("AWS::Logs::LogGroup", 15);
      main.template.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
      for (const role of Object.values<Json>(main.template.findResources("AWS::IAM::Role"))) {
        assert.equal(role.Properties.ManagedPolicyArns, undefined, "no managed policies");
      }
    });

    it("bundles every function with the local esbuild into one ESM file", () => {
      const assets = JSON.parse(readFileSync(path.join(main.outdir, "TestStack.assets.json"), "utf8"));
      const dirs = Object.values<Json>(assets.files).map((f) => f.source.path).filter((p: string) => p.startsWith("asset."));
      assert.equal(dirs.length, 15);
      for (const dir of dirs) assert.ok(existsSync(path.join(main.outdir, dir, "index.mjs")), `${dir}/index.mjs`);
      const workerKey: string = main.json.Resources[logicalId(main.stack, main.cairn.worker)].Properties.Code.S3Key;
      const worker = readFileSync(path.join(main.outdir, `asset.${workerKey.replace(/\.zip$/, "")}`, "index.mjs"), "utf8");
      assert.match(worker, /reserve/, "the worker bundle holds the example workflows");
    });

    it("keeps class names in the minified bundles (error names are class names)", () => {
      const bundleOf = (fn: { node: { defaultChild?: unknown } }) => {
        const key: string = main.json.Resources[logicalId(main.stack, fn)].Properties.Code.S3Key;
        return readFileSync(path.join(main.outdir, `asset.${key.replace(/\.zip$/, "")}`, "index.mjs"), "utf8");
      };
      // esbuild's keepNames pins each class's name where minification renames it.
      assert.match(bundleOf(main.cairn.controlFunctions.status), /"WorkflowNotFoundError"/);
      assert.match(bundleOf(main.cairn.worker), /"UnknownWorkflowError"/);
      assert.throws(
        () => new CairnWorkflows(new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "S"), "Cairn", { workerEntry: WORKER_ENTRY, bundling: { keepNames: false } }),
        /bundling.keepNames cannot be turned off/,
      );
    });

    it("gives the worker its settings and Cairn's environment variables", () => {
      main.template.hasResourceProperties("AWS::Lambda::Function", {
        Description: Match.stringLikeRegexp("step worker"),
        Timeout: 60,
        MemorySize: CAIRN_DEFAULTS.workerMemorySize,
        Environment: {
          Variables: Match.objectLike({
            [ENV.tableName]: Match.anyValue(),
            [ENV.queueUrl]: Match.anyValue(),
            [ENV.deadLetterQueueUrl]: Match.anyValue(),
            [ENV.visibilityTimeoutSeconds]: "360",
            [ENV.retentionDays]: "30",
          }),
        },
      });
      variant.template.hasResourceProperties("AWS::Lambda::Function", {
        Description: Match.stringLikeRegexp("step worker"),
        Timeout: 120,
        MemorySize: 2048,
        Environment: { Variables: Match.objectLike({ PAYMENTS_URL: "https://payments.example", [ENV.visibilityTimeoutSeconds]: "720", [ENV.retentionDays]: "7" }) },
      });
    });

    it("feeds the worker from the work queue with partial batch responses, batch size and max concurrency", () => {
      const queueId = main.stack.getLogicalId(main.cairn.queue.node.defaultChild as never);
      main.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        EventSourceArn: { "Fn::GetAtt": [queueId, "Arn"] },
        FunctionName: { Ref: logicalId(main.stack, main.cairn.worker) },
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        BatchSize: 10,
        ScalingConfig: { MaximumConcurrency: 10 },
      });
      variant.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        FunctionName: { Ref: logicalId(variant.stack, variant.cairn.worker) },
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        BatchSize: 5,
        ScalingConfig: { MaximumConcurrency: 50 },
      });
    });

    it("feeds the dead-letter handler from the dead-letter queue", () => {
      const dlqId = main.stack.getLogicalId(main.cairn.deadLetterQueue.node.defaultChild as never);
      main.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        EventSourceArn: { "Fn::GetAtt": [dlqId, "Arn"] },
        FunctionName: { Ref: logicalId(main.stack, main.cairn.deadLetterHandler) },
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      });
      main.template.resourceCountIs("AWS::Lambda::EventSourceMapping", 3);
      // The ids SqsEventSource gave them: an upgrade updates the mappings in place rather than replacing them.
      const ids = Object.keys(main.template.findResources("AWS::Lambda::EventSourceMapping"))
        .filter((id) => id.includes("SqsEventSource"))
        .sort();
      assert.equal(ids.length, 2);
      assert.match(ids[0]!, /^CairnDeadLetterHandlerSqsEventSourceTestStackCairnDeadLetterQueue[0-9A-F]{16}$/);
      assert.match(ids[1]!, /^CairnWorkerSqsEventSourceTestStackCairnWorkQueue[0-9A-F]{16}$/);
    });

    it("tells the dead-letter handler the work queue's maxReceiveCount", () => {
      for (const [b, count] of [
        [main, CAIRN_DEFAULTS.maxReceiveCount],
        [variant, 8],
      ] as const) {
        const env = b.json.Resources[logicalId(b.stack, b.cairn.deadLetterHandler)].Properties.Environment.Variables;
        assert.equal(env[ENV.maxReceiveCount], String(count));
      }
    });

    it("feeds the reaper the table's stream, filtered on TTL deletions of workflow records, with partial batch responses", () => {
      const tableId = main.stack.getLogicalId(main.cairn.table.node.defaultChild as never);
      const mappings = Object.values<Json>(main.template.findResources("AWS::Lambda::EventSourceMapping")).filter(
        (m) => m.Properties.FunctionName.Ref === logicalId(main.stack, main.cairn.reaper),
      );
      assert.equal(mappings.length, 1);
      const props = mappings[0].Properties;
      assert.deepEqual(props.EventSourceArn, { "Fn::GetAtt": [tableId, "StreamArn"] });
      assert.deepEqual(props.FunctionResponseTypes, ["ReportBatchItemFailures"]);
      assert.equal(props.StartingPosition, "TRIM_HORIZON");
      assert.equal(props.BisectBatchOnFunctionError, true);
      assert.deepEqual(
        props.FilterCriteria.Filters.map((f: Json) => JSON.parse(f.Pattern)),
        [
          {
            eventName: ["REMOVE"],
            userIdentity: { type: ["Service"], principalId: ["dynamodb.amazonaws.com"] },
            dynamodb: { Keys: { sk: { S: ["#WF"] } } },
          },
        ],
      );
      // It needs the table's name only.
      const env = main.json.Resources[logicalId(main.stack, main.cairn.reaper)].Properties.Environment.Variables;
      assert.deepEqual(Object.keys(env).sort(), [ENV.tableName, "NODE_OPTIONS"]);
    });

    it("tells the start function the workflow names it may start, when given", () => {
      const startOf = (b: Built) => b.json.Resources[logicalId(b.stack, b.cairn.controlFunctions.start)].Properties.Environment.Variables;
      assert.equal(startOf(variant).CAIRN_WORKFLOW_NAMES, "order,refund");
      assert.equal(startOf(main).CAIRN_WORKFLOW_NAMES, undefined);
      const statusOf = variant.json.Resources[logicalId(variant.stack, variant.cairn.controlFunctions.status)].Properties.Environment.Variables;
      assert.equal(statusOf.CAIRN_WORKFLOW_NAMES, undefined);
    });

    it("tells the functions that take queue options or show queues the queues' definitions, when given", () => {
      const envOf = (b: Built, op: OperationName) => b.json.Resources[logicalId(b.stack, b.cairn.controlFunctions[op])].Properties.Environment.Variables;
      for (const op of ["start", "resume", "fork", "queues", "queued"] as const) {
        assert.deepEqual(queuesFromEnv({ [ENV.queues]: envOf(variant, op)[ENV.queues] }), variantQueues, op);
        assert.equal(envOf(main, op)[ENV.queues], undefined, op);
      }
      for (const op of ["status", "cancel", "list"] as const) assert.equal(envOf(variant, op)[ENV.queues], undefined, op);
      const worker = variant.json.Resources[logicalId(variant.stack, variant.cairn.worker)].Properties.Environment.Variables;
      assert.equal(worker[ENV.queues], undefined, "the worker registers its queues in code");
    });

    it("builds one control function per operation", () => {
      assert.deepEqual(Object.keys(main.cairn.controlFunctions).sort(), [...OPERATIONS].sort());
      for (const op of OPERATIONS) {
        const fn = main.json.Resources[logicalId(main.stack, main.cairn.controlFunctions[op])].Properties;
        assert.equal(fn.Description, `Cairn control operation "${op}"`);
        assert.equal(fn.Handler, "index.handler");
        assert.equal(fn.Timeout, 30);
      }
    });
  });

  describe("IAM", () => {
    it("has no wildcard action and no wildcard resource in any policy", () => {
      for (const b of [main, variant]) {
        const policies = Object.entries<Json>(b.template.findResources("AWS::IAM::Policy"));
        assert.ok(policies.length >= 10);
        for (const [id, policy] of policies) {
          for (const s of policy.Properties.PolicyDocument.Statement) {
            for (const action of asList<string>(s.Action)) assert.ok(!action.includes("*"), `${id}: action ${action}`);
            for (const resource of asList<Json>(s.Resource)) {
              assert.ok(!JSON.stringify(resource).includes("*"), `${id}: resource ${JSON.stringify(resource)}`);
            }
            assert.equal(s.NotAction, undefined);
            assert.equal(s.NotResource, undefined);
          }
        }
      }
    });

    it("grants each function exactly the actions its code makes, each on its own table, index or queue", () => {
      const indexes = tableDefinition("x").GlobalSecondaryIndexes!.map((i) => i.IndexName!);
      // Reviewed against the code paths (infra/access.ts says which call needs what). Every
      // function also writes its own log group.
      const expected: Record<string, Record<string, string[]>> = {
        worker: {
          table: [
            "dynamodb:BatchGetItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
          ],
          workQueue: ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"],
        },
        deadLetterHandler: {
          table: ["dynamodb:Query", "dynamodb:UpdateItem"],
          workQueue: ["sqs:SendMessage"],
          deadLetterQueue: ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
        },
        start: { table: ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], workQueue: ["sqs:SendMessage"] },
        status: { table: ["dynamodb:Query"] },
        result: { table: ["dynamodb:Query"] },
        cancel: { table: ["dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:UpdateItem"], workQueue: ["sqs:SendMessage"] },
        resume: {
          table: ["dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
          workQueue: ["sqs:SendMessage"],
        },
        fork: { table: ["dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query"], workQueue: ["sqs:SendMessage"] },
        reaper: {
          table: ["dynamodb:DeleteItem", "dynamodb:Query"],
          stream: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
        },
        list: { table: ["dynamodb:BatchGetItem", "dynamodb:Query"], ...Object.fromEntries(indexes.map((i) => [`index ${i}`, ["dynamodb:Query"]])) },
        steps: { table: ["dynamodb:Query"] },
        send: { table: ["dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:Query"], workQueue: ["sqs:SendMessage"] },
        event: { table: ["dynamodb:GetItem", "dynamodb:Query"] },
        queues: { table: ["dynamodb:GetItem", "dynamodb:Query"] },
        queued: { table: ["dynamodb:BatchGetItem", "dynamodb:Query"] },
      };
      const functions = { worker: main.cairn.worker, deadLetterHandler: main.cairn.deadLetterHandler, reaper: main.cairn.reaper, ...main.cairn.controlFunctions };
      assert.deepEqual(Object.keys(functions).sort(), Object.keys(expected).sort());
      for (const [name, fn] of Object.entries(functions)) {
        const logs = { "own log group": ["logs:CreateLogStream", "logs:PutLogEvents"] };
        assert.deepEqual(grantsOf(main, fn), { ...logs, ...expected[name] }, name);
      }
    });

    it("lets only status, result, list, steps, event, queues and queued be granted as read-only: every operation but the writes", () => {
      assert.deepEqual([...READ_OPERATIONS].sort(), ["event", "list", "queued", "queues", "result", "status", "steps"]);
      assert.deepEqual([...READ_OPERATIONS, ...WRITE_OPERATIONS].sort(), [...OPERATIONS].sort());
    });

    it("grants use of the customer-managed key with named KMS actions on the key's ARN: decrypt to read, encrypt too to write or send", () => {
      const decrypt = ["kms:Decrypt", "kms:DescribeKey"];
      const encrypt = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"];
      const c = variant.cairn;
      const keyOf = (fn: { node: { defaultChild?: unknown } }) => grantsOf(variant, fn).key;
      for (const op of READ_OPERATIONS) assert.deepEqual(keyOf(c.controlFunctions[op]), decrypt, op);
      for (const op of WRITE_OPERATIONS) assert.deepEqual(keyOf(c.controlFunctions[op]), encrypt, op);
      assert.deepEqual(keyOf(c.worker), encrypt);
      // It consumes the key-encrypted dead-letter queue and updates the table.
      assert.deepEqual(keyOf(c.deadLetterHandler), encrypt);
      // It reads the stream and deletes items.
      assert.deepEqual(keyOf(c.reaper), encrypt);
      // The table and queue grants are the same as with AWS-managed keys.
      const { key: _k, ...status } = grantsOf(variant, c.controlFunctions.status);
      const { key: _m, ...mainStatus } = grantsOf(main, main.cairn.controlFunctions.status);
      assert.deepEqual(Object.keys(status).sort(), Object.keys(mainStatus).sort());
    });

    it("grantRead lets a principal invoke only the read-only functions; grantOperate all twelve", () => {
      const statementsOfRole = (name: string) => {
        const roleId = Object.keys(main.template.findResources("AWS::IAM::Role")).find((id) => id.startsWith(name))!;
        return Object.values<Json>(main.json.Resources)
          .filter((r) => r.Type === "AWS::IAM::Policy" && r.Properties.Roles.some((ref: Json) => ref.Ref === roleId))
          .flatMap((r) => r.Properties.PolicyDocument.Statement);
      };
      const invoked = (statements: Json[]) =>
        statements
          .flatMap((s) => {
            assert.deepEqual(asList(s.Action), ["lambda:InvokeFunction"]);
            return asList<Json>(s.Resource).map((r) => r["Fn::GetAtt"][0]);
          })
          .sort();
      const ids = (ops: readonly OperationName[]) => ops.map((op) => logicalId(main.stack, main.cairn.controlFunctions[op])).sort();
      assert.deepEqual(invoked(statementsOfRole("Reader")), ids(READ_OPERATIONS));
      assert.deepEqual(invoked(statementsOfRole("Operator")), ids(OPERATIONS));
      assert.equal(OPERATIONS.length, 12);
    });
  });

  describe("admission schedule", () => {
    const rulesOf = (b: { template: Template }) => Object.entries<Json>(b.template.findResources("AWS::Events::Rule"));
    /** Statements of the work queue's resource policy that name EventBridge. */
    const eventBridgeStatements = (b: Built) =>
      Object.values<Json>(b.template.findResources("AWS::SQS::QueuePolicy"))
        .filter((p) => p.Properties.Queues.some((q: Json) => q.Ref === b.stack.getLogicalId(b.cairn.queue.node.defaultChild as never)))
        .flatMap((p) => p.Properties.PolicyDocument.Statement)
        .filter((s: Json) => s.Principal?.Service === "events.amazonaws.com");

    it("sends the work queue the admission message of every queue once a minute, as the message body itself", () => {
      const rules = rulesOf(main);
      assert.equal(rules.length, 1);
      const [ruleId, rule] = rules[0]!;
      assert.equal(rule.Properties.ScheduleExpression, "rate(1 minute)");
      assert.equal(rule.Properties.State, "ENABLED");
      assert.equal(rule.Properties.Targets.length, 1);
      const [target] = rule.Properties.Targets;
      assert.deepEqual(target.Arn, { "Fn::GetAtt": [main.stack.getLogicalId(main.cairn.queue.node.defaultChild as never), "Arn"] });
      // EventBridge delivers Input as the SQS message body: it is the worker's admission message, for every queue.
      assert.equal(target.Input, encodeAdmitMessage({}));
      assert.ok(isAdmitMessage(target.Input));
      assert.deepEqual(decodeAdmitMessage(target.Input), {});
      assert.equal(target.RoleArn, undefined, "SQS targets are authorized by the queue's policy");
      assert.equal(ruleId, main.stack.getLogicalId(main.cairn.admissionRule!.node.defaultChild as never));
      assert.equal(rulesOf(variant)[0]![1].Properties.ScheduleExpression, "rate(5 minutes)");
    });

    it("lets EventBridge send to the work queue for this rule only, and nothing else", () => {
      for (const b of [main, variant]) {
        const ruleId = b.stack.getLogicalId(b.cairn.admissionRule!.node.defaultChild as never);
        assert.deepEqual(eventBridgeStatements(b), [
          {
            Action: "sqs:SendMessage",
            Condition: { ArnEquals: { "aws:SourceArn": { "Fn::GetAtt": [ruleId, "Arn"] } } },
            Effect: "Allow",
            Principal: { Service: "events.amazonaws.com" },
            Resource: { "Fn::GetAtt": [b.stack.getLogicalId(b.cairn.queue.node.defaultChild as never), "Arn"] },
          },
        ]);
      }
      const dlqPolicies = Object.values<Json>(main.template.findResources("AWS::SQS::QueuePolicy")).filter((p) =>
        p.Properties.Queues.some((q: Json) => q.Ref === main.stack.getLogicalId(main.cairn.deadLetterQueue.node.defaultChild as never)),
      );
      assert.ok(!JSON.stringify(dlqPolicies).includes("events.amazonaws.com"));
    });

    it("lets EventBridge use a customer-managed key of the queue as SQS needs to encrypt its message", () => {
      const keyPolicy = variant.json.Resources[variant.stack.getLogicalId(key.node.defaultChild as kms.CfnKey)].Properties.KeyPolicy;
      const forEventBridge = keyPolicy.Statement.filter((s: Json) => s.Principal?.Service === "events.amazonaws.com");
      assert.deepEqual(forEventBridge, [{ Action: ["kms:GenerateDataKey", "kms:Decrypt"], Effect: "Allow", Principal: { Service: "events.amazonaws.com" }, Resource: "*" }]);
    });

    it("warns that an imported key's policy must let EventBridge use it", () => {
      const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
      const stack = new Stack(app, "Imported", { env: { account: "123456789012", region: "eu-west-1" } });
      const imported = kms.Key.fromKeyArn(stack, "Key", "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555");
      new CairnWorkflows(stack, "Cairn", { workerEntry: WORKER_ENTRY, encryptionKey: imported });
      const warnings = Annotations.fromStack(stack).findWarning("*", Match.stringLikeRegexp("events.amazonaws.com"));
      assert.equal(warnings.length, 1);
      assert.match(String(warnings[0]!.entry.data), /kms:GenerateDataKey, kms:Decrypt/);
    });

    it("is left out with admissionSchedule: false", () => {
      const none = build({ admissionSchedule: false }, { bundle: false });
      try {
        assert.equal(rulesOf(none).length, 0);
        assert.equal(none.cairn.admissionRule, undefined);
        assert.deepEqual(eventBridgeStatements(none), []);
      } finally {
        rmSync(none.outdir, { recursive: true, force: true });
      }
    });
  });

  describe("alarms", () => {
    it("alarms when the dead-letter queue is not empty, on worker errors and on the oldest message's age", () => {
      const dlqName = { "Fn::GetAtt": [main.stack.getLogicalId(main.cairn.deadLetterQueue.node.defaultChild as never), "QueueName"] };
      main.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [{ Name: "QueueName", Value: dlqName }],
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
      });
      main.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        Namespace: "AWS/Lambda",
        MetricName: "Errors",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: logicalId(main.stack, main.cairn.worker) } }],
        Threshold: 1,
      });
      main.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        Namespace: "AWS/SQS",
        MetricName: "ApproximateAgeOfOldestMessage",
        Threshold: 900,
      });
      main.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        MetricName: "Invocations",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: logicalId(main.stack, main.cairn.deadLetterHandler) } }],
      });
      main.template.resourceCountIs("AWS::CloudWatch::Alarm", 4);
    });

    it("sends every alarm to the given actions", () => {
      const topicRef = { Ref: variant.stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) };
      for (const alarm of Object.values<Json>(variant.template.findResources("AWS::CloudWatch::Alarm"))) {
        assert.deepEqual(alarm.Properties.AlarmActions, [topicRef]);
        assert.deepEqual(alarm.Properties.OKActions, [topicRef]);
      }
    });
  });

  describe("outputs", () => {
    it("names the table, queues, worker, reaper and each control function", () => {
      const expected = ["TableName", "QueueUrl", "DeadLetterQueueUrl", "WorkerFunctionName", "ReaperFunctionName", ...OPERATIONS.map((op) => `${pascal(op)}FunctionName`)];
      assert.deepEqual(Object.keys(main.json.Outputs).sort(), [...expected].sort());
      assert.deepEqual(main.json.Outputs.StartFunctionName.Value, { Ref: logicalId(main.stack, main.cairn.controlFunctions.start) });
      assert.deepEqual(main.json.Outputs.SendFunctionName.Value, { Ref: logicalId(main.stack, main.cairn.controlFunctions.send) });
      assert.deepEqual(main.json.Outputs.EventFunctionName.Value, { Ref: logicalId(main.stack, main.cairn.controlFunctions.event) });
      assert.deepEqual(main.json.Outputs.QueuesFunctionName.Value, { Ref: logicalId(main.stack, main.cairn.controlFunctions.queues) });
      assert.deepEqual(main.json.Outputs.QueuedFunctionName.Value, { Ref: logicalId(main.stack, main.cairn.controlFunctions.queued) });
      assert.deepEqual(Object.keys(variant.json.Outputs).sort(), expected.map((n) => `Orders${n}`).sort());
    });
  });

  describe("props validation", () => {
    const attempt = (props: Partial<CairnWorkflowsProps>) => () => {
      const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
      new CairnWorkflows(new Stack(app, "S"), "Cairn", { workerEntry: WORKER_ENTRY, ...props } as CairnWorkflowsProps);
    };

    it("requires workerEntry, and a file that exists", () => {
      assert.throws(attempt({ workerEntry: undefined as never }), /workerEntry is required/);
      assert.throws(attempt({ workerEntry: "functions/nope.ts" }), /workerEntry "functions\/nope.ts" does not exist/);
    });

    it("refuses a visibility timeout under 6 × the worker timeout", () => {
      assert.throws(
        attempt({ workerTimeout: Duration.minutes(1), visibilityTimeout: Duration.minutes(5) }),
        /visibilityTimeout \(300 s\) must be at least 6 × workerTimeout \(360 s\)/,
      );
    });

    it("refuses out-of-range numbers and durations", () => {
      const cases: [Partial<CairnWorkflowsProps>, RegExp][] = [
        [{ workerTimeout: Duration.minutes(16) }, /workerTimeout must be between 1 s and 900 s/],
        [{ workerMemorySize: 64 }, /workerMemorySize must be an integer between 128 and 10240/],
        [{ batchSize: 0 }, /batchSize must be an integer between 1 and 10000/],
        [{ batchSize: 50 }, /batchSize 50 needs maxBatchingWindow/],
        [{ maxConcurrency: 1 }, /maxConcurrency must be an integer between 2 and 1000/],
        [{ maxReceiveCount: 0 }, /maxReceiveCount must be an integer between 1 and 1000/],
        [{ retentionDays: 1.5 }, /retentionDays must be an integer/],
        [{ workerTimeout: 60 as never }, /workerTimeout must be a Duration/],
        [{ workerEnvironment: { CAIRN_TABLE_NAME: "x" } }, /workerEnvironment may not set CAIRN_TABLE_NAME/],
        [{ outputPrefix: "my-prefix" }, /outputPrefix must be letters and digits only/],
        [{ bundling: { forceDockerBundling: true } }, /forceDockerBundling is not supported/],
        [{ admissionSchedule: Duration.seconds(30) }, /admissionSchedule must be a whole number of minutes, at least 1/],
        [{ admissionSchedule: Duration.seconds(90) }, /admissionSchedule must be a whole number of minutes/],
        [{ admissionSchedule: 60 as never }, /admissionSchedule must be a Duration \(e.g. Duration.minutes\(1\)\) or false/],
        [{ queues: [defineQueue("q"), defineQueue("q", { concurrency: 2 })] }, /queues names "q" twice/],
        [{ queues: [{ name: "bad name" } as never] }, /queues: Invalid queue name "bad name"/],
        [{ queues: [{ name: "q", concurrency: 0 } as never] }, /queues: Queue "q": concurrency must be an integer >= 1/],
        [{ queues: Array.from({ length: 40 }, (_, i) => defineQueue(`queue-with-a-long-name-${i}`, { concurrency: 10 })) }, /queues take \d+ characters as JSON, more than the 2048/],
      ];
      for (const [props, message] of cases) assert.throws(attempt(props), message, JSON.stringify(props));
    });

    it("reports every problem at once", () => {
      assert.throws(attempt({ batchSize: 0, maxConcurrency: 0 }), (err: Error) => /batchSize/.test(err.message) && /maxConcurrency/.test(err.message));
    });

    it("accepts a batch above 10 with a batching window", () => {
      assert.doesNotThrow(attempt({ batchSize: 100, maxBatchingWindow: Duration.seconds(5) }));
    });
  });
});
