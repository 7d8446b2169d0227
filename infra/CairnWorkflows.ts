import { Annotations, CfnOutput, Duration, Names } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ENV } from "../src/config.js";
import { encodeQueues } from "../src/queues/queuesEnv.js";
import { OPERATIONS, type OperationName } from "../src/control/operations.js";
import { encodeAdmitMessage } from "../src/queue/messages.js";
import { WORKFLOW_RECORD_SK } from "../src/store/records.js";
import { tableDefinition, TTL_ATTRIBUTE } from "../src/store/tableSchema.js";
import {
  EVENTBRIDGE_KEY_ACTIONS,
  FUNCTION_ACCESS,
  isReadOnly,
  isTableWrite,
  KEY_DECRYPT_ACTIONS,
  KEY_ENCRYPT_ACTIONS,
  type FunctionAccess,
} from "./access.js";
import { CAIRN_DEFAULTS } from "./defaults.js";
import { resolveProps, type CairnWorkflowsProps, type ResolvedProps } from "./props.js";

/** The control operations that only read; `grantRead` lets a principal invoke these. */
export const READ_OPERATIONS: readonly OperationName[] = OPERATIONS.filter((op) => isReadOnly(FUNCTION_ACCESS[op]));

/** The control operations that use the queues' definitions (CAIRN_QUEUES), when the construct is given them. */
const QUEUE_AWARE_OPERATIONS: readonly OperationName[] = ["start", "resume", "fork", "queues", "queued"];

export interface CairnAlarms {
  /** Messages wait on the dead-letter queue (its handler is failing). */
  readonly deadLetterQueueNotEmpty: cloudwatch.Alarm;
  /** Worker invocations failed as a whole (a failed step is not an error). */
  readonly workerErrors: cloudwatch.Alarm;
  /** The oldest work message has waited too long (the worker lags or is stuck). */
  readonly oldestMessageAge: cloudwatch.Alarm;
  /** A workflow went MAX_RECOVERY_ATTEMPTS_EXCEEDED: the dead-letter handler ran. */
  readonly workflowsDeadLettered: cloudwatch.Alarm;
}

/**
 * Cairn on AWS: the workflow table, the work queue and its dead-letter queue,
 * the step worker with its SQS event source, the dead-letter handler, one
 * control function per operation, least-privilege IAM, encryption and alarms.
 *
 * @example
 * const cairn = new CairnWorkflows(this, "Cairn", { workerEntry: "src/worker.ts" });
 * cairn.grantOperate(opsRole);
 */
export class CairnWorkflows extends Construct {
  readonly table: dynamodb.Table;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly worker: nodejs.NodejsFunction;
  readonly deadLetterHandler: nodejs.NodejsFunction;
  /**
   * Deletes the rest of a workflow whose finished record DynamoDB's TTL deleted: the
   * table's stream invokes it, filtered on TTL deletions of workflow records.
   */
  readonly reaper: nodejs.NodejsFunction;
  /** One function per control operation. */
  readonly controlFunctions: Readonly<Record<OperationName, nodejs.NodejsFunction>>;
  readonly alarms: CairnAlarms;
  /** The customer-managed key, when one was given. */
  readonly encryptionKey?: kms.IKey;
  /**
   * The schedule of the periodic admission pass of workflow queues: it sends the
   * work queue an admission message (absent with `admissionSchedule: false`).
   */
  readonly admissionRule?: events.Rule;

  private readonly settings: ResolvedProps;

