import { LATENCY_FIGURES, PRICES, PRICES_DATE, PRICES_REGION, WORKER_MEMORY_MB } from "./prices.js";
import type { CostSample } from "../cairn.js";

export interface CostModel {
  perStep: {
    dynamodbReadUnits: number;
    dynamodbWriteUnits: number;
    dynamodbRequests: number;
    sqsRequests: number;
    lambdaInvocations: number;
    lambdaGbSeconds: number;
  };
  requestsPerStep: Record<string, number>;
  costPerMillionSteps: number;
  breakdownPerMillionSteps: { dynamodb: number; sqs: number; lambdaRequests: number; lambdaDuration: number };
  stepFunctionsStandardPerMillion: number;
  stepFunctionsExpressPerMillion: number;
  ratioToStepFunctionsStandard: number;
  prices: { date: string; region: string; values: typeof PRICES; workerMemoryMb: number };
}

/** Cost per million steps from requests counted during a run, at public list prices. */
export function costModel(sample: CostSample, stepsPerWorkflow: number, awsStepLatencyMs: number): CostModel {
  const per = (n: number) => n / sample.steps;
  const dynamodbRequests = Object.entries(sample.requests).filter(([k]) => k.startsWith("dynamodb.")).reduce((s, [, v]) => s + v, 0);
  const sqsRequests = Object.entries(sample.requests).filter(([k]) => k.startsWith("sqs.")).reduce((s, [, v]) => s + v, 0);
  const gbSeconds = (sample.billedMs / 1000) * (WORKER_MEMORY_MB / 1024);
  const perStep = {
    dynamodbReadUnits: per(sample.readUnits),
    dynamodbWriteUnits: per(sample.writeUnits),
    dynamodbRequests: per(dynamodbRequests),
    sqsRequests: per(sqsRequests),
    lambdaInvocations: per(sample.invocations),
    lambdaGbSeconds: per(gbSeconds),
  };
  const million = 1_000_000;
  const breakdown = {
    dynamodb: perStep.dynamodbWriteUnits * PRICES.dynamodbWriteRequestUnitPerMillion + perStep.dynamodbReadUnits * PRICES.dynamodbReadRequestUnitPerMillion,
    sqs: perStep.sqsRequests * PRICES.sqsRequestPerMillion,
    lambdaRequests: perStep.lambdaInvocations * PRICES.lambdaRequestPerMillion,
    lambdaDuration: perStep.lambdaGbSeconds * million * PRICES.lambdaArmGbSecond,
  };
  const cost = breakdown.dynamodb + breakdown.sqs + breakdown.lambdaRequests + breakdown.lambdaDuration;
  // Step Functions for the same workflow: one Task state (one transition) per step;
  // the Lambda each task would invoke is not even counted in its favour's disfavour.
  const standard = (million * PRICES.stepFunctionsStandardPerThousandTransitions) / 1000;
  // Express: one request per workflow, billed for the workflow's duration at 64 MB.
  const workflowsPerMillionSteps = million / stepsPerWorkflow;
  const expressSeconds = Math.ceil((stepsPerWorkflow * awsStepLatencyMs) / 100) / 10;
  const express =
    workflowsPerMillionSteps * (PRICES.stepFunctionsExpressRequestPerMillion / million) +
    workflowsPerMillionSteps * expressSeconds * (64 / 1024) * PRICES.stepFunctionsExpressGbSecond;
  return {
    perStep,
    requestsPerStep: Object.fromEntries(Object.entries(sample.requests).map(([k, v]) => [k, per(v)])),
    costPerMillionSteps: cost,
    breakdownPerMillionSteps: breakdown,
    stepFunctionsStandardPerMillion: standard,
    stepFunctionsExpressPerMillion: express,
    ratioToStepFunctionsStandard: cost / standard,
    prices: { date: PRICES_DATE, region: PRICES_REGION, values: PRICES, workerMemoryMb: WORKER_MEMORY_MB },
  };
}

export interface ModelledLatency {
  cairnPerStepMs: number;
  stepFunctionsStandardPerStepMs: number;
  formula: { cairn: string; stepFunctionsStandard: string };
  sources: string[];
}

/** Per-step latency on AWS from public figures and the DynamoDB round trips on one step's critical path. */
export function modelledAwsLatency(dynamodbRequestsOnPath: number): ModelledLatency {
  const f = LATENCY_FIGURES;
  const cairn = f.lambdaEventSourceHopMs.value + dynamodbRequestsOnPath * f.dynamodbRequestMs.value + f.sqsRequestMs.value;
  const sfn = f.stepFunctionsStandardTransitionMs.value + f.lambdaInvokeMs.value;
  return {
    cairnPerStepMs: cairn,
    stepFunctionsStandardPerStepMs: sfn,
    formula: {
      cairn: `event source hop ${f.lambdaEventSourceHopMs.value} + ${dynamodbRequestsOnPath} DynamoDB round trips x ${f.dynamodbRequestMs.value} + SendMessage ${f.sqsRequestMs.value}`,
      stepFunctionsStandard: `state transition ${f.stepFunctionsStandardTransitionMs.value} + Lambda invoke ${f.lambdaInvokeMs.value}`,
    },
    sources: Object.values(f).map((x) => x.source),
  };
}
