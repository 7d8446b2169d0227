import { createHash } from "node:crypto";
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { MailMessage, ReceivedMessage, RecordEffects, WaitChannel, Waiter } from "../types.js";
import { everyItem } from "./queries.js";
import { workflowKey, type Item } from "./records.js";

/**
 * The items through which workflows talk to each other, in the partition of the
 * workflow they belong to, after its steps (lower-case prefixes sort after
 * "STEP#", so the query that loads a workflow's state never reads them):
 *
 *   sk = "child#<childId>"                         a child this workflow started
 *   sk = "msg#<topic>#<sentAt>#<messageId>"        a message waiting to be received
 *   sk = "dedup#<messageId>"                       a client message's idempotency key, once delivered
 *   sk = "event#<key>"                             the latest value of an event
 *   sk = "wait#<channel>#<waiterId>"               a workflow blocked until this one ends, gets a message or sets an event
 *
 * Topics and event keys are user strings of up to 256 characters (1 KB of UTF-8),
 * so keys carry a fixed-length digest of them instead: every prefix query is then
 * exact (no topic's prefix is another's). Items are stamped with the owner's
 * incarnation as the store last saw it, so the reaper deletes them with the rest.
 */
const digest = (text: string): string => createHash("sha256").update(text).digest("base64url").slice(0, 22);
const DEFAULT = "-";
const topicCode = (topic: string | undefined): string => (topic === undefined ? DEFAULT : digest(topic));

const channelCode = (channel: WaitChannel): string =>
  channel.type === "end" ? "end" : channel.type === "message" ? `msg:${topicCode(channel.topic)}` : `event:${digest(channel.key)}`;

const key = (workflowId: string, sk: string): Item => ({ pk: workflowKey(workflowId).pk, sk });
const CHILD_PREFIX = "child#";
const messagePrefix = (topic: string | undefined): string => `msg#${topicCode(topic)}#`;
const messageSk = (m: MailMessage): string => `${messagePrefix(m.topic)}${String(Math.max(0, Math.trunc(m.sentAt))).padStart(15, "0")}#${m.messageId}`;
const waitPrefix = (channel: WaitChannel): string => `wait#${channelCode(channel)}#`;

type Stamp = (workflowId: string) => Promise<Item>;
type TransactItem = Record<string, unknown>;

