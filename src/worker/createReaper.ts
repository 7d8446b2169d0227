import middy from "@middy/core";
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { logger as defaultLogger, type Logger } from "../logger.js";
import { ExpiredWorkflowReaper } from "../store/ExpiredWorkflowReaper.js";

export interface ReaperOptions {
  /** @default ExpiredWorkflowReaper on $CAIRN_TABLE_NAME */
  reaper?: ExpiredWorkflowReaper;
  logger?: Logger;
}

export type ReaperHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

/** Whether a stream record is DynamoDB's TTL deleting an item (the event filter's test, kept here too). */
export const isTtlDeletion = (record: DynamoDBRecord): boolean =>
  record.eventName === "REMOVE" &&
  (record.userIdentity as { type?: string; principalId?: string } | undefined)?.type === "Service" &&
  (record.userIdentity as { principalId?: string } | undefined)?.principalId === "dynamodb.amazonaws.com";

/**
 * The reaper Lambda, on the table's stream (filtered on TTL deletions of workflow
 * records, see the CDK construct): for each expired record, deletes the rest of
 * its incarnation (ExpiredWorkflowReaper). A middy handler with partial batch
 * responses: a record that fails is reported by its sequence number, and the
 * event source retries from it (the reaping is idempotent). Records that are not
 * TTL deletions of workflow records are skipped.
 */
export function createReaper(options: ReaperOptions = {}): ReaperHandler {
  const reaper = options.reaper ?? ExpiredWorkflowReaper.fromEnv();
  const log = options.logger ?? defaultLogger;

  const handleRecord = async (record: DynamoDBRecord): Promise<void> => {
    const expired = isTtlDeletion(record) ? ExpiredWorkflowReaper.expiredRecordOf(record.dynamodb?.OldImage as never) : undefined;
    if (!expired) {
      log.warn("stream record skipped: not a TTL deletion of a workflow record", { eventID: record.eventID, eventName: record.eventName });
      return;
    }
    const deleted = await reaper.reap(expired);
    log.info("expired workflow reaped", { workflowId: expired.workflowId, deleted });
  };

  return middy<DynamoDBStreamEvent, DynamoDBBatchResponse>().handler(async (event) => {
    const results = await Promise.allSettled(event.Records.map(handleRecord));
    const batchItemFailures: DynamoDBBatchResponse["batchItemFailures"] = [];
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      const record = event.Records[i]!;
      log.error("expired workflow not reaped; the stream will deliver it again", { eventID: record.eventID, error: result.reason });
      batchItemFailures.push({ itemIdentifier: record.dynamodb?.SequenceNumber ?? "" });
    });
    return { batchItemFailures };
  }) as unknown as ReaperHandler;
}
