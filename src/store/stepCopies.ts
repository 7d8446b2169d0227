import { DeleteCommand, PutCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { INCARNATION, incarnationOf, INPUT_RECORD_SK, isInputItem, isStepItem, isWorkflowItem, STEP_SK_PREFIX, stepKey, workflowKey, type Item } from "./records.js";

/** Past every step key: they are STEP# and ten digits. */
const AFTER_LAST_STEP = `${STEP_SK_PREFIX}~`;
/** Past every sort key of a partition (mailbox items included: see mailboxes.ts). */
const PAST_EVERY_ITEM = "~";
import { everyItem } from "./queries.js";

/**
 * Writing a fork's copied steps in chunks that fit DynamoDB's transaction
 * limits (100 items, 4 MB), and cleaning a partition for the workflow that
 * just took its id: what an interrupted fork left, and what an expired
 * incarnation of the id left (see records.ts on incarnations).
 *
 * A fork writes its copies before the workflow record, so copies of a fork that
 * died part-way can lie in a partition with no workflow record. Each copy is
 * stamped with its fork attempt's token (FORK_TOKEN) and incarnation: a later
 * attempt overwrites them, and whoever then takes the id removes the items that
 * are not its own before the workflow's first message is sent. Steps a worker
 * records carry their workflow's incarnation, so they are never taken for
 * another's.
 */

/** The attribute stamping a copied step with the fork attempt that wrote it. */
export const FORK_TOKEN = "forkToken";

/** DynamoDB's limits for one TransactWriteItems: 100 actions and 4 MB. */
const MAX_TRANSACTION_ITEMS = 100;
/** Item sizes are estimated from their JSON (an overestimate), with a margin below 4 MB. */
const MAX_TRANSACTION_BYTES = 3 * 1024 * 1024;
/** Conditional puts and deletes in flight at once while settling a partition. */
const PARALLEL_WRITES = 8;
/** A chunk that met a concurrent transaction on the same items is tried this many times. */
const CONFLICT_TRIES = 3;

/** The codes of a cancelled transaction, one per item; undefined for other errors. */
export function cancellationCodes(err: unknown): string[] | undefined {
  return (err as { name?: string })?.name === "TransactionCanceledException"
    ? ((err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map((r) => r.Code ?? "None")
    : undefined;
}

/** Split `items` into chunks of at most `maxCount` items and about `maxBytes` (a larger item goes alone). */
export function chunkItems<T>(items: readonly T[], size: (item: T) => number, maxCount: number, maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const b = size(item);
    if (chunk.length > 0 && (chunk.length >= maxCount || bytes + b > maxBytes)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(item);
    bytes += b;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** About the bytes an item takes in a request (its JSON: more than DynamoDB counts). */
export const itemBytes = (item: Item): number => Buffer.byteLength(JSON.stringify(item), "utf8");

const stepNumber = (sk: unknown): number => Number(String(sk).slice(STEP_SK_PREFIX.length));

/** The DynamoDB plumbing around one workflow partition's steps. */
export class StepCopies {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Write `copies` (step items, stamped) into the partition of `workflowId`, in
   * transactions that each first check the workflow record is still absent.
   * Plain puts: a copy left by an earlier attempt is overwritten. Returns false,
   * having written maybe some chunks, as soon as the workflow record exists.
   */
  async copy(workflowId: string, copies: readonly Item[]): Promise<boolean> {
    // One slot of each transaction is the check of the workflow record.
    for (const chunk of chunkItems(copies, itemBytes, MAX_TRANSACTION_ITEMS - 1, MAX_TRANSACTION_BYTES)) {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.doc.send(
            new TransactWriteCommand({
              TransactItems: [
                { ConditionCheck: { TableName: this.tableName, Key: workflowKey(workflowId), ConditionExpression: "attribute_not_exists(pk)" } },
                ...chunk.map((Item) => ({ Put: { TableName: this.tableName, Item } })),
              ],
            }),
          );
          break;
        } catch (err) {
          const codes = cancellationCodes(err);
          if (codes?.[0] === "ConditionalCheckFailed") return false;
          if (!codes?.includes("TransactionConflict") || attempt >= CONFLICT_TRIES) throw err;
          await new Promise((r) => setTimeout(r, 50 * attempt));
        }
      }
    }
    return true;
  }

  /**
   * Make the partition of a workflow whose record was just written hold only its
   * own items, before its first message goes out:
   * - an item of another incarnation (`incarnation` is the record's) is deleted:
   *   what an expired incarnation of the id left, or another fork attempt's copies;
   * - a copy of `copies` (as `token` stamped them) that another fork attempt
   *   overwrote or removed before the record was written is put back;
   * - a fork-stamped step of this incarnation that is not one of `copies` and is at
   *   `keepBelow` or after is deleted (records without incarnations only).
   * `keepBelow` keeps a fork's own stamped copies when its token is unknown.
   * `withInput` also looks at the input item (pass it when the record holds its
   * input inline: an input item there is another incarnation's).
   * One query of the partition's keys and stamps; writes only when there is something to clean.
   */
  async settle(
    workflowId: string,
    options: { copies?: readonly Item[]; token?: string; keepBelow?: number; incarnation?: string; withInput?: boolean } = {},
  ): Promise<void> {
    const ours = new Map((options.copies ?? []).map((item) => [String(item.sk), item]));
    const writes: (() => Promise<unknown>)[] = [];
    const seen = new Set<string>();
    for await (const item of this.keys(workflowId, options.withInput ? INPUT_RECORD_SK : stepKey(workflowId, 1).sk, PAST_EVERY_ITEM)) {
      if (isWorkflowItem(item)) continue;
      if (!isStepItem(item) && !isInputItem(item)) {
        // A mailbox item (message, event, waiter, child) an expired incarnation left.
        if (incarnationOf(item) !== options.incarnation) writes.push(() => this.deleteIf(workflowId, String(item.sk), INCARNATION, incarnationOf(item)));
        continue;
      }
      const sk = String(item.sk);
      const stamp = item[FORK_TOKEN];
      seen.add(sk);
      const mine = ours.get(sk);
      if (mine) {
        if (stamp !== options.token || incarnationOf(item) !== options.incarnation) writes.push(() => this.put(mine));
      } else if (incarnationOf(item) !== options.incarnation) {
        writes.push(() => this.deleteIf(workflowId, sk, INCARNATION, incarnationOf(item)));
      } else if (typeof stamp === "string" && stepNumber(sk) >= (options.keepBelow ?? 1)) {
        writes.push(() => this.deleteIf(workflowId, sk, FORK_TOKEN, stamp));
      }
    }
    for (const [sk, item] of ours) {
      if (!seen.has(sk)) writes.push(() => this.put(item));
    }
    for (let i = 0; i < writes.length; i += PARALLEL_WRITES) await Promise.all(writes.slice(i, i + PARALLEL_WRITES).map((w) => w()));
  }

  private put(item: Item): Promise<unknown> {
    return this.doc.send(new PutCommand({ TableName: this.tableName, Item: item }));
  }

  /** The keys (and stamps) of a workflow's step items from `fromStep` on, in order, read consistently. */
  stepKeys(workflowId: string, fromStep = 1): AsyncGenerator<Item> {
    return this.keys(workflowId, stepKey(workflowId, fromStep).sk);
  }

  /** The keys and stamps of a partition's items from sort key `from` to `to` (the last step), in order, read consistently. */
  private keys(workflowId: string, from: string, to = AFTER_LAST_STEP): AsyncGenerator<Item> {
    return everyItem((start) =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
          ExpressionAttributeValues: {
            ":pk": workflowKey(workflowId).pk,
            ":from": from,
            ":to": to,
          },
          ProjectionExpression: "pk, sk, #stamp, #inc",
          ExpressionAttributeNames: { "#stamp": FORK_TOKEN, "#inc": INCARNATION },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      ),
    );
  }

  /**
   * Delete an item if its `attribute` still is `value` (absent, for undefined): a
   * rival's write since is left alone.
   */
  private async deleteIf(workflowId: string, sk: string, attribute: string, value: string | undefined): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: workflowKey(workflowId).pk, sk },
          ConditionExpression: value === undefined ? "attribute_not_exists(#a)" : "#a = :v",
          ExpressionAttributeNames: { "#a": attribute },
          ...(value === undefined ? {} : { ExpressionAttributeValues: { ":v": value } }),
        }),
      );
    } catch (err) {
      if ((err as { name?: string })?.name !== "ConditionalCheckFailedException") throw err;
    }
  }
}
