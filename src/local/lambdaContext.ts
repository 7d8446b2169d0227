import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";

/** The Context Lambda hands a handler: its names, and a deadline `timeoutMs` from now. */
export function lambdaContext(functionName: string, timeoutMs: number, options: { region?: string; memoryMb?: number } = {}): Context {
  const deadline = Date.now() + timeoutMs;
  const region = options.region ?? "us-east-1";
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    memoryLimitInMB: String(options.memoryMb ?? 1024),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
