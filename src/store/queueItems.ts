import { createHash } from "node:crypto";
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { QueueEntry, QueuePlace, QueueSlot, QueueState } from "../types.js";
import type { AdmitArgs } from "./QueueStore.js";
import { countItems, everyItem } from "./queries.js";
import type { Item } from "./records.js";

/**
 * The items of workflow queues, in partitions of their own (one per queue, or per
 * partition of a partitioned queue), so one consistent read sees a queue's state:
 *
 *   pk = "Q#<queue>[#<partition digest>]"
 *     sk = "#META"                                  version (every admission is conditional on it), recent admission times
 *     sk = "E#<priority>#<enqueuedAt>#<workflowId>"   a workflow waiting, in admission order
 *     sk = "S#<workflowId>"                          a workflow admitted and not yet seen finished (a unit of concurrency)
 *   pk = "Q#<queue>"
 *     sk = "D#<deduplicationId digest>"              the workflow holding a deduplication id
 *   pk = "QUEUES"
 *     sk = "<queue>#<partition digest>"              the partitions a partitioned queue has had
 */
const digest = (text: string): string => createHash("sha256").update(text).digest("base64url").slice(0, 22);
const META = "#META";
const QUEUES = "QUEUES";
/** Priorities sort as 10 digits; no priority sorts after every priority. */
const NO_PRIORITY = 9_999_999_999;

export const queuePk = (place: QueuePlace): string => `Q#${place.queueName}${place.partitionKey === undefined ? "" : `#${digest(place.partitionKey)}`}`;
export const entrySk = (e: Pick<QueueEntry, "priority" | "enqueuedAt" | "workflowId">): string =>
  `E#${String(e.priority ?? NO_PRIORITY).padStart(10, "0")}#${String(Math.trunc(e.enqueuedAt)).padStart(15, "0")}#${e.workflowId}`;
const slotSk = (workflowId: string): string => `S#${workflowId}`;
export const dedupKey = (queueName: string, deduplicationId: string): Item => ({ pk: `Q#${queueName}`, sk: `D#${digest(deduplicationId)}` });

type TransactItem = Record<string, unknown>;

export class QueueItems {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  entryPut(place: QueuePlace, entry: QueueEntry): TransactItem {
    return { Put: { TableName: this.tableName, Item: { pk: queuePk(place), sk: entrySk(entry), type: "queueEntry", ...entry } } };
  }

  /**
   * Remember a partition of a partitioned queue when a workflow enters it (the
   * periodic admission pass goes through them); an unpartitioned queue is noted by
   * its first admission (see admissionItems), for listings.
   */
  async notePartition(place: QueuePlace): Promise<void> {
    if (place.partitionKey !== undefined) await this.doc.send(new PutCommand(this.placeItem(place)));
  }

  private placeItem(place: QueuePlace): { TableName: string; Item: Item } {
    const sk = `${place.queueName}#${place.partitionKey === undefined ? "-" : digest(place.partitionKey)}`;
    return { TableName: this.tableName, Item: { pk: QUEUES, sk, type: "queuePlace", ...place } };
  }