/** Reads and transaction items of the mailbox items (see above). */
export class Mailboxes {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    /** The incarnation stamp for an item of a workflow's partition. */
    private readonly stamp: Stamp,
  ) {}

  async childItem(parentId: string, childId: string): Promise<Item> {
    return { ...key(parentId, `${CHILD_PREFIX}${childId}`), type: "child", childId, ...(await this.stamp(parentId)) };
  }

  async childrenOf(parentId: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const item of this.query(parentId, CHILD_PREFIX, "childId")) ids.push(String(item.childId));
    return ids;
  }

  async oldestMessage(workflowId: string, topic: string | undefined): Promise<ReceivedMessage | undefined> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": workflowKey(workflowId).pk, ":prefix": messagePrefix(topic) },
        ConsistentRead: true,
        Limit: 1,
      }),
    );
    const item = out.Items?.[0];
    if (!item) return undefined;
    return {
      key: String(item.sk),
      workflowId,
      ...(typeof item.topic === "string" ? { topic: item.topic } : {}),
      payload: String(item.payload),
      sentAt: Number(item.sentAt),
      messageId: String(item.messageId),
    };
  }

  /**
   * The writes that put a message into its receiver's mailbox, only if the
   * receiver exists (the check is left out when the transaction writes the
   * receiver's record anyway: one item may appear once per transaction) and, if
   * `idempotent`, only once.
   */
  async deliverItems(message: MailMessage, idempotent: boolean, checkReceiver = true): Promise<TransactItem[]> {
    const stamp = await this.stamp(message.workflowId);
    const item = {
      ...key(message.workflowId, messageSk(message)),
      type: "message",
      ...(message.topic !== undefined ? { topic: message.topic } : {}),
      payload: message.payload,
      sentAt: message.sentAt,
      messageId: message.messageId,
      ...stamp,
    };
    return [
      ...(checkReceiver
        ? [{ ConditionCheck: { TableName: this.tableName, Key: workflowKey(message.workflowId), ConditionExpression: "attribute_exists(pk)" } }]
        : []),
      ...(idempotent
        ? [{ Put: { TableName: this.tableName, Item: { ...key(message.workflowId, `dedup#${message.messageId}`), type: "dedup", ...stamp }, ConditionExpression: "attribute_not_exists(pk)" } }]
        : []),
      { Put: { TableName: this.tableName, Item: item } },
    ];
  }

  async getEvent(workflowId: string, eventKey: string): Promise<{ value: string; setAt: number } | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key(workflowId, `event#${digest(eventKey)}`), ConsistentRead: true }));
    return out.Item ? { value: String(out.Item.value), setAt: Number(out.Item.setAt) } : undefined;
  }

  async putEvents(workflowId: string, events: readonly { key: string; value: string; setAt: number }[]): Promise<void> {
    for (const event of events) await this.doc.send(new PutCommand(await this.eventPut({ workflowId, ...event })));
  }

  private async eventPut(event: { workflowId: string; key: string; value: string; setAt: number }): Promise<{ TableName: string; Item: Item }> {
    const { workflowId, key: eventKey, value, setAt } = event;
    return { TableName: this.tableName, Item: { ...key(workflowId, `event#${digest(eventKey)}`), type: "event", key: eventKey, value, setAt, ...(await this.stamp(workflowId)) } };
  }

  async putWaiter(target: string, channel: WaitChannel, waiter: Waiter): Promise<Waiter> {
    const sk = `${waitPrefix(channel)}${waiter.workflowId}`;
    const item = { ...key(target, sk), type: "waiter", ...waiter, ...(await this.stamp(target)) };
    try {
      // A registration for another step or generation is stale: replace it. One for this very wait stands, with its `until`.
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: "attribute_not_exists(pk) OR #step <> :step OR generation <> :g",
          ExpressionAttributeNames: { "#step": "step" },
          ExpressionAttributeValues: { ":step": waiter.step, ":g": waiter.generation },
        }),
      );
      return waiter;
    } catch (err) {
      if ((err as { name?: string })?.name !== "ConditionalCheckFailedException") throw err;
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key(target, sk), ConsistentRead: true }));
      return out.Item ? toWaiter(out.Item) : waiter;
    }
  }

  async waitersOf(target: string, channel: WaitChannel): Promise<Waiter[]> {
    const waiters: Waiter[] = [];
    for await (const item of this.query(target, waitPrefix(channel))) waiters.push(toWaiter(item));
    return waiters;
  }

  /** The transaction items of a record's effects, in a fixed order; `updated`: the workflow whose record the transaction also writes. */
  async effectItems(effects: RecordEffects, updated?: string): Promise<TransactItem[]> {
    const items: TransactItem[] = [];
    if (effects.consume) {
      items.push({ Delete: { TableName: this.tableName, Key: key(effects.consume.workflowId, effects.consume.key), ConditionExpression: "attribute_exists(pk)" } });
    }
    if (effects.deliver) items.push(...(await this.deliverItems(effects.deliver, false, effects.deliver.workflowId !== updated)));
    if (effects.setEvent) items.push({ Put: await this.eventPut(effects.setEvent) });
    if (effects.unwait) {
      const { target, channel, waiterId } = effects.unwait;
      items.push({ Delete: { TableName: this.tableName, Key: key(target, `${waitPrefix(channel)}${waiterId}`) } });
    }
    return items;
  }

  private query(workflowId: string, prefix: string, projection?: string): AsyncGenerator<Item> {
    return everyItem((start) =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": workflowKey(workflowId).pk, ":prefix": prefix },
          ...(projection ? { ProjectionExpression: projection } : {}),
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      ),
    );
  }
}

function toWaiter(item: Item): Waiter {
  const { workflowId, step, generation, op, until } = item as unknown as Waiter;
  return { workflowId, step: Number(step), generation: Number(generation), op, ...(until !== undefined ? { until: Number(until) } : {}) };
}
