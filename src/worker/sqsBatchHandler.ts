import middy from "@middy/core";
import sqsPartialBatchFailure from "@middy/sqs-partial-batch-failure";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * A middy SQS handler with partial batch responses: `handle` settles one result
 * per record, in order; the rejected ones become `batchItemFailures` (the event
 * source needs ReportBatchItemFailures) and are passed to `onFailure`.
 */
export function sqsBatchHandler(
  handle: (event: SQSEvent, context: Context) => Promise<PromiseSettledResult<unknown>[]>,
  onFailure: (reason: unknown, record: SQSRecord) => void,
): SqsBatchHandler {
  // middy's types want the handler to return the final response; the middleware turns the settled results into it.
  return middy<SQSEvent, SQSBatchResponse>()
    .use(sqsPartialBatchFailure({ logger: onFailure }))
    .handler(handle as never) as unknown as SqsBatchHandler;
}