  /** The queue places noted (of one queue, or of all). */
  async places(queueName?: string): Promise<QueuePlace[]> {
    const places: QueuePlace[] = [];
    const items = everyItem((start) =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: `pk = :pk${queueName === undefined ? "" : " AND begins_with(sk, :prefix)"}`,
          ExpressionAttributeValues: { ":pk": QUEUES, ...(queueName === undefined ? {} : { ":prefix": `${queueName}#` }) },
          ExclusiveStartKey: start,
        }),
      ),
    );
    for await (const item of items) {
      places.push({ queueName: String(item.queueName), ...(typeof item.partitionKey === "string" ? { partitionKey: item.partitionKey } : {}) });
    }
    return places;
  }

  /**
   * The queue's state: its record first, then its slots and first entries, so
   * slots are never older than the version an admission will be conditional on.
   */
  async read(place: QueuePlace, maxEntries: number): Promise<QueueState> {
    const pk = queuePk(place);
    const meta = (await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk: META }, ConsistentRead: true }))).Item;
    const [slots, entries] = await Promise.all([this.all(pk, "S#"), this.first(pk, "E#", maxEntries)]);
    return {
      place,
      version: Number(meta?.version ?? 0),
      admissions: ((meta?.admissions as number[] | undefined) ?? []).map(Number),
      ...(meta?.nextWakeAt !== undefined ? { nextWakeAt: Number(meta.nextWakeAt) } : {}),
      entries: entries.map(toEntry),
      slots: slots.map(toSlot),
    };
  }

  /** How many entries wait before this one (stale ones included until the next admission pass drops them). */
  async position(place: QueuePlace, entry: QueueEntry): Promise<number> {
    // The range includes the entry itself.
    return Math.max(0, (await this.count(queuePk(place), "sk BETWEEN :from AND :to", { ":from": "E#", ":to": entrySk(entry) })) - 1);
  }

  /** Counts for a summary: waiting entries and slots (live or not yet seen finished), and the recent admissions. */
  async counts(place: QueuePlace): Promise<{ waiting: number; slots: number; admissions: number[] }> {
    const pk = queuePk(place);
    const prefixed = (prefix: string) => this.count(pk, "begins_with(sk, :from)", { ":from": prefix });
    const [waiting, slots, meta] = await Promise.all([
      prefixed("E#"),
      prefixed("S#"),
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk: META }, ConsistentRead: true })),
    ]);
    return { waiting, slots, admissions: ((meta.Item?.admissions as number[] | undefined) ?? []).map(Number) };
  }

  /** Every entry of a queue partition, in admission order (listings). */
  entries(place: QueuePlace): Promise<Item[]> {
    return this.all(queuePk(place), "E#");
  }

  slots(place: QueuePlace): Promise<Item[]> {
    return this.all(queuePk(place), "S#");
  }

  /** The writes of one admission pass, conditional on the queue's version. */
  admissionItems(args: AdmitArgs & { workflowUpdate: (entry: QueueEntry) => TransactItem }): TransactItem[] {
    const pk = queuePk(args.state.place);
    const table = this.tableName;
    return [
      {
        Update: {
          TableName: table,
          Key: { pk, sk: META },
          ConditionExpression: args.state.version === 0 ? "attribute_not_exists(pk)" : "version = :v",
          UpdateExpression: "SET version = :next, admissions = :admissions, queueName = :queue, #type = :type",
          ExpressionAttributeNames: { "#type": "type" },
          ExpressionAttributeValues: {
            ...(args.state.version === 0 ? {} : { ":v": args.state.version }),
            ":next": args.state.version + 1,
            ":admissions": [...args.admissions],
            ":queue": args.state.place.queueName,
            ":type": "queue",
          },
        },
      },
      ...args.admit.flatMap((entry) => [
        { Delete: { TableName: table, Key: { pk, sk: entrySk(entry) }, ConditionExpression: "attribute_exists(pk)" } },
        {
          Put: {
            TableName: table,
            Item: { pk, sk: slotSk(entry.workflowId), type: "queueSlot", workflowId: entry.workflowId, generation: entry.generation, step: entry.step, admittedAt: args.now },
          },
        },
        args.workflowUpdate(entry),
      ]),
      ...args.free.map((slot) => ({
        Delete: { TableName: table, Key: { pk, sk: slotSk(slot.workflowId) }, ConditionExpression: "generation = :g", ExpressionAttributeValues: { ":g": slot.generation } },
      })),
      ...args.drop.map((entry) => ({ Delete: { TableName: table, Key: { pk, sk: entrySk(entry) } } })),
      // The queue's first admission notes it for listings.
      ...(args.state.version === 0 && args.state.place.partitionKey === undefined ? [{ Put: this.placeItem(args.state.place) }] : []),
    ];
  }

  /** Note that a delayed admission pass is scheduled at `at`, unless one is already, for a later time than now. */
  async scheduleWake(place: QueuePlace, at: number, now: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: queuePk(place), sk: META },
          ConditionExpression: "attribute_not_exists(nextWakeAt) OR nextWakeAt < :now",
          UpdateExpression: "SET nextWakeAt = :at",
          ExpressionAttributeValues: { ":at": at, ":now": now },
        }),
      );
      return true;
    } catch (err) {
      if ((err as { name?: string })?.name === "ConditionalCheckFailedException") return false;
      throw err;
    }
  }

  private count(pk: string, skCondition: string, values: Record<string, string>): Promise<number> {
    return countItems((start) =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: `pk = :pk AND ${skCondition}`,
          ExpressionAttributeValues: { ":pk": pk, ...values },
          Select: "COUNT",
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      ),
    );
  }

  private first(pk: string, prefix: string, limit: number): Promise<Item[]> {
    return this.doc
      .send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": pk, ":prefix": prefix },
          ConsistentRead: true,
          Limit: limit,
        }),
      )
      .then((out) => out.Items ?? []);
  }

  private async all(pk: string, prefix: string): Promise<Item[]> {
    const items: Item[] = [];
    const pages = everyItem((start) =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": pk, ":prefix": prefix },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      ),
    );
    for await (const item of pages) items.push(item);
    return items;
  }
}

export function toEntry(item: Item): QueueEntry {
  return {
    workflowId: String(item.workflowId),
    generation: Number(item.generation),
    step: Number(item.step),
    ...(item.priority !== undefined ? { priority: Number(item.priority) } : {}),
    enqueuedAt: Number(item.enqueuedAt),
  };
}

function toSlot(item: Item): QueueSlot {
  return { workflowId: String(item.workflowId), generation: Number(item.generation), step: Number(item.step), admittedAt: Number(item.admittedAt) };
}
