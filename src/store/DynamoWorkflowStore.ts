import { DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { CANCELLABLE_STATUSES, RESUMABLE_STATUSES, WorkflowStatus } from "../constants.js";
import { ENV, optionalNumberEnv, requireEnv } from "../config.js";
import type { RunningClaim, StepRecord, WorkflowRecord } from "../types.js";
import {
  attemptsAttribute,
  fromWorkflowItem,
  hasInlineInput,
  stepKey,
  toInputItem,
  toStepItem,
  toWorkflowItem,
  workflowKey,
  type Item,
} from "./records.js";
import { DynamoWorkflowReads } from "./DynamoWorkflowReads.js";
import type { Completion, RecordResult, WorkflowStore } from "./WorkflowStore.js";

export interface DynamoWorkflowStoreOptions {
  tableName: string;
  /** A ready client; otherwise one is built from `clientConfig` (endpoint variables apply). */
  client?: DynamoDBClient;
  clientConfig?: DynamoDBClientConfig;
  /** Finished workflows get `expiresAt` = finish time + this, for the table's TTL. */
  retentionSeconds?: number;
}

const MAX_TRANSACTION_ITEMS = 100;

/** The SDK error names that carry a failed condition. */
const isConditionFailure = (err: unknown): boolean => (err as { name?: string })?.name === "ConditionalCheckFailedException";
const cancellationCodes = (err: unknown): string[] | undefined =>
  (err as { name?: string })?.name === "TransactionCanceledException"
    ? ((err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map((r) => r.Code ?? "None")
    : undefined;

/** A values map for `status IN (...)` conditions. */
function statusList(prefix: string, statuses: readonly string[]): { names: string; values: Record<string, string> } {
  const values: Record<string, string> = {};
  statuses.forEach((s, i) => (values[`:${prefix}${i}`] = s));
  return { names: Object.keys(values).join(", "), values };
}

/** The WorkflowStore on one DynamoDB table: the conditional writes here, the reads in DynamoWorkflowReads. */
export class DynamoWorkflowStore extends DynamoWorkflowReads implements WorkflowStore {
  private readonly retentionSeconds: number | undefined;

  /** The store on $CAIRN_TABLE_NAME, with $CAIRN_RETENTION_DAYS for the TTL (endpoint variables apply). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): DynamoWorkflowStore {
    const retentionDays = optionalNumberEnv(ENV.retentionDays, env);
    return new DynamoWorkflowStore({
      tableName: requireEnv(ENV.tableName, env),
      ...(retentionDays !== undefined ? { retentionSeconds: Math.round(retentionDays * 86_400) } : {}),
    });
  }

  constructor(options: DynamoWorkflowStoreOptions) {
    const client = options.client ?? new DynamoDBClient({ maxAttempts: 6, ...options.clientConfig });
    super(options.tableName, DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }));
    this.retentionSeconds = options.retentionSeconds;
  }

  async createWorkflow(
    workflow: WorkflowRecord,
    steps: readonly StepRecord[] = [],
  ): Promise<{ created: true } | { created: false; existing: WorkflowRecord }> {
    // A fork's copied steps go first and the workflow record last, so the workflow
    // never exists without its steps (atomically below 100 items). With more than
    // one transaction, check the id first so no step lands in another's partition.
    if (steps.length > 0) {
      const existing = await this.getWorkflow(workflow.workflowId);
      if (existing) return { created: false, existing };
    }
    const puts = [...steps.map((st) => this.stepItem(st)), ...(hasInlineInput(workflow) ? [] : [toInputItem(workflow)]), toWorkflowItem(workflow)];
    if (puts.length === 1) {
      // The common start: one conditional put (a transaction would cost twice the write units).
      try {
        await this.doc.send(new PutCommand({ TableName: this.tableName, Item: puts[0], ConditionExpression: "attribute_not_exists(pk)" }));
        return { created: true };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        return this.takenBy(workflow.workflowId, err);
      }
    }
    for (let i = 0; i < puts.length; i += MAX_TRANSACTION_ITEMS) {
      const chunk = puts.slice(i, i + MAX_TRANSACTION_ITEMS);
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: chunk.map((Item) => ({
              Put: { TableName: this.tableName, Item, ConditionExpression: "attribute_not_exists(pk)" },
            })),
          }),
        );
      } catch (err) {
        if (!cancellationCodes(err)?.includes("ConditionalCheckFailed")) throw err;
        return this.takenBy(workflow.workflowId, err);
      }
    }
    return { created: true };
  }

  /** The workflow whose id a create found taken; `conflict` again if none is there. */
  private async takenBy(workflowId: string, conflict: unknown): Promise<{ created: false; existing: WorkflowRecord }> {
    const existing = await this.getWorkflow(workflowId);
    if (!existing) throw conflict;
    return { created: false, existing };
  }

  async claimStep(read: WorkflowRecord, claim: RunningClaim, now: number): Promise<WorkflowRecord | undefined> {
    // Status changes only on the first claim (see advanceUpdate on why writes of it cost more).
    const promote = read.status === WorkflowStatus.ENQUEUED;
    return this.claim(read.workflowId, claim, now, {
      // Unchanged since the read: a cancel, resume or rival claim in between wins.
      condition: "version = :v",
      values: { ":v": read.version, ...(promote ? { ":pending": WorkflowStatus.PENDING } : {}) },
      ...(promote ? { set: "#status = :pending, gsiStatus = :pending, ", names: { "#status": "status" } } : {}),
    });
  }

  async claimStepEagerly(args: { workflowId: string; generation: number; claim: RunningClaim; now: number }): Promise<WorkflowRecord | undefined> {
    return this.claim(args.workflowId, args.claim, args.now, {
      // Without a read: the generation is current, the workflow runs and is not
      // cancelled, and no live claim on this step exists (one on an earlier step
      // is dead: a message for step n is only sent once step n-1 is recorded).
      condition:
        "generation = :g AND #status = :pending AND cancelRequested = :false AND " +
        "(attribute_not_exists(running) OR running.#step < :step OR running.#until < :now)",
      values: { ":g": args.generation, ":pending": WorkflowStatus.PENDING, ":false": false, ":step": args.claim.step },
      names: { "#status": "status", "#step": "step", "#until": "until" },
    });
  }

  /**
   * The claim write shared by both claims. Attempts are counted per step in an
   * attribute of their own (ADD), so the count survives crashes and duplicate
   * deliveries without a read; the previous step's counter is dropped.
   */
  private async claim(
    workflowId: string,
    claim: RunningClaim,
    now: number,
    guard: { condition: string; values: Record<string, unknown>; names?: Record<string, string>; set?: string },
  ): Promise<WorkflowRecord | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: workflowKey(workflowId),
          ConditionExpression: guard.condition,
          UpdateExpression: `SET ${guard.set ?? ""}running = :claim, updatedAt = :now, version = version + :one ADD #attempts :one REMOVE retryStep, retryAt, #previous`,
          ExpressionAttributeNames: {
            "#attempts": attemptsAttribute(claim.step),
            "#previous": attemptsAttribute(claim.step - 1),
            ...guard.names,
          },
          ExpressionAttributeValues: { ...guard.values, ":claim": { ...claim, attempt: 0 }, ":now": now, ":one": 1 },
          ReturnValues: "ALL_NEW",
        }),
      );
      return fromWorkflowItem(out.Attributes!, undefined);
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  async recordStep(args: {
    workflowId: string;
    expectedVersion: number;
    step: StepRecord;
    completion?: Completion;
    markPending?: boolean;
    now: number;
  }): Promise<RecordResult> {
    if (!args.completion && !args.markPending) {
      // The common case: one conditional put. The claim left on the workflow record
      // names a step that is now recorded, which makes it dead; the next claim replaces it.
      return (await this.putStepIfAbsent(args.step)) ? "recorded" : "stepExists";
    }
    const input: TransactWriteCommandInput = {
      TransactItems: [
        {
          Put: {
            TableName: this.tableName,
            Item: this.stepItem(args.step),
            ConditionExpression: "attribute_not_exists(pk)",
          },
        },
        { Update: this.advanceUpdate(args.workflowId, args.expectedVersion, args.completion, args.now, args.markPending) },
      ],
    };
    try {
      await this.doc.send(new TransactWriteCommand(input));
      return "recorded";
    } catch (err) {
      const codes = cancellationCodes(err);
      if (!codes) throw err;
      if (codes[1] === "ConditionalCheckFailed") return "workflowChanged";
      if (codes[0] === "ConditionalCheckFailed") return "stepExists";
      throw err;
    }
  }

  putStepIfAbsent(step: StepRecord): Promise<boolean> {
    return this.applies(new PutCommand({ TableName: this.tableName, Item: this.stepItem(step), ConditionExpression: "attribute_not_exists(pk)" }));
  }

  completeWorkflow(args: { workflowId: string; expectedVersion: number; completion: Completion; now: number }): Promise<boolean> {
    return this.applies(new UpdateCommand(this.advanceUpdate(args.workflowId, args.expectedVersion, args.completion, args.now)));
  }

  releaseClaim(args: { workflowId: string; token: string; retry?: { step: number; at: number }; now: number }): Promise<boolean> {
    const retry = args.retry ? ", retryStep = :rs, retryAt = :ra" : "";
    return this.applies(
      new UpdateCommand({
        TableName: this.tableName,
        Key: workflowKey(args.workflowId),
        ConditionExpression: "running.#token = :token",
        UpdateExpression: `SET updatedAt = :now, version = version + :one${retry} REMOVE running`,
        ExpressionAttributeNames: { "#token": "token" },
        ExpressionAttributeValues: {
          ":token": args.token,
          ":now": args.now,
          ":one": 1,
          ...(args.retry ? { ":rs": args.retry.step, ":ra": args.retry.at } : {}),
        },
      }),
    );
  }

  async cancelWorkflow(workflowId: string, now: number): Promise<WorkflowRecord | undefined> {
    const allowed = statusList("c", CANCELLABLE_STATUSES);
    // A workflow that is not cancellable is left as it is; either way, answer with it as it now is.
    await this.applies(
      new UpdateCommand({
        TableName: this.tableName,
        Key: workflowKey(workflowId),
        ConditionExpression: `#status IN (${allowed.names})`,
        UpdateExpression:
          "SET #status = :cancelled, gsiStatus = :cancelled, cancelRequested = :true, updatedAt = :now, version = version + :one" +
          this.expirySet(),
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ...allowed.values,
          ":cancelled": WorkflowStatus.CANCELLED,
          ":true": true,
          ":now": now,
          ":one": 1,
          ...this.expiryValue(now),
        },
      }),
    );
    return this.getWorkflow(workflowId);
  }

  async resumeWorkflow(read: WorkflowRecord, options: { deleteStep?: number; nextStep: number; now: number }): Promise<WorkflowRecord | undefined> {
    const allowed = statusList("r", RESUMABLE_STATUSES);
    const update = {
      TableName: this.tableName,
      Key: workflowKey(read.workflowId),
      ConditionExpression: `version = :v AND #status IN (${allowed.names})`,
      // The running claim stays: a step still in flight from before must finish
      // before the new generation may claim it, so no step runs twice.
      UpdateExpression:
        "SET #status = :enqueued, gsiStatus = :enqueued, generation = :g, cancelRequested = :false, updatedAt = :now, version = :v1 " +
        "REMOVE #output, #error, #attempts, retryStep, retryAt, recoveryReason, lastFailure, expiresAt",
      // The step that runs next starts counting its attempts afresh.
      ExpressionAttributeNames: { "#status": "status", "#output": "output", "#error": "error", "#attempts": attemptsAttribute(options.nextStep) },
      ExpressionAttributeValues: {
        ...allowed.values,
        ":v": read.version,
        ":v1": read.version + 1,
        ":g": read.generation + 1,
        ":enqueued": WorkflowStatus.ENQUEUED,
        ":false": false,
        ":now": options.now,
      },
    };
    try {
      if (options.deleteStep === undefined) {
        await this.doc.send(new UpdateCommand(update));
      } else {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: update },
              { Delete: { TableName: this.tableName, Key: stepKey(read.workflowId, options.deleteStep) } },
            ],
          }),
        );
      }
    } catch (err) {
      if (isConditionFailure(err) || cancellationCodes(err)?.includes("ConditionalCheckFailed")) return undefined;
      throw err;
    }
    const { output: _o, error: _e, retryStep: _rs, retryAt: _ra, recoveryReason: _rr, lastFailure: _lf, expiresAt: _x, ...kept } = read;
    return {
      ...kept,
      status: WorkflowStatus.ENQUEUED,
      generation: read.generation + 1,
      cancelRequested: false,
      updatedAt: options.now,
      version: read.version + 1,
    };
  }

  async recordFailure(args: { workflowId: string; generation: number; error: string }): Promise<void> {
    // A newer generation has its own failures to note: skip it then.
    await this.applies(
      new UpdateCommand({
        TableName: this.tableName,
        Key: workflowKey(args.workflowId),
        ConditionExpression: "generation = :g",
        UpdateExpression: "SET lastFailure = :e",
        ExpressionAttributeValues: { ":g": args.generation, ":e": args.error.slice(0, 2_000) },
      }),
    );
  }

  markRecoveryExceeded(args: { workflowId: string; generation: number; reason: string; now: number }): Promise<boolean> {
    return this.applies(
      new UpdateCommand({
        TableName: this.tableName,
        Key: workflowKey(args.workflowId),
        ConditionExpression: "generation = :g AND #status IN (:enqueued, :pending)",
        UpdateExpression:
          "SET #status = :exceeded, gsiStatus = :exceeded, recoveryReason = :reason, updatedAt = :now, version = version + :one REMOVE running",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":g": args.generation,
          ":enqueued": WorkflowStatus.ENQUEUED,
          ":pending": WorkflowStatus.PENDING,
          ":exceeded": WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
          ":reason": args.reason,
          ":now": args.now,
          ":one": 1,
        },
      }),
    );
  }

  /** Send a conditional write: true if it applied, false if its condition failed. */
  private async applies(command: PutCommand | UpdateCommand): Promise<boolean> {
    try {
      await (command instanceof PutCommand ? this.doc.send(command) : this.doc.send(command));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** The workflow half of recording a step: drop the claim, maybe finish the workflow. */
  private advanceUpdate(workflowId: string, expectedVersion: number, completion: Completion | undefined, now: number, markPending = false) {
    const values: Record<string, unknown> = { ":v": expectedVersion, ":v1": expectedVersion + 1, ":now": now };
    const names: Record<string, string> = {};
    let set = "updatedAt = :now, version = :v1";
    // Status is written only when it changes: it is projected into the listing
    // indexes, and every write of a projected attribute costs a write per index.
    const status = completion?.status ?? (markPending ? WorkflowStatus.PENDING : undefined);
    if (status) {
      names["#status"] = "status";
      values[":status"] = status;
      set += ", #status = :status, gsiStatus = :status";
    }
    if (completion) {
      if (completion.status === WorkflowStatus.SUCCESS) {
        names["#output"] = "output";
        values[":output"] = completion.output;
        set += ", #output = :output";
      } else {
        names["#error"] = "error";
        values[":error"] = completion.error;
        set += ", #error = :error";
      }
      set += this.expirySet();
      Object.assign(values, this.expiryValue(now));
    }
    return {
      TableName: this.tableName,
      Key: workflowKey(workflowId),
      ConditionExpression: "version = :v",
      UpdateExpression: `SET ${set} REMOVE running, retryStep, retryAt`,
      ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
      ExpressionAttributeValues: values,
    };
  }

  /**
   * A step item, with a TTL when retention is set: steps expire `retention` after
   * they were recorded, so a workflow must finish within its retention period.
   */
  private stepItem(step: StepRecord): Item {
    const item = toStepItem(step);
    return this.retentionSeconds === undefined ? item : { ...item, expiresAt: Math.floor(Date.now() / 1000) + this.retentionSeconds };
  }

  private expirySet(): string {
    return this.retentionSeconds === undefined ? "" : ", expiresAt = :expiresAt";
  }

  private expiryValue(now: number): Record<string, number> {
    return this.retentionSeconds === undefined ? {} : { ":expiresAt": Math.floor(now / 1000) + this.retentionSeconds };
  }

}
