import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { EXPIRES_AT, GSI } from "./records.js";

/**
 * Attribute holding the TTL (epoch seconds). Only a finished workflow's record
 * carries it; when DynamoDB deletes the record, the reaper (ExpiredWorkflowReaper)
 * deletes the rest of that incarnation's items.
 */
export const TTL_ATTRIBUTE = EXPIRES_AT;

/** The table as the store expects it; the CDK construct declares the same keys. */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  // Indexes hold keys only (byName also the status, to filter on it), so the
  // per-step updates of a workflow item write no index: listings fetch the
  // items themselves with BatchGetItem.
  const index = (name: string, partitionKey: string, include?: string[]) => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: partitionKey, KeyType: "HASH" as const },
      { AttributeName: GSI.sortKey, KeyType: "RANGE" as const },
    ],
    Projection: include ? { ProjectionType: "INCLUDE" as const, NonKeyAttributes: include } : { ProjectionType: "KEYS_ONLY" as const },
  });
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" },
      { AttributeName: "sk", AttributeType: "S" },
      { AttributeName: GSI.byName.partitionKey, AttributeType: "S" },
      { AttributeName: GSI.byStatus.partitionKey, AttributeType: "S" },
      { AttributeName: GSI.byCreated.partitionKey, AttributeType: "S" },
      { AttributeName: GSI.sortKey, AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: [
      index(GSI.byName.indexName, GSI.byName.partitionKey, [GSI.byStatus.partitionKey]),
      index(GSI.byStatus.indexName, GSI.byStatus.partitionKey),
      index(GSI.byCreated.indexName, GSI.byCreated.partitionKey),
    ],
  };
}
