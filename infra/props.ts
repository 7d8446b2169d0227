import { Duration, RemovalPolicy, Token } from "aws-cdk-lib";
import type { IAlarmAction } from "aws-cdk-lib/aws-cloudwatch";
import type { IKey } from "aws-cdk-lib/aws-kms";
import type { BundlingOptions } from "aws-cdk-lib/aws-lambda-nodejs";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import { existsSync } from "node:fs";
import path from "node:path";
import { encodeQueues } from "../src/queues/queuesEnv.js";
import { defineQueue, type QueueDefinition } from "../src/queues/defineQueue.js";
import { CAIRN_DEFAULTS, CAIRN_LIMITS } from "./defaults.js";

export interface CairnWorkflowsProps {
  /**
   * Path to your worker module, which registers your workflows:
   * `export const handler = createWorker({ workflows })`. Relative paths are
   * resolved from the current directory (where `cdk` runs).
   */
  readonly workerEntry: string;
  /**
   * The export of `workerEntry` that is the handler.
   * @default "handler"
   */
  readonly workerHandler?: string;
  /**
   * The worker's function timeout: the longest one step may run (a longer step
   * extends its message's visibility while it runs, up to this limit).
   * @default Duration.seconds(60)
   */
  readonly workerTimeout?: Duration;
  /**
   * The worker's memory (and with it its CPU share). Steps that only call
   * services need little; raise it for CPU-heavy step bodies.
   * @default 512
   */
  readonly workerMemorySize?: number;
  /**
   * Extra environment variables for the worker (what your step bodies need).
   * Cairn's own `CAIRN_*` variables cannot be overridden.
   * @default - none
   */
  readonly workerEnvironment?: Record<string, string>;
  /**
   * Messages per worker invocation. Above 10, `maxBatchingWindow` is required.
   * @default 10
   */
  readonly batchSize?: number;
  /**
   * How long the event source gathers messages before invoking the worker.
   * @default - no batching window
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Worker invocations the SQS event source runs at once (2-1000).
   * @default 10
   */
  readonly maxConcurrency?: number;
  /**
   * The work queue's visibility timeout; at least 6 × `workerTimeout`, as AWS
   * advises for SQS event sources.
   * @default 6 × workerTimeout
   */
  readonly visibilityTimeout?: Duration;
  /**
   * Deliveries of a work message before it goes to the dead-letter queue and
   * its workflow becomes MAX_RECOVERY_ATTEMPTS_EXCEEDED.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Days a finished workflow and its steps are kept before DynamoDB's TTL
   * deletes them.
   * @default 30
   */
  readonly retentionDays?: number;
  /**
   * What happens to the table (and the functions' log groups) when the stack
   * is deleted or the construct removed.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A customer-managed KMS key for the table and both queues.
   * @default - AWS-managed keys: `aws/dynamodb` for the table, SQS-managed SSE for the queues
   */
  readonly encryptionKey?: IKey;
  /**
   * Timeout of the control functions (`result` and `cancel` with `wait` answer
   * before it ends).
   * @default Duration.seconds(30)
   */
  readonly controlTimeout?: Duration;
  /**
   * @default 256
   */
  readonly controlMemorySize?: number;
  /**
   * Retention of every function's log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * The oldest work message's age at which the backlog alarm fires.
   * @default Duration.minutes(15)
   */
  readonly oldestMessageAgeAlarmThreshold?: Duration;
  /**
   * Worker errors (failed invocations, not failed steps) in five minutes at
   * which the worker alarm fires.
   * @default 1
   */
  readonly workerErrorsAlarmThreshold?: number;
  /**
   * Actions run when any alarm fires or recovers (e.g. an `SnsAction`).
   * @default - none; the alarms are there to wire up
   */
  readonly alarmActions?: IAlarmAction[];
  /**
   * esbuild settings merged over Cairn's (ESM, minified with class and function
   * names kept, source maps, the AWS SDK from the runtime) for every function.
   * Bundling never uses Docker, and names are always kept.
   * @default - Cairn's settings
   */
  readonly bundling?: BundlingOptions;
  /**
   * The lock file that marks your project's root for bundling.
   * @default - the nearest package-lock.json, yarn.lock, pnpm-lock.yaml or bun.lockb above the current directory
   */
  readonly depsLockFilePath?: string;
  /**
   * The names of the workflows your worker registers. The start function then
   * refuses any other name with UNKNOWN_WORKFLOW, instead of creating a workflow
   * that no worker can run.
   * @default - any name is accepted (the worker dead-letters an unknown one)
   */
  readonly workflowNames?: string[];
  /**
   * The workflow queues your worker registers (`createWorker({ workflows, queues })`),
   * as `defineQueue` returns them. The start, resume and fork functions then refuse
   * an unknown queue or options it does not take, `queues` shows each queue's
   * limits, and `queued` without a queueName lists them all.
   * @default - any queue name is accepted (the worker fails an admission pass of a queue it does not register)
   */
  readonly queues?: QueueDefinition[];
  /**
   * How often an admission pass of every queue the worker registers runs: an
   * EventBridge rule sends the work queue an admission message on this schedule
   * (whole minutes). Passes also run whenever a queued workflow starts or ends;
   * the schedule admits what a lost trigger left behind. `false`: no schedule.
   * @default Duration.minutes(1)
   */
  readonly admissionSchedule?: Duration | false;
  /**
   * Prefix of the stack outputs' names (TableName, QueueUrl, StartFunctionName, ...);
   * set it when a stack holds more than one CairnWorkflows.
   * @default "" (outputs named exactly TableName, QueueUrl, ...)
   */
  readonly outputPrefix?: string;
}

