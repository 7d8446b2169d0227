import middy from "@middy/core";
import sqsPartialBatchFailure from "@middy/sqs-partial-batch-failure";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { FailureBackoff, type FailureBackoffOptions } from "./failureBackoff.js";

export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export interface SqsBatchHandlerOptions {
  /**
   * How failed records come back: `false` leaves them to the queue's visibility timeout.
   * @default exponential backoff (see failureBackoff.ts), SQS from the environment
   */
  failureBackoff?: FailureBackoffOptions | false;
}

/** Each handler's backoff, so whoever runs the handler can point it at its queue (see failureBackoffOf). */
const backoffs = new WeakMap<object, FailureBackoff>();

/**
 * A middy SQS handler with partial batch responses: `handle` settles one result
 * per record, in order; the rejected ones become `batchItemFailures` (the event
 * source needs ReportBatchItemFailures), are passed to `onFailure`, and stay
 * invisible for a delay that grows with their receive count (FailureBackoff), so
 * an outage does not burn their deliveries in seconds.
 */
export function sqsBatchHandler(
  handle: (event: SQSEvent, context: Context) => Promise<PromiseSettledResult<unknown>[]>,
  onFailure: (reason: unknown, record: SQSRecord) => void,
  options: SqsBatchHandlerOptions = {},
): SqsBatchHandler {
  const backoff = new FailureBackoff(options.failureBackoff ?? {});
  // Middy runs `after` middlewares last-used first: the partial batch response is
  // built before the backoff reads it. middy's types want the handler to return
  // the final response; the middleware turns the settled results into it.
  const handler = middy<SQSEvent, SQSBatchResponse>()
    .use(backoff.middleware())
    .use(sqsPartialBatchFailure({ logger: onFailure }))
    .handler(handle as never) as unknown as SqsBatchHandler;
  backoffs.set(handler, backoff);
  return handler;
}

/**
 * The failure backoff of a handler that sqsBatchHandler built (the worker's, the
 * dead-letter handler's), to change its schedule or the queue client it uses;
 * undefined for any other function.
 */
export function failureBackoffOf(handler: SqsBatchHandler): FailureBackoff | undefined {
  return backoffs.get(handler);
}
