import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { invalid, LIMITS, WORKFLOW_ID_PATTERN } from "../limits.js";
import type { StepRecord, WorkflowRecord, WorkflowState } from "../types.js";
import {
  belongsTo,
  GSI,
  fromStepItem,
  INCARNATION,
  incarnationOf,
  isWorkflowItem,
  fromWorkflowItem,
  HEADER_SK_PREFIX,
  incarnationStamp,
  inputKey,
  isInputItem,
  isStepItem,
  listSortKey,
  STEP_SK_PREFIX,
  stepKey,
  WORKFLOW_RECORD_SK,
  workflowKey,
  type Item,
} from "./records.js";
import { decodePageToken, encodePageToken, isAfterStep, isRecord, queryFingerprint } from "./pageToken.js";
import { everyItem } from "./queries.js";
import { Mailboxes } from "./mailboxes.js";
import type { ListWorkflowsQuery, Page } from "./WorkflowStore.js";

const MAX_BATCH_GET = 100;
/** Incarnations remembered for the steps this process records (see `incarnations`). */
const REMEMBERED_INCARNATIONS = 10_000;
/** Past every step key: they are STEP# and ten digits. */
const AFTER_LAST_STEP = `${STEP_SK_PREFIX}~`;
/** Workflows fetched per round while a listing page fills up (two keys each: record and input). */
const FETCH_ROUND = MAX_BATCH_GET / 2;
/** The listing indexes' sort keys are 15-digit creation times: the largest one. */
const MAX_SORT_TIME = 999_999_999_999_999;

/** A page of a listing; `sizeLimited` when it ended before `limit` because its values reached `LIMITS.pageBytes`. */
export interface WorkflowPage extends Page<WorkflowRecord> {
  sizeLimited?: true;
}

/** Where a listing goes on: after this workflow (its id and index sort key). */
interface AfterWorkflow {
  id: string;
  sort: string;
}

/**
 * The reading half of the DynamoDB store: one workflow's state in one
 * consistent query, step pages, and listings through the keys-only indexes.
 */
export class DynamoWorkflowReads {
  /**
   * The incarnation of each workflow as this process last read or wrote its record,
   * which the steps it records are stamped with (see records.ts). The worker always
   * reads a workflow (loadState, a claim) before it records a step of it, and an id
   * gets a new incarnation only once its record has expired, long after its last
   * step, so the last read is the incarnation the step belongs to.
   */
  protected readonly incarnations = new Map<string, string | undefined>();

  /** Children, messages, events and waiters (see mailboxes.ts), stamped with their owner's incarnation. */
  protected readonly mailboxes: Mailboxes;

  constructor(
    readonly tableName: string,
    protected readonly doc: DynamoDBDocumentClient,
  ) {
    this.mailboxes = new Mailboxes(doc, tableName, async (id) => incarnationStamp(await this.incarnationOf(id)));
  }

  /** The incarnation of a workflow: as last read (the worker reads before it records), else read now. */
  protected async incarnationOf(workflowId: string): Promise<string | undefined> {
    if (!this.incarnations.has(workflowId)) await this.getWorkflow(workflowId);
    return this.incarnations.get(workflowId);
  }

  /** Remember the incarnation of a workflow record just read or written. */
  protected noteIncarnation(workflowId: string, record: Item): void {
    this.incarnations.delete(workflowId);
    if (this.incarnations.size >= REMEMBERED_INCARNATIONS) this.incarnations.delete(this.incarnations.keys().next().value!);
    this.incarnations.set(workflowId, incarnationOf(record));
  }

