import { DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, DynamoDBDocumentClient, QueryCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { awsClientSettings } from "../awsEnv.js";
import { ENV, requireEnv } from "../config.js";
import { FINISHED_STATUSES } from "../constants.js";
import { everyItem, statusList } from "./queries.js";
import { EXPIRES_AT, INCARNATION, incarnationOf, WORKFLOW_RECORD_SK, workflowKey, type Item } from "./records.js";

/**
 * Retention, second half. Only a finished workflow's record carries a TTL
 * (`expiresAt`, set when it enters a finished status, removed by resume), so
 * retention never touches a workflow that still runs, sleeps or waits, and a
 * workflow's clock starts at its last status change. When DynamoDB's TTL deletes
 * the record, the table's stream hands the deleted record to this reaper (see the
 * CDK construct: a Lambda filtered on TTL deletions of records), which deletes the
 * rest of that incarnation: its input item and its steps.
 *
 * Deletes are conditional on the item's incarnation stamp (records.ts): a start that
 * reused the id after the record expired writes items of a new incarnation, possibly
 * at the same keys, and the reaper never deletes those, however its deletes
 * interleave with them. (BatchWriteItem takes no condition, so each delete is its own
 * DeleteItem; on-demand billing counts a write per item either way.)
 */

/** A workflow record the TTL deleted: its id and its incarnation (undefined for records from before incarnations). */
export interface ExpiredRecord {
  workflowId: string;
  incarnation: string | undefined;
}

/** Deletes in flight at once. */
const PARALLEL_DELETES = 16;
const isConditionFailure = (err: unknown): boolean => (err as { name?: string })?.name === "ConditionalCheckFailedException";

export class ExpiredWorkflowReaper {
  private readonly doc: DynamoDBDocumentClient;

  /** The reaper of $CAIRN_TABLE_NAME; endpoint, region and credentials from `env`. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): ExpiredWorkflowReaper {
    return new ExpiredWorkflowReaper({ tableName: requireEnv(ENV.tableName, env), clientConfig: awsClientSettings("DYNAMODB", env) });
  }

  constructor(options: { tableName: string; client?: DynamoDBClient; clientConfig?: DynamoDBClientConfig }) {
    this.tableName = options.tableName;
    const client = options.client ?? new DynamoDBClient({ maxAttempts: 6, ...options.clientConfig });
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  readonly tableName: string;

  /**
   * The expired record a stream record of a TTL deletion names (its old image), or
   * undefined when it is not a workflow record's deletion.
   */
  static expiredRecordOf(oldImage: Record<string, { S?: string } | undefined> | undefined): ExpiredRecord | undefined {
    const pk = oldImage?.pk?.S;
    if (oldImage?.sk?.S !== WORKFLOW_RECORD_SK || !pk?.startsWith("WF#")) return undefined;
    const incarnation = oldImage[INCARNATION]?.S;
    return { workflowId: pk.slice("WF#".length), incarnation };
  }

  /**
   * Delete every item of the expired incarnation of `expired.workflowId` (never a
   * workflow record: a new incarnation's is not this one's to delete). One Query per
   * 1 MB of keys, one DeleteItem per item. Returns how many items were deleted.
   */
  async reap(expired: ExpiredRecord): Promise<number> {
    const pk = workflowKey(expired.workflowId).pk;
    const keys = everyItem((start) =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": pk },
          ProjectionExpression: "pk, sk, #inc",
          ExpressionAttributeNames: { "#inc": INCARNATION },
          ExclusiveStartKey: start,
        }),
      ),
    );
    const doomed: Item[] = [];
    for await (const item of keys) if (item.sk !== WORKFLOW_RECORD_SK && incarnationOf(item) === expired.incarnation) doomed.push(item);
    let deleted = 0;
    for (let i = 0; i < doomed.length; i += PARALLEL_DELETES) {
      const results = await Promise.all(doomed.slice(i, i + PARALLEL_DELETES).map((item) => this.deleteOfIncarnation(item, expired.incarnation)));
      deleted += results.filter(Boolean).length;
    }
    return deleted;
  }

  /**
   * What DynamoDB's TTL does, for emulators that have no TTL (DynamoDB Local): delete
   * every workflow record whose `expiresAt` is at or before `now` (a record a resume
   * freed of its TTL meanwhile is left, as TTL leaves it), then reap each as the
   * stream-triggered reaper would. A Scan: for local stacks and tests only.
   * Returns the ids of the workflows that expired.
   */
  async expireDue(now: number = Date.now()): Promise<string[]> {
    const nowSeconds = Math.floor(now / 1000);
    const expired: ExpiredRecord[] = [];
    const due = everyItem((start) =>
      this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: "sk = :wf AND #exp <= :now",
          ProjectionExpression: "pk, sk",
          ExpressionAttributeNames: { "#exp": EXPIRES_AT },
          ExpressionAttributeValues: { ":wf": WORKFLOW_RECORD_SK, ":now": nowSeconds },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      ),
    );
    for await (const key of due) {
      const old = await this.deleteIfExpired(key, nowSeconds);
      if (old) expired.push({ workflowId: String(old.pk).slice("WF#".length), incarnation: incarnationOf(old) });
    }
    for (const record of expired) await this.reap(record);
    return expired.map((r) => r.workflowId);
  }

  private async deleteIfExpired(key: Item, nowSeconds: number): Promise<Item | undefined> {
    const finished = statusList("f", FINISHED_STATUSES);
    try {
      const out = await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: key.pk, sk: key.sk },
          ConditionExpression: `#exp <= :now AND #status IN (${finished.names})`,
          ExpressionAttributeNames: { "#exp": EXPIRES_AT, "#status": "status" },
          ExpressionAttributeValues: { ":now": nowSeconds, ...finished.values },
          ReturnValues: "ALL_OLD",
        }),
      );
      return out.Attributes;
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  /** Delete an item if it still belongs to `incarnation`; false if it no longer does (or is gone). */
  private async deleteOfIncarnation(item: Item, incarnation: string | undefined): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: item.pk, sk: item.sk },
          ConditionExpression: incarnation === undefined ? "attribute_exists(pk) AND attribute_not_exists(#inc)" : "#inc = :inc",
          ExpressionAttributeNames: { "#inc": INCARNATION },
          ...(incarnation === undefined ? {} : { ExpressionAttributeValues: { ":inc": incarnation } }),
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }
}