  constructor(scope: Construct, id: string, props: CairnWorkflowsProps) {
    super(scope, id);
    const settings = (this.settings = resolveProps(props));
    if (settings.encryptionKey) this.encryptionKey = settings.encryptionKey;

    this.table = this.createTable();
    this.deadLetterQueue = this.createQueue("DeadLetterQueue", {
      retentionPeriod: CAIRN_DEFAULTS.deadLetterRetention,
      // The dead-letter handler consumes it: AWS's advice for an SQS event source applies here too.
      visibilityTimeout: Duration.seconds(CAIRN_DEFAULTS.deadLetterTimeout.toSeconds() * CAIRN_DEFAULTS.visibilityTimeoutFactor),
    });
    this.queue = this.createQueue("WorkQueue", {
      visibilityTimeout: settings.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
    });

    const environment = {
      [ENV.tableName]: this.table.tableName,
      [ENV.queueUrl]: this.queue.queueUrl,
      [ENV.deadLetterQueueUrl]: this.deadLetterQueue.queueUrl,
      [ENV.visibilityTimeoutSeconds]: String(settings.visibilityTimeout.toSeconds()),
      [ENV.retentionDays]: String(settings.retentionDays),
      // The bundles ship source maps: stack traces in the logs point at the TypeScript.
      NODE_OPTIONS: "--enable-source-maps",
    };

    this.worker = this.createFunction("Worker", {
      entry: path.resolve(settings.workerEntry),
      handler: settings.workerHandler,
      timeout: settings.workerTimeout,
      memorySize: settings.workerMemorySize,
      environment: { ...settings.workerEnvironment, ...environment },
      description: "Cairn step worker: runs one workflow step per SQS message",
    });
    this.addQueueEventSource(this.worker, this.queue, {
      batchSize: settings.batchSize,
      maxConcurrency: settings.maxConcurrency,
      ...(settings.maxBatchingWindow ? { maxBatchingWindow: settings.maxBatchingWindow } : {}),
    });
    this.grantAccess(this.worker, FUNCTION_ACCESS.worker);

    this.deadLetterHandler = this.createFunction("DeadLetterHandler", {
      entry: cairnEntry("deadLetters"),
      timeout: CAIRN_DEFAULTS.deadLetterTimeout,
      memorySize: settings.controlMemorySize,
      // It quotes the work queue's maxReceiveCount in the reason it records.
      environment: { ...environment, [ENV.maxReceiveCount]: String(settings.maxReceiveCount) },
      description: "Cairn dead-letter handler: marks workflows MAX_RECOVERY_ATTEMPTS_EXCEEDED",
    });
    this.addQueueEventSource(this.deadLetterHandler, this.deadLetterQueue, { batchSize: 10 });
    this.grantAccess(this.deadLetterHandler, FUNCTION_ACCESS.deadLetterHandler);

    this.reaper = this.createFunction("Reaper", {
      entry: cairnEntry("reaper"),
      timeout: CAIRN_DEFAULTS.reaperTimeout,
      memorySize: settings.controlMemorySize,
      environment: { [ENV.tableName]: this.table.tableName, NODE_OPTIONS: environment.NODE_OPTIONS },
      description: "Cairn reaper: deletes the steps and input of a workflow whose finished record the table's TTL deleted",
    });
    this.addTtlDeletionSource(this.reaper);
    this.grantAccess(this.reaper, FUNCTION_ACCESS.reaper);

    const controlFunctions = {} as Record<OperationName, nodejs.NodejsFunction>;
    for (const operation of OPERATIONS) {
      const fn = this.createFunction(`${pascal(operation)}Function`, {
        entry: cairnEntry(`control/${operation}`),
        timeout: settings.controlTimeout,
        memorySize: settings.controlMemorySize,
        environment: {
          ...environment,
          ...(operation === "start" && settings.workflowNames ? { [ENV.workflowNames]: settings.workflowNames.join(",") } : {}),
          ...(QUEUE_AWARE_OPERATIONS.includes(operation) && settings.queues ? { [ENV.queues]: encodeQueues(settings.queues) } : {}),
        },
        description: `Cairn control operation "${operation}"`,
      });
      this.grantAccess(fn, FUNCTION_ACCESS[operation]);
      controlFunctions[operation] = fn;
    }
    this.controlFunctions = Object.freeze(controlFunctions);
    if (settings.admissionSchedule !== false) this.admissionRule = this.createAdmissionSchedule(settings.admissionSchedule);

    this.alarms = this.createAlarms();
    this.createOutputs();
  }