/** The props with every default applied, after validation. */
export type ResolvedProps = Required<
  Omit<
    CairnWorkflowsProps,
    "maxBatchingWindow" | "encryptionKey" | "bundling" | "depsLockFilePath" | "workerEnvironment" | "alarmActions" | "workflowNames" | "queues"
  >
> &
  Pick<CairnWorkflowsProps, "maxBatchingWindow" | "encryptionKey" | "bundling" | "depsLockFilePath" | "workflowNames" | "queues"> & {
    workerEnvironment: Record<string, string>;
    alarmActions: IAlarmAction[];
  };

/** Validate the props and apply the defaults; every problem is reported at once. */
export function resolveProps(props: CairnWorkflowsProps): ResolvedProps {
  const problems: string[] = [];
  if (props === undefined || props === null || typeof props !== "object") {
    throw new Error("CairnWorkflows: props are required (at least { workerEntry })");
  }
  const workerTimeout = props.workerTimeout ?? CAIRN_DEFAULTS.workerTimeout;
  const visibilityTimeout =
    props.visibilityTimeout ??
    (workerTimeout instanceof Duration && isResolved(workerTimeout)
      ? Duration.seconds(Math.ceil(workerTimeout.toSeconds({ integral: false }) * CAIRN_DEFAULTS.visibilityTimeoutFactor))
      : undefined);
  const resolved: ResolvedProps = {
    workerEntry: props.workerEntry,
    workerHandler: props.workerHandler ?? CAIRN_DEFAULTS.workerHandler,
    workerTimeout,
    workerMemorySize: props.workerMemorySize ?? CAIRN_DEFAULTS.workerMemorySize,
    workerEnvironment: { ...props.workerEnvironment },
    batchSize: props.batchSize ?? CAIRN_DEFAULTS.batchSize,
    maxConcurrency: props.maxConcurrency ?? CAIRN_DEFAULTS.maxConcurrency,
    visibilityTimeout: visibilityTimeout!,
    maxReceiveCount: props.maxReceiveCount ?? CAIRN_DEFAULTS.maxReceiveCount,
    retentionDays: props.retentionDays ?? CAIRN_DEFAULTS.retentionDays,
    removalPolicy: props.removalPolicy ?? CAIRN_DEFAULTS.removalPolicy,
    controlTimeout: props.controlTimeout ?? CAIRN_DEFAULTS.controlTimeout,
    controlMemorySize: props.controlMemorySize ?? CAIRN_DEFAULTS.controlMemorySize,
    logRetention: props.logRetention ?? CAIRN_DEFAULTS.logRetention,
    oldestMessageAgeAlarmThreshold: props.oldestMessageAgeAlarmThreshold ?? CAIRN_DEFAULTS.oldestMessageAgeAlarmThreshold,
    workerErrorsAlarmThreshold: props.workerErrorsAlarmThreshold ?? CAIRN_DEFAULTS.workerErrorsAlarmThreshold,
    alarmActions: [...(props.alarmActions ?? [])],
    outputPrefix: props.outputPrefix ?? "",
    admissionSchedule: props.admissionSchedule ?? CAIRN_DEFAULTS.admissionSchedule,
    ...(props.maxBatchingWindow !== undefined ? { maxBatchingWindow: props.maxBatchingWindow } : {}),
    ...(props.encryptionKey !== undefined ? { encryptionKey: props.encryptionKey } : {}),
    ...(props.bundling !== undefined ? { bundling: props.bundling } : {}),
    ...(props.depsLockFilePath !== undefined ? { depsLockFilePath: props.depsLockFilePath } : {}),
    ...(props.workflowNames !== undefined ? { workflowNames: [...props.workflowNames] } : {}),
    ...(props.queues !== undefined ? { queues: [...props.queues] } : {}),
  };
  const r = resolved;

  if (typeof r.workerEntry !== "string" || r.workerEntry.length === 0) {
    problems.push("workerEntry is required: the path to your worker module (export const handler = createWorker({ workflows }))");
  } else if (!existsSync(path.resolve(r.workerEntry))) {
    problems.push(`workerEntry "${r.workerEntry}" does not exist (resolved to ${path.resolve(r.workerEntry)})`);
  }
  if (typeof r.workerHandler !== "string" || !/^[A-Za-z_$][\w$]*$/.test(r.workerHandler)) {
    problems.push(`workerHandler must be the name of an export, got ${JSON.stringify(r.workerHandler)}`);
  }
  durationBetween(problems, "workerTimeout", r.workerTimeout, 1, CAIRN_LIMITS.maxFunctionTimeout.toSeconds());
  durationBetween(problems, "controlTimeout", r.controlTimeout, 1, CAIRN_LIMITS.maxFunctionTimeout.toSeconds());
  integerBetween(problems, "workerMemorySize", r.workerMemorySize, CAIRN_LIMITS.minMemorySize, CAIRN_LIMITS.maxMemorySize);
  integerBetween(problems, "controlMemorySize", r.controlMemorySize, CAIRN_LIMITS.minMemorySize, CAIRN_LIMITS.maxMemorySize);
  integerBetween(problems, "batchSize", r.batchSize, 1, CAIRN_LIMITS.maxBatchSize);
  if (isResolved(r.batchSize) && r.batchSize > CAIRN_LIMITS.maxBatchSizeWithoutWindow && r.maxBatchingWindow === undefined) {
    problems.push(`batchSize ${r.batchSize} needs maxBatchingWindow (SQS event sources take more than ${CAIRN_LIMITS.maxBatchSizeWithoutWindow} messages only with a batching window)`);
  }
  if (r.maxBatchingWindow !== undefined) durationBetween(problems, "maxBatchingWindow", r.maxBatchingWindow, 0, 300);
  integerBetween(problems, "maxConcurrency", r.maxConcurrency, CAIRN_LIMITS.minMaxConcurrency, CAIRN_LIMITS.maxMaxConcurrency);
  integerBetween(problems, "maxReceiveCount", r.maxReceiveCount, 1, CAIRN_LIMITS.maxReceiveCount);
  integerBetween(problems, "retentionDays", r.retentionDays, 1, 36_500);
  if (r.workflowNames !== undefined && (!Array.isArray(r.workflowNames) || r.workflowNames.some((n) => typeof n !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/.test(n)))) {
    problems.push(`workflowNames must be workflow names (letters, digits, "_", ".", ":" or "-"), got ${JSON.stringify(r.workflowNames)}`);
  }
  checkQueues(problems, r.queues);
  if (r.admissionSchedule !== false) {
    if (!(r.admissionSchedule instanceof Duration)) problems.push("admissionSchedule must be a Duration (e.g. Duration.minutes(1)) or false");
    else if (isResolved(r.admissionSchedule)) {
      const minutes = r.admissionSchedule.toMinutes({ integral: false });
      if (!Number.isInteger(minutes) || minutes < 1) problems.push(`admissionSchedule must be a whole number of minutes, at least 1 (EventBridge's rates), got ${r.admissionSchedule.toHumanString()}`);
    }
  }
  integerBetween(problems, "workerErrorsAlarmThreshold", r.workerErrorsAlarmThreshold, 1, Number.MAX_SAFE_INTEGER);
  durationBetween(problems, "oldestMessageAgeAlarmThreshold", r.oldestMessageAgeAlarmThreshold, 1, Number.MAX_SAFE_INTEGER);
  if (r.visibilityTimeout === undefined && r.workerTimeout instanceof Duration) {
    problems.push("visibilityTimeout is required when workerTimeout is not known at synth time");
  } else if (props.visibilityTimeout !== undefined && !(props.visibilityTimeout instanceof Duration)) {
    problems.push("visibilityTimeout must be a Duration (e.g. Duration.minutes(6))");
  } else if (r.visibilityTimeout !== undefined && r.workerTimeout instanceof Duration && isResolved(r.visibilityTimeout) && isResolved(r.workerTimeout)) {
    const min = r.workerTimeout.toSeconds({ integral: false }) * CAIRN_DEFAULTS.visibilityTimeoutFactor;
    const seconds = r.visibilityTimeout.toSeconds({ integral: false });
    if (seconds < min) {
      problems.push(
        `visibilityTimeout (${seconds} s) must be at least ${CAIRN_DEFAULTS.visibilityTimeoutFactor} × workerTimeout (${min} s), or SQS redelivers messages whose step is still running`,
      );
    }
    if (seconds > CAIRN_LIMITS.maxVisibilityTimeout.toSeconds()) {
      problems.push(`visibilityTimeout (${seconds} s) exceeds SQS's maximum of ${CAIRN_LIMITS.maxVisibilityTimeout.toSeconds()} s`);
    }
  }
  for (const key of Object.keys(r.workerEnvironment)) {
    if (key.startsWith("CAIRN_")) problems.push(`workerEnvironment may not set ${key}: Cairn sets its CAIRN_* variables itself`);
  }
  if (!/^[A-Za-z0-9]*$/.test(r.outputPrefix)) problems.push(`outputPrefix must be letters and digits only, got ${JSON.stringify(r.outputPrefix)}`);
  if (r.bundling?.forceDockerBundling) problems.push("bundling.forceDockerBundling is not supported: Cairn bundles with the local esbuild");
  if (r.bundling?.keepNames === false) {
    problems.push("bundling.keepNames cannot be turned off: Cairn's errors, and the error classes the worker records, are named after their classes");
  }

  if (problems.length) throw new Error(`CairnWorkflows: invalid props:\n  - ${problems.join("\n  - ")}`);
  return resolved;
}

