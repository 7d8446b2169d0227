import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { RetentionDays } from "aws-cdk-lib/aws-logs";

/**
 * Defaults of `CairnWorkflowsProps`, in one place so the doc tags, the
 * construct and the tests agree.
 */
export const CAIRN_DEFAULTS = {
  workerHandler: "handler",
  workerTimeout: Duration.seconds(60),
  workerMemorySize: 512,
  batchSize: 10,
  maxConcurrency: 10,
  /** AWS's advice for an SQS event source: the visibility timeout is at least six times the function timeout. */
  visibilityTimeoutFactor: 6,
  maxReceiveCount: 5,
  retentionDays: 30,
  /** SQS's maximum, so a dead letter can be inspected long after the fact. */
  deadLetterRetention: Duration.days(14),
  removalPolicy: RemovalPolicy.RETAIN,
  controlTimeout: Duration.seconds(30),
  controlMemorySize: 256,
  /** The dead-letter handler's timeout; the dead-letter queue's visibility timeout is `visibilityTimeoutFactor` times it. */
  deadLetterTimeout: Duration.seconds(30),
  /** The reaper's timeout: a batch of expired workflows, each a Query and a DeleteItem per item (16 at once). */
  reaperTimeout: Duration.minutes(5),
  /** Stream records per reaper invocation (only TTL deletions of workflow records reach it). */
  reaperBatchSize: 10,
  logRetention: RetentionDays.ONE_MONTH,
  oldestMessageAgeAlarmThreshold: Duration.minutes(15),
  workerErrorsAlarmThreshold: 1,
  /** The periodic admission pass of the workflow queues (an EventBridge rule). */
  admissionSchedule: Duration.minutes(1),
} as const;

/** Limits the props are validated against (AWS's own, unless noted). */
export const CAIRN_LIMITS = {
  /** Lambda's maximum timeout. */
  maxFunctionTimeout: Duration.minutes(15),
  minMemorySize: 128,
  maxMemorySize: 10_240,
  /** SQS event sources: above 10 a batching window is required. */
  maxBatchSizeWithoutWindow: 10,
  maxBatchSize: 10_000,
  minMaxConcurrency: 2,
  maxMaxConcurrency: 1_000,
  /** SQS's maximum visibility timeout. */
  maxVisibilityTimeout: Duration.hours(12),
  maxReceiveCount: 1_000,
  /** CAIRN_QUEUES, the queues' definitions as JSON: Lambda limits a function's whole environment to 4 KB. */
  maxQueuesJsonChars: 2_048,
} as const;