  async getWorkflow(workflowId: string): Promise<WorkflowRecord | undefined> {
    // The record and its input, not the steps: one consistent query of the "#" items.
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": workflowKey(workflowId).pk, ":prefix": HEADER_SK_PREFIX },
        ConsistentRead: true,
      }),
    );
    const items = out.Items ?? [];
    const record = items.find((i) => !isInputItem(i));
    if (!record) return undefined;
    this.noteIncarnation(workflowId, record);
    return fromWorkflowItem(record, items.find(isInputItem));
  }

  async loadState(workflowId: string): Promise<WorkflowState | undefined> {
    let workflowItem: Item | undefined;
    let inputItem: Item | undefined;
    const stepItems: Item[] = [];
    const partition = everyItem((start) =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          // The header and the steps, not the mailbox items that sort after them (see mailboxes.ts).
          KeyConditionExpression: "pk = :pk AND sk BETWEEN :header AND :last",
          ExpressionAttributeValues: { ":pk": workflowKey(workflowId).pk, ":header": HEADER_SK_PREFIX, ":last": AFTER_LAST_STEP },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      ),
    );
    for await (const item of partition) {
      if (isStepItem(item)) stepItems.push(item);
      else if (isInputItem(item)) inputItem = item;
      else workflowItem = item;
    }
    if (!workflowItem) return undefined;
    this.noteIncarnation(workflowId, workflowItem);
    // Steps an expired incarnation of this id left behind are not this workflow's.
    const record = workflowItem;
    const steps = stepItems.filter((item) => belongsTo(item, record)).map(fromStepItem);
    return { workflow: fromWorkflowItem(workflowItem, inputItem), steps };
  }

  async countSteps(workflowId: string): Promise<number> {
    // The record and the steps' keys and stamps, in one query (the record sorts first), so
    // steps left by an expired incarnation are not counted. It reads what a COUNT query would,
    // plus the record.
    let count = 0;
    let record: Item | undefined;
    const keys = everyItem((start) =>
      this.doc.send(
        new QueryCommand({
          ...this.recordAndStepsQuery(workflowId),
          ProjectionExpression: "sk, #inc",
          ExpressionAttributeNames: { "#inc": INCARNATION },
          ExclusiveStartKey: start,
        }),
      ),
    );
    for await (const item of keys) {
      if (isWorkflowItem(item)) record = item;
      else if (record && belongsTo(item, record)) count++;
    }
    return count;
  }

  async listSteps(workflowId: string, options: { limit?: number; nextToken?: string } = {}): Promise<Page<StepRecord>> {
    const fingerprint = queryFingerprint([this.tableName, "steps", workflowId]);
    const after = decodePageToken(options.nextToken, fingerprint, isAfterStep);
    const limit = pageSize(options.limit);
    // The first page starts at the record (one more item), which says which steps are this
    // incarnation's; a later page reads the record's stamp alongside.
    const [out, record] = await Promise.all([
      this.doc.send(
        new QueryCommand({
          ...this.recordAndStepsQuery(workflowId),
          Limit: after ? limit : limit + 1,
          ...(after ? { ExclusiveStartKey: stepKey(workflowId, after.after) } : {}),
        }),
      ),
      after ? this.recordStamp(workflowId) : undefined,
    ]);
    const header = record ?? (out.Items ?? []).find(isWorkflowItem);
    const items = (out.Items ?? []).filter((item) => isStepItem(item) && header !== undefined && belongsTo(item, header)).map(fromStepItem);
    // Go on after the last step read (which a foreign step filtered out may be).
    const lastKey = out.LastEvaluatedKey?.sk;
    const last = lastKey !== undefined ? Number(String(lastKey).slice(STEP_SK_PREFIX.length)) : items.at(-1)?.functionId;
    return {
      items,
      ...(out.LastEvaluatedKey && Number.isSafeInteger(last) ? { nextToken: encodePageToken(fingerprint, { after: last }) } : {}),
    };
  }

  /**
   * A page of workflows from a keys-only index, then their records and inputs.
   * The page holds at most `limit` workflows and stops before their size reaches
   * `LIMITS.pageBytes` (at least one workflow), so a control answer stays under
   * Lambda's 6 MB whatever the inputs and outputs; its token goes on after the
   * last workflow it holds.
   */
  async listWorkflows(query: ListWorkflowsQuery): Promise<WorkflowPage> {
    if (query.parentWorkflowId !== undefined) return this.listChildren(query, query.parentWorkflowId);
    const limit = pageSize(query.limit);
    const index = query.name !== undefined ? GSI.byName : query.status !== undefined ? GSI.byStatus : GSI.byCreated;
    const partition = query.name ?? query.status ?? "WORKFLOW";
    const lo = listSortKey(Math.min(query.startTime ?? 0, MAX_SORT_TIME), "");
    const hi = `${listSortKey(Math.min(query.endTime ?? MAX_SORT_TIME, MAX_SORT_TIME), "")}~`;
    const statusFilter = query.name !== undefined && query.status !== undefined ? query.status : undefined;
    // The token is valid only for this very query: same table, index, partition, filter, bounds and order.
    const fingerprint = queryFingerprint([this.tableName, index.indexName, partition, statusFilter ?? null, lo, hi, query.sortDesc === true]);
    const isPosition = (p: unknown): p is AfterWorkflow =>
      isRecord(p) &&
      Object.keys(p).length === 2 &&
      typeof p.id === "string" &&
      WORKFLOW_ID_PATTERN.test(p.id) &&
      typeof p.sort === "string" &&
      p.sort.endsWith(`#${p.id}`) &&
      p.sort >= lo &&
      p.sort <= hi;
    const after = decodePageToken(query.nextToken, fingerprint, isPosition);

    const values: Record<string, unknown> = { ":p": partition, ":lo": lo, ":hi": hi };
    const names: Record<string, string> = { "#p": index.partitionKey, "#s": GSI.sortKey };
    const input: QueryCommandInput = {
      TableName: this.tableName,
      IndexName: index.indexName,
      KeyConditionExpression: "#p = :p AND #s BETWEEN :lo AND :hi",
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ScanIndexForward: !query.sortDesc,
    };
    if (statusFilter !== undefined) {
      input.FilterExpression = "#status = :status";
      names["#status"] = GSI.byStatus.partitionKey;
      values[":status"] = statusFilter;
    }
    // A filter applies after Limit, so read on until the page is full, and page on
    // the last item returned (not DynamoDB's last evaluated key) so nothing is skipped.
    const keys: Item[] = [];
    let start: Record<string, unknown> | undefined = after
      ? { ...workflowKey(after.id), [index.partitionKey]: partition, [GSI.sortKey]: after.sort }
      : undefined;
    let more = true;
    while (keys.length < limit && more) {
      const out = await this.doc.send(new QueryCommand({ ...input, Limit: limit - keys.length, ExclusiveStartKey: start }));
      keys.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
      more = start !== undefined;
    }

    // Fetch the records a round at a time, and stop once the page's size budget is spent.
    const items: WorkflowRecord[] = [];
    let bytes = 0;
    let taken = 0;
    let sizeLimited = false;
    for (let i = 0; i < keys.length && !sizeLimited; i += FETCH_ROUND) {
      const round = keys.slice(i, i + FETCH_ROUND);
      const records = await this.batchGetWorkflows(round.map(idOf));
      for (const key of round) {
        // A workflow deleted (TTL) between the query and the fetch is left out.
        const record = records.get(idOf(key));
        if (record) {
          const size = recordBytes(record);
          if (items.length > 0 && bytes + size > LIMITS.pageBytes) {
            sizeLimited = true;
            break;
          }
          items.push(record);
          bytes += size;
        }
        taken++;
      }
    }
    const last = keys[taken - 1];
    const nextToken =
      (sizeLimited || more) && last ? encodePageToken(fingerprint, { id: idOf(last), sort: String(last[GSI.sortKey]) }) : undefined;
    return { items, ...(nextToken ? { nextToken } : {}), ...(sizeLimited ? { sizeLimited: true as const } : {}) };
  }

  /**
   * A page of a workflow's children: its child registry (read consistently, so a
   * child just started is listed), their records, the other filters applied, in
   * creation order. Pages on the last child listed, as listWorkflows does.
   */
  private async listChildren(query: ListWorkflowsQuery, parentId: string): Promise<WorkflowPage> {
    const limit = pageSize(query.limit);
    const fingerprint = queryFingerprint([this.tableName, "children", parentId, query.name ?? null, query.status ?? null, query.startTime ?? null, query.endTime ?? null, query.sortDesc === true]);
    const isPosition = (p: unknown): p is AfterWorkflow =>
      isRecord(p) && Object.keys(p).length === 2 && typeof p.id === "string" && typeof p.sort === "string" && p.sort.endsWith(`#${p.id}`);
    const after = decodePageToken(query.nextToken, fingerprint, isPosition);
    const ids = await this.mailboxes.childrenOf(parentId);
    const records = [...(await this.getWorkflows(ids)).values()];
    const sortOf = (r: WorkflowRecord): string => listSortKey(r.createdAt, r.workflowId);
    const matching = records
      .filter(
        (r) =>
          (query.name === undefined || r.name === query.name) &&
          (query.status === undefined || r.status === query.status) &&
          r.createdAt >= (query.startTime ?? 0) &&
          r.createdAt <= (query.endTime ?? Infinity) &&
          (!after || (query.sortDesc ? sortOf(r) < after.sort : sortOf(r) > after.sort)),
      )
      .sort((a, b) => (sortOf(a) < sortOf(b) ? -1 : 1) * (query.sortDesc ? -1 : 1));
    const items: WorkflowRecord[] = [];
    let bytes = 0;
    for (const record of matching) {
      if (items.length >= limit || (items.length > 0 && bytes + recordBytes(record) > LIMITS.pageBytes)) break;
      items.push(record);
      bytes += recordBytes(record);
    }
    const last = items.at(-1);
    const more = items.length < matching.length;
    const sizeLimited = more && items.length < limit;
    return {
      items,
      ...(more && last ? { nextToken: encodePageToken(fingerprint, { id: last.workflowId, sort: sortOf(last) }) } : {}),
      ...(sizeLimited ? { sizeLimited: true as const } : {}),
    };
  }

  /**
   * Workflows (record and input) by id, read consistently (the admitter frees slots
   * and drops entries on what it reads); deleted ones are missing from the map.
   */
  async getWorkflows(workflowIds: readonly string[]): Promise<Map<string, WorkflowRecord>> {
    const records = new Map<string, WorkflowRecord>();
    // BatchGetItem refuses a request that names one key twice.
    const ids = [...new Set(workflowIds)];
    for (let i = 0; i < ids.length; i += FETCH_ROUND) {
      for (const [id, record] of await this.batchGetWorkflows(ids.slice(i, i + FETCH_ROUND))) records.set(id, record);
    }
    return records;
  }

  /** Fetch workflows (record and input) by id (indexes hold keys only); deleted ones are missing from the map. */
  private async batchGetWorkflows(workflowIds: readonly string[]): Promise<Map<string, WorkflowRecord>> {
    const items = new Map<string, Item>();
    const keys = workflowIds.flatMap((id) => [workflowKey(id), inputKey(id)]);
    for (let i = 0; i < keys.length; i += MAX_BATCH_GET) {
      let pending: Item[] | undefined = keys.slice(i, i + MAX_BATCH_GET);
      for (let round = 0; pending?.length; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** round)));
        const out = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }));
        for (const item of out.Responses?.[this.tableName] ?? []) items.set(`${String(item.pk)}|${String(item.sk)}`, item);
        pending = out.UnprocessedKeys?.[this.tableName]?.Keys as Item[] | undefined;
      }
    }
    const records = new Map<string, WorkflowRecord>();
    for (const id of workflowIds) {
      const wf = workflowKey(id);
      const input = inputKey(id);
      const record = items.get(`${wf.pk}|${wf.sk}`);
      if (record) records.set(id, fromWorkflowItem(record, items.get(`${input.pk}|${input.sk}`)));
    }
    return records;
  }

  /** The workflow record and its steps ("#WF" sorts just before "STEP#"), read consistently. */
  private recordAndStepsQuery(workflowId: string): QueryCommandInput {
    return {
      TableName: this.tableName,
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :record AND :last",
      ExpressionAttributeValues: { ":pk": workflowKey(workflowId).pk, ":record": WORKFLOW_RECORD_SK, ":last": AFTER_LAST_STEP },
      ConsistentRead: true,
    };
  }

  /** The record's key and incarnation stamp alone, or undefined if there is no record. */
  private async recordStamp(workflowId: string): Promise<Item | undefined> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: "pk = :pk AND sk = :record",
        ExpressionAttributeValues: { ":pk": workflowKey(workflowId).pk, ":record": WORKFLOW_RECORD_SK },
        ProjectionExpression: "sk, #inc",
        ExpressionAttributeNames: { "#inc": INCARNATION },
        ConsistentRead: true,
      }),
    );
    return out.Items?.[0];
  }
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return LIMITS.listLimitDefault;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.listLimitMax) {
    throw invalid("limit", `limit must be an integer between 1 and ${LIMITS.listLimitMax}, got ${String(limit).slice(0, LIMITS.echoedValueChars)}`);
  }
  return limit;
}

const idOf = (key: Item): string => String(key.pk).slice("WF#".length);

/**
 * About the bytes a workflow takes in a control answer: its values are
 * answered as the JSON they are stored as, the other fields are small.
 */
function recordBytes(record: WorkflowRecord): number {
  const { input, output, ...rest } = record;
  return Buffer.byteLength(input, "utf8") + (output === undefined ? 0 : Buffer.byteLength(output, "utf8")) + Buffer.byteLength(JSON.stringify(rest), "utf8");
}