  /** Let `grantee` invoke the read-only control functions (status, result, list, steps, event, queues, queued). */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.grantInvoke(grantee, READ_OPERATIONS);
  }

  /** Let `grantee` invoke every control function: read, and also start, cancel, resume, fork and send. */
  grantOperate(grantee: iam.IGrantable): iam.Grant {
    return this.grantInvoke(grantee, OPERATIONS);
  }

  private grantInvoke(grantee: iam.IGrantable, operations: readonly OperationName[]): iam.Grant {
    // The function ARNs only (not `<arn>:*`): callers invoke $LATEST, never a pinned version.
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ["lambda:InvokeFunction"],
      resourceArns: operations.map((op) => this.controlFunctions[op].functionArn),
    });
  }

  private createTable(): dynamodb.Table {
    // Declared from the store's own definition, so the deployed table cannot drift from what the code expects.
    const def = tableDefinition("cairn");
    const attributeType = (name: string): dynamodb.AttributeType => {
      const type = def.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
      if (type !== "S" && type !== "N" && type !== "B") throw new Error(`CairnWorkflows: attribute ${name} has no type in tableDefinition()`);
      return type === "S" ? dynamodb.AttributeType.STRING : type === "N" ? dynamodb.AttributeType.NUMBER : dynamodb.AttributeType.BINARY;
    };
    const keys = (schema: readonly { AttributeName?: string | undefined; KeyType?: string | undefined }[] | undefined) => {
      const key = (kind: string) => {
        const name = schema?.find((k) => k.KeyType === kind)?.AttributeName;
        return name === undefined ? undefined : { name, type: attributeType(name) };
      };
      const partitionKey = key("HASH");
      if (!partitionKey) throw new Error("CairnWorkflows: tableDefinition() has a key schema without a partition key");
      const sortKey = key("RANGE");
      return { partitionKey, ...(sortKey ? { sortKey } : {}) };
    };
    const key = this.settings.encryptionKey;
    const table = new dynamodb.Table(this, "Table", {
      ...keys(def.KeySchema),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(key
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: key }
        : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
      // Only finished workflow records carry the TTL; the stream hands each record the TTL
      // deletes to the reaper, which deletes the rest of its workflow.
      timeToLiveAttribute: TTL_ATTRIBUTE,
      stream: dynamodb.StreamViewType.OLD_IMAGE,
      removalPolicy: this.settings.removalPolicy,
    });
    for (const index of def.GlobalSecondaryIndexes ?? []) {
      const projection = index.Projection?.ProjectionType ?? "ALL";
      table.addGlobalSecondaryIndex({
        indexName: index.IndexName!,
        ...keys(index.KeySchema),
        projectionType: dynamodb.ProjectionType[projection as keyof typeof dynamodb.ProjectionType],
        ...(projection === "INCLUDE" ? { nonKeyAttributes: index.Projection?.NonKeyAttributes ?? [] } : {}),
      });
    }
    return table;
  }

  private createQueue(id: string, props: Partial<sqs.QueueProps>): sqs.Queue {
    const key = this.settings.encryptionKey;
    return new sqs.Queue(this, id, {
      ...props,
      ...(key ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: key } : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
      enforceSSL: true,
    });
  }

  /**
   * A Node.js function bundled by the local esbuild, with its own log group and
   * a role that can write to it and nothing else (no managed policies).
   */
  private createFunction(
    id: string,
    props: Pick<nodejs.NodejsFunctionProps, "entry" | "timeout" | "memorySize" | "environment" | "description"> & { handler?: string },
  ): nodejs.NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: this.settings.logRetention,
      removalPolicy: this.settings.removalPolicy,
    });
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `Cairn ${id}: writes its own logs, plus the grants it is given`,
    });
    // Only its own log group; CreateLogGroup is not needed since the group exists.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [logGroup.logGroupArn] }),
    );
    return new nodejs.NodejsFunction(this, id, {
      ...props,
      handler: props.handler ?? "handler",
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      role,
      logGroup,
      bundling: this.bundling(),
      ...(this.settings.depsLockFilePath ? { depsLockFilePath: this.settings.depsLockFilePath } : {}),
    });
  }

  /** One esbuild configuration for every function. */
  private bundling(): nodejs.BundlingOptions {
    return {
      format: nodejs.OutputFormat.ESM,
      target: "node22",
      mainFields: ["module", "main"],
      minify: true,
      sourceMap: true,
      // Some CommonJS dependencies call require(); give the ESM bundle one.
      banner: "import { createRequire as __cairnRequire } from 'node:module'; const require = __cairnRequire(import.meta.url);",
      ...this.settings.bundling,
      // Class names survive minification: Cairn's errors are named after their class
      // (`WorkflowNotFoundError` in a control answer, a recorded step error's name),
      // and so are the user's error classes that the worker records.
      keepNames: true,
      forceDockerBundling: false,
    };
  }

  /**
   * An EventBridge rule that sends the work queue the admission message of every
   * queue (`{"kind":"cairn.admit","v":1}`, the body as is) on `rate`: the worker
   * runs a pass over the queues it registers (a worker without queues acknowledges
   * it and does nothing).
   *
   * The grants are written here rather than by aws-events-targets' SqsQueue, which
   * also grants GetQueueAttributes and GetQueueUrl (EventBridge only sends) and, for a
   * queue under a customer-managed key, drops the condition naming the rule (so any
   * rule, of any account, could send work messages) and grants EventBridge
   * Encrypt, ReEncrypt* and GenerateDataKey* on the key. Here: the queue's policy lets
   * EventBridge send to it for this rule only (aws:SourceArn); a customer-managed key's
   * policy lets EventBridge use it as SQS needs to encrypt the message it sends
   * (kms:GenerateDataKey and kms:Decrypt, as the SQS and EventBridge guides say). The
   * key statement names no rule: the key policy cannot reference the rule (the rule
   * targets the queue, which is encrypted with the key: a cycle), and only this rule
   * may send to the queue anyway.
   */
  private createAdmissionSchedule(rate: Duration): events.Rule {
    const rule = new events.Rule(this, "AdmissionSchedule", {
      description: "Cairn: periodic admission pass of the workflow queues (a message to the work queue)",
      schedule: events.Schedule.rate(rate),
    });
    const queueArn = this.queue.queueArn;
    const body = encodeAdmitMessage({});
    // fromObject: EventBridge sends the Input itself as the message body (fromText would send a JSON string literal).
    rule.addTarget({ bind: () => ({ arn: queueArn, input: events.RuleTargetInput.fromObject(JSON.parse(body)) }) });
    const eventBridge = new iam.ServicePrincipal("events.amazonaws.com");
    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({ principals: [eventBridge], actions: ["sqs:SendMessage"], resources: [queueArn], conditions: { ArnEquals: { "aws:SourceArn": rule.ruleArn } } }),
    );
    const key = this.settings.encryptionKey;
    if (key) {
      const { statementAdded } = key.addToResourcePolicy(
        new iam.PolicyStatement({ principals: [eventBridge], actions: [...EVENTBRIDGE_KEY_ACTIONS], resources: ["*"] }),
      );
      if (!statementAdded) {
        Annotations.of(this).addWarningV2(
          "cairn:admissionScheduleKey",
          `The encryption key is imported, so its policy cannot be changed here: let the service principal events.amazonaws.com use it (${EVENTBRIDGE_KEY_ACTIONS.join(", ")}), or the admission schedule's messages are not delivered`,
        );
      }
    }
    return rule;
  }

  /**
   * The SQS event source of `fn`, with partial batch responses. Its mapping polls
   * with the function's role; what that needs is granted with the rest of the
   * function's access (FUNCTION_ACCESS), not the broader `grantConsumeMessages`.
   */
  private addQueueEventSource(
    fn: lambda.Function,
    queue: sqs.IQueue,
    options: Pick<lambda.EventSourceMappingOptions, "batchSize" | "maxConcurrency" | "maxBatchingWindow">,
  ): void {
    // The id SqsEventSource would give it, so the mapping's logical id is unchanged.
    fn.addEventSourceMapping(`SqsEventSource:${Names.nodeUniqueId(queue.node)}`, {
      ...options,
      eventSourceArn: queue.queueArn,
      reportBatchItemFailures: true,
    });
  }

  /**
   * The table's stream as the reaper's event source, filtered (before any invocation)
   * on what DynamoDB's TTL deletes, and of that on workflow records only: the input
   * and steps it then deletes itself, and every other change of the table, never
   * invoke it. Partial batch responses; a failed batch is split to isolate a record,
   * and retried until the stream drops it (24 hours): reaping is idempotent.
   */
  private addTtlDeletionSource(fn: lambda.Function): void {
    fn.addEventSourceMapping("TtlDeletions", {
      eventSourceArn: this.table.tableStreamArn!,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: CAIRN_DEFAULTS.reaperBatchSize,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      filters: [
        lambda.FilterCriteria.filter({
          eventName: lambda.FilterRule.isEqual("REMOVE"),
          userIdentity: { type: lambda.FilterRule.isEqual("Service"), principalId: lambda.FilterRule.isEqual("dynamodb.amazonaws.com") },
          dynamodb: { Keys: { sk: { S: lambda.FilterRule.isEqual(WORKFLOW_RECORD_SK) } } },
        }),
      ],
    });
  }

  /** Grant exactly the actions of `access` (infra/access.ts), each on its own resource, and the key uses they imply. */
  private grantAccess(fn: lambda.IFunction, access: FunctionAccess): void {
    const grant = (actions: readonly string[], resourceArns: string[]) => {
      if (actions.length > 0) iam.Grant.addToPrincipal({ grantee: fn, actions: [...actions], resourceArns });
    };
    const indexArns = (tableDefinition("cairn").GlobalSecondaryIndexes ?? []).map((index) => `${this.table.tableArn}/index/${index.IndexName}`);
    grant(access.table, [this.table.tableArn]);
    grant(access.indexes, indexArns);
    grant(access.workQueue, [this.queue.queueArn]);
    grant(access.deadLetterQueue, [this.deadLetterQueue.queueArn]);
    grant(access.stream, [this.table.tableStreamArn!]);

    // A customer-managed key: encrypt to write the table or send a message, decrypt to read or consume.
    // (Reading the stream of a table under the key decrypts too.)
    const tableActions = [...access.table, ...access.indexes];
    const queueActions = [...access.workQueue, ...access.deadLetterQueue];
    const writes = tableActions.some(isTableWrite) || queueActions.includes("sqs:SendMessage");
    if (writes) this.grantKey(fn, true);
    else if (tableActions.length > 0 || queueActions.length > 0 || access.stream.length > 0) this.grantKey(fn, false);
  }

  private grantKey(fn: lambda.IFunction, encrypt: boolean): void {
    const key = this.settings.encryptionKey;
    if (key) key.grant(fn, ...(encrypt ? KEY_ENCRYPT_ACTIONS : KEY_DECRYPT_ACTIONS));
  }

  private createAlarms(): CairnAlarms {
    const s = this.settings;
    const alarm = (
      id: string,
      metric: cloudwatch.Metric,
      props: Pick<cloudwatch.CreateAlarmOptions, "threshold" | "comparisonOperator"> & { alarmDescription: string },
    ) => {
      const created = metric.createAlarm(this, id, {
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...props,
      });
      for (const action of s.alarmActions) {
        created.addAlarmAction(action);
        created.addOkAction(action);
      }
      return created;
    };
    return {
      deadLetterQueueNotEmpty: alarm(
        "DeadLetterQueueNotEmptyAlarm",
        this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        {
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          alarmDescription: "Cairn: messages wait on the dead-letter queue; the dead-letter handler is failing to mark their workflows",
        },
      ),
      workerErrors: alarm("WorkerErrorsAlarm", this.worker.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }), {
        threshold: s.workerErrorsAlarmThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        alarmDescription: "Cairn: worker invocations failed (crashes or timeouts; failed steps are retried, not errors)",
      }),
      oldestMessageAge: alarm(
        "OldestMessageAgeAlarm",
        this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: "Maximum" }),
        {
          threshold: s.oldestMessageAgeAlarmThreshold.toSeconds(),
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          alarmDescription: "Cairn: the oldest work message has waited too long; workers lag behind or a message keeps failing",
        },
      ),
      workflowsDeadLettered: alarm(
        "WorkflowsDeadLetteredAlarm",
        this.deadLetterHandler.metricInvocations({ period: Duration.minutes(5), statistic: "Sum" }),
        {
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          alarmDescription: "Cairn: a work message went to the dead-letter queue; its workflow is MAX_RECOVERY_ATTEMPTS_EXCEEDED until resumed",
        },
      ),
    };
  }

  private createOutputs(): void {
    const output = (name: string, value: string, description: string) => {
      // Exact names (StartFunctionName, ...), which the CLI and scripts look up.
      new CfnOutput(this, name, { value, description }).overrideLogicalId(`${this.settings.outputPrefix}${name}`);
    };
    output("TableName", this.table.tableName, "Cairn workflow table");
    output("QueueUrl", this.queue.queueUrl, "Cairn work queue");
    output("DeadLetterQueueUrl", this.deadLetterQueue.queueUrl, "Cairn dead-letter queue");
    output("WorkerFunctionName", this.worker.functionName, "Cairn step worker");
    output("ReaperFunctionName", this.reaper.functionName, "Cairn reaper of expired workflows");
    for (const operation of OPERATIONS) {
      output(`${pascal(operation)}FunctionName`, this.controlFunctions[operation].functionName, `Cairn control function "${operation}"`);
    }
  }
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** A Lambda entry shipped with Cairn: the TypeScript source in the repository, the compiled file in the package. */
function cairnEntry(name: string): string {
  const functionsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "functions");
  for (const ext of [".ts", ".js"]) {
    const file = path.join(functionsDir, `${name}${ext}`);
    if (existsSync(file)) return file;
  }
  throw new Error(`CairnWorkflows: cannot find the Lambda entry functions/${name}(.ts|.js) under ${functionsDir}`);
}
