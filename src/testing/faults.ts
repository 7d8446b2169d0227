/** Where a fault can be injected. */
export const CrashPoint = {
  /** The worker dies after reading the workflow, before claiming the step. */
  beforeClaim: "beforeClaim",
  /** The claim is written, then the worker dies before the step body starts. */
  beforeStep: "beforeStep",
  /** The step body starts, then the worker dies while it runs (the body finishes as a zombie whose writes all fail). */
  midStep: "midStep",
  /** The body finished; the worker dies before recording its result. */
  beforeRecord: "beforeRecord",
  /** The result is recorded; the worker dies before enqueueing the next step. */
  afterRecord: "afterRecord",
  /** The next step is enqueued; the worker dies before the message is acknowledged. */
  afterEnqueue: "afterEnqueue",
  /** The whole batch was handled; the invocation dies before Lambda acknowledges it. */
  beforeAck: "beforeAck",
} as const;
export type CrashPoint = (typeof CrashPoint)[keyof typeof CrashPoint];

export const TransientFault = {
  /** A store call is refused before it is applied, as DynamoDB throttling does. */
  storeThrottle: "storeThrottle",
  /** A store write is applied, then the call fails (a lost response): the caller cannot tell. */
  storeLostResponse: "storeLostResponse",
  /** SQS refuses to send. */
  queueSendFailure: "queueSendFailure",
  /** SQS refuses to extend a message's visibility (the heartbeat of a long step). */
  visibilityFailure: "visibilityFailure",
} as const;
export type TransientFault = (typeof TransientFault)[keyof typeof TransientFault];

export type FaultPoint = CrashPoint | TransientFault;

export const CRASH_POINTS: readonly CrashPoint[] = Object.values(CrashPoint);

/** A crash the fault injector caused: the invocation is dead from here on. */
export class SimulatedCrash extends Error {
  readonly simulated = true;
  constructor(
    readonly point: FaultPoint | "afterDeath",
    message: string,
  ) {
    super(message);
    this.name = "SimulatedCrash";
  }
}

/** The shape of the AWS SDK's retryable service errors (what its retry strategy looks at). */
export interface SimulatedServiceError extends Error {
  $fault: "client" | "server";
  $retryable?: { throttling?: boolean };
  $metadata: { httpStatusCode: number; attempts: number; totalRetryDelay: number };
  $simulated: true;
}

function serviceError(name: string, message: string, status: number, throttling: boolean): SimulatedServiceError {
  const err = new Error(`${message} (simulated)`) as SimulatedServiceError;
  err.name = name;
  err.$fault = status >= 500 ? "server" : "client";
  err.$retryable = throttling ? { throttling: true } : {};
  err.$metadata = { httpStatusCode: status, attempts: 1, totalRetryDelay: 0 };
  err.$simulated = true;
  return err;
}

/** DynamoDB throttling, alternating between its two throttling error names. */
export function dynamoThrottlingError(variant = 0): SimulatedServiceError {
  return variant % 2 === 0
    ? serviceError(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded",
        400,
        true,
      )
    : serviceError("ThrottlingException", "Rate of requests exceeds the allowed throughput", 400, true);
}

/** A transient server-side failure (what a lost response looks like to the caller). */
export function transientServerError(): SimulatedServiceError {
  return serviceError("InternalServerError", "Internal server error; the request may or may not have been applied", 500, false);
}

export function sqsThrottlingError(): SimulatedServiceError {
  return serviceError("RequestThrottled", "The request was denied due to request throttling", 400, true);
}

/** True for errors the fault injector made (crashes and simulated service errors). */
export function isInjectedFault(err: unknown): boolean {
  return err instanceof SimulatedCrash || (err as { $simulated?: unknown } | undefined)?.$simulated === true;
}
