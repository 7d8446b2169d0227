import { CAIRN_DEFAULTS } from "../../infra/defaults.js";

/**
 * Public AWS list prices used by the cost model: us-east-1, on-demand, without
 * free tiers. Recorded on PRICES_DATE from AWS's pricing pages (DynamoDB
 * on-demand after its November 2024 reduction); check them before relying on
 * the figures.
 */
export const PRICES_DATE = "2026-11-25";
export const PRICES_REGION = "us-east-1";

export const PRICES = {
  /** aws.amazon.com/dynamodb/pricing/on-demand: per million write / read request units. */
  dynamodbWriteRequestUnitPerMillion: 0.625,
  dynamodbReadRequestUnitPerMillion: 0.125,
  /** aws.amazon.com/sqs/pricing: standard queue, per million requests (each 64 KB chunk is one request). */
  sqsRequestPerMillion: 0.4,
  /** aws.amazon.com/lambda/pricing: per million requests, and per GB-second on arm64 (first tier). */
  lambdaRequestPerMillion: 0.2,
  lambdaArmGbSecond: 0.0000133334,
  /** aws.amazon.com/step-functions/pricing: Standard, per 1,000 state transitions. */
  stepFunctionsStandardPerThousandTransitions: 0.025,
  /** Express: per million requests, and per GB-second (first 1,000 GB-hours), billed in 64 MB and 100 ms increments. */
  stepFunctionsExpressRequestPerMillion: 1.0,
  stepFunctionsExpressGbSecond: 0.00001667,
} as const;

/** The worker's memory in the CDK construct's default configuration (GB-seconds are billed on it). */
export const WORKER_MEMORY_MB: number = CAIRN_DEFAULTS.workerMemorySize;

/**
 * Public latency figures for the modelled per-step latency on AWS. AWS publishes
 * no percentile for these; each is the figure its source states, and the model
 * says so next to it.
 */
export const LATENCY_FIGURES = {
  dynamodbRequestMs: { value: 5, source: "DynamoDB: 'single-digit millisecond performance at any scale' (aws.amazon.com/dynamodb)" },
  sqsRequestMs: { value: 10, source: "SQS standard queues: '< 10 ms on publish and receive' (AWS training material); SQS FAQ: 'tens of milliseconds'" },
  lambdaEventSourceHopMs: {
    value: 20,
    source: "SQS event source mapping: long-polling pollers hand a message to a warm function within one receive call (assumed ~2 SQS round trips)",
  },
  stepFunctionsStandardTransitionMs: {
    value: 50,
    source: "Step Functions Standard: AWS publishes no per-transition latency; community benchmarks (e.g. cremich.cloud 'Step Functions vs Lambda') measure tens of ms per Lambda task state (assumed 50 ms)",
  },
  lambdaInvokeMs: { value: 15, source: "Lambda synchronous invoke of a warm function: tens of ms end to end (assumed 15 ms), added per Step Functions task state" },
} as const;