/**
 * The queues must be what defineQueue returns, with distinct names, and small
 * enough for the control functions' environment (Lambda allows 4 KB in all).
 */
function checkQueues(problems: string[], queues: readonly QueueDefinition[] | undefined): void {
  if (queues === undefined) return;
  if (!Array.isArray(queues)) {
    problems.push("queues must be an array of queue definitions, as defineQueue returns them");
    return;
  }
  for (const q of queues) {
    try {
      defineQueue(q?.name, q ?? {});
    } catch (err) {
      problems.push(`queues: ${(err as Error).message}`);
      return;
    }
  }
  const names = queues.map((q) => q.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) problems.push(`queues names ${JSON.stringify(twice[0])} twice`);
  const length = encodeQueues(queues).length;
  if (length > CAIRN_LIMITS.maxQueuesJsonChars) {
    problems.push(`queues take ${length} characters as JSON, more than the ${CAIRN_LIMITS.maxQueuesJsonChars} the control functions' environment leaves them`);
  }
}

function isResolved(value: unknown): boolean {
  if (value instanceof Duration) return !Token.isUnresolved(value.toString());
  return !Token.isUnresolved(value);
}

function integerBetween(problems: string[], name: string, value: number, min: number, max: number): void {
  if (!isResolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
}

function durationBetween(problems: string[], name: string, value: Duration, minSeconds: number, maxSeconds: number): void {
  if (!(value instanceof Duration)) {
    problems.push(`${name} must be a Duration (e.g. Duration.seconds(60))`);
    return;
  }
  if (!isResolved(value)) return;
  const seconds = value.toSeconds({ integral: false });
  if (seconds < minSeconds || seconds > maxSeconds) {
    problems.push(`${name} must be between ${minSeconds} s and ${maxSeconds} s, got ${seconds} s`);
  }
}
