import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { ValidationError } from "../errors.js";
import type { StepRecord, WorkflowRecord, WorkflowState } from "../types.js";
import {
  GSI,
  fromStepItem,
  fromWorkflowItem,
  HEADER_SK_PREFIX,
  inputKey,
  isInputItem,
  isStepItem,
  listSortKey,
  STEP_SK_PREFIX,
  workflowKey,
  type Item,
} from "./records.js";
import type { ListWorkflowsQuery, Page } from "./WorkflowStore.js";

const MAX_BATCH_GET = 100;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/**
 * The reading half of the DynamoDB store: one workflow's state in one
 * consistent query, step pages, and listings through the keys-only indexes.
 */
export class DynamoWorkflowReads {
  constructor(
    readonly tableName: string,
    protected readonly doc: DynamoDBDocumentClient,
  ) {}

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
    return record ? fromWorkflowItem(record, items.find(isInputItem)) : undefined;
  }

  async loadState(workflowId: string): Promise<WorkflowState | undefined> {
    let workflowItem: Item | undefined;
    let inputItem: Item | undefined;
    const steps: StepRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": workflowKey(workflowId).pk },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        if (isStepItem(item)) steps.push(fromStepItem(item));
        else if (isInputItem(item)) inputItem = item;
        else workflowItem = item;
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return workflowItem ? { workflow: fromWorkflowItem(workflowItem, inputItem), steps } : undefined;
  }

  async countSteps(workflowId: string): Promise<number> {
    let count = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          ...this.stepsQuery(workflowId),
          Select: "COUNT",
          ExclusiveStartKey: start,
        }),
      );
      count += out.Count ?? 0;
      start = out.LastEvaluatedKey;
    } while (start);
    return count;
  }

  async listSteps(workflowId: string, options: { limit?: number; nextToken?: string } = {}): Promise<Page<StepRecord>> {
    const out = await this.doc.send(
      new QueryCommand({
        ...this.stepsQuery(workflowId),
        Limit: pageSize(options.limit),
        ExclusiveStartKey: decodeToken(options.nextToken),
      }),
    );
    return {
      items: (out.Items ?? []).map(fromStepItem),
      ...(out.LastEvaluatedKey ? { nextToken: encodeToken(out.LastEvaluatedKey) } : {}),
    };
  }

  async listWorkflows(query: ListWorkflowsQuery): Promise<Page<WorkflowRecord>> {
    const limit = pageSize(query.limit);
    const index = query.name !== undefined ? GSI.byName : query.status !== undefined ? GSI.byStatus : GSI.byCreated;
    const partition = query.name ?? query.status ?? "WORKFLOW";
    const values: Record<string, unknown> = {
      ":p": partition,
      ":lo": listSortKey(query.startTime ?? 0, ""),
      ":hi": `${listSortKey(query.endTime ?? 999_999_999_999_999, "")}~`,
    };
    const names: Record<string, string> = { "#p": index.partitionKey, "#s": GSI.sortKey };
    const input: QueryCommandInput = {
      TableName: this.tableName,
      IndexName: index.indexName,
      KeyConditionExpression: "#p = :p AND #s BETWEEN :lo AND :hi",
      ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
      ExpressionAttributeValues: values,
      ScanIndexForward: !query.sortDesc,
    };
    if (query.name !== undefined && query.status !== undefined) {
      input.FilterExpression = "#status = :status";
      names["#status"] = GSI.byStatus.partitionKey;
      values[":status"] = query.status;
    }
    // A filter applies after Limit, so read on until the page is full, and page on
    // the last item returned (not DynamoDB's last evaluated key) so nothing is skipped.
    const keys: Item[] = [];
    let start = decodeToken(query.nextToken);
    let more = true;
    while (keys.length < limit && more) {
      const out = await this.doc.send(new QueryCommand({ ...input, Limit: limit - keys.length, ExclusiveStartKey: start }));
      keys.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
      more = start !== undefined;
    }
    const last = keys.at(-1);
    const nextToken =
      more && last
        ? encodeToken({ pk: last.pk, sk: last.sk, [index.partitionKey]: partition, [GSI.sortKey]: last[GSI.sortKey] })
        : undefined;
    const items = await this.batchGetWorkflows(keys.map((k) => String(k.pk).slice(3)));
    return { items, ...(nextToken ? { nextToken } : {}) };
  }

  /** Fetch workflows (record and input) by id, in the order given (indexes hold keys only). */
  private async batchGetWorkflows(workflowIds: string[]): Promise<WorkflowRecord[]> {
    const items = new Map<string, Item>();
    const keys = workflowIds.flatMap((id) => [workflowKey(id), inputKey(id)]);
    for (let i = 0; i < keys.length; i += MAX_BATCH_GET) {
      let pending: Item[] | undefined = keys.slice(i, i + MAX_BATCH_GET);
      for (let round = 0; pending?.length; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** round)));
        const out = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending } } }));
        for (const item of out.Responses?.[this.tableName] ?? []) items.set(`${String(item.pk)}|${String(item.sk)}`, item);
        pending = out.UnprocessedKeys?.[this.tableName]?.Keys as Item[] | undefined;
      }
    }
    // A workflow deleted (TTL) between the query and the fetch is left out.
    return workflowIds.flatMap((id) => {
      const wf = workflowKey(id);
      const input = inputKey(id);
      const record = items.get(`${wf.pk}|${wf.sk}`);
      return record ? [fromWorkflowItem(record, items.get(`${input.pk}|${input.sk}`))] : [];
    });
  }

  private stepsQuery(workflowId: string): QueryCommandInput {
    return {
      TableName: this.tableName,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": workflowKey(workflowId).pk, ":prefix": STEP_SK_PREFIX },
      ConsistentRead: true,
    };
  }
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new ValidationError(`limit must be an integer between 1 and ${MAX_PAGE}, got ${String(limit)}`);
  }
  return limit;
}

function encodeToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

function decodeToken(token: string | undefined): Record<string, unknown> | undefined {
  if (token === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (key && typeof key === "object" && !Array.isArray(key) && typeof (key as { pk?: unknown }).pk === "string") {
      return key as Record<string, unknown>;
    }
  } catch {
    // fall through to the error below
  }
  throw new ValidationError(`nextToken ${JSON.stringify(token)} is not a token this listing returned`);
}
