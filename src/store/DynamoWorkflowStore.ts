import { randomBytes, randomUUID } from "node:crypto";
import { DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { CANCELLABLE_STATUSES, RESUMABLE_STATUSES, WorkflowStatus } from "../constants.js";
import { ENV, optionalNumberEnv, requireEnv } from "../config.js";
import { awsClientSettings } from "../awsEnv.js";
import type { MailMessage, QueueEntry, QueuePlace, RunningClaim, StepRecord, WaitChannel, Waiter, WorkflowRecord } from "../types.js";
import { dedupKey, QueueItems, toEntry } from "./queueItems.js";
import type { AdmitArgs, EnqueueResult } from "./QueueStore.js";
import {
  attemptsAttribute,
  fromWorkflowItem,
  hasInlineInput,
  INCARNATION,
  toInputItem,
  toStepItem,
  toWorkflowItem,
  STEP_SK_PREFIX,
  workflowKey,
  type Item,
} from "./records.js";
import { DynamoWorkflowReads } from "./DynamoWorkflowReads.js";
import { statusList } from "./queries.js";
import { chunkItems, FORK_TOKEN, StepCopies } from "./stepCopies.js";
import type {
  Completion,
  CreateChildResult,
  EagerClaimArgs,
  RecordResult,
  RecordStepArgs,
  ReleaseClaimArgs,
  ResumeOptions,
  WorkflowStore,
} from "./WorkflowStore.js";

export interface DynamoWorkflowStoreOptions {
  tableName: string;
  /** A ready client; otherwise one is built from `clientConfig` (endpoint variables apply). */
  client?: DynamoDBClient;
  clientConfig?: DynamoDBClientConfig;
  /**
   * A workflow record that enters a finished status (SUCCESS, ERROR, CANCELLED,
   * MAX_RECOVERY_ATTEMPTS_EXCEEDED) gets `expiresAt` = that moment + this, for the
   * table's TTL; a resume removes it. Nothing else carries a TTL: the reaper deletes
   * the rest of an expired workflow (see ExpiredWorkflowReaper).
   * @default - no expiry
   */
  retentionSeconds?: number;
}

const MAX_TRANSACTION_ITEMS = 100;

/** A new incarnation's stamp (see records.ts): 72 random bits. */
const newIncarnation = (): string => randomBytes(9).toString("base64url");

/** The SDK error names that carry a failed condition. */
const isConditionFailure = (err: unknown): boolean => (err as { name?: string })?.name === "ConditionalCheckFailedException";
/** A transaction that lost to a condition or to a concurrent transaction on one of its items. */
const isRaceLost = (err: unknown): boolean => {
  const codes = cancellationCodes(err);
  return (codes?.some((c) => c === "ConditionalCheckFailed" || c === "TransactionConflict") ?? false) || (err as { name?: string })?.name === "TransactionConflictException";
};
const cancellationCodes = (err: unknown): string[] | undefined =>
  (err as { name?: string })?.name === "TransactionCanceledException"
    ? ((err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map((r) => r.Code ?? "None")
    : undefined;

/** The step number of a step item's key. */
const stepOf = (key: Item): number => Number(String(key.sk).slice(STEP_SK_PREFIX.length));

/** The WorkflowStore on one DynamoDB table: the conditional writes here, the reads in DynamoWorkflowReads. */
export class DynamoWorkflowStore extends DynamoWorkflowReads implements WorkflowStore {
  private readonly retentionSeconds: number | undefined;
  /** Copies of forked steps, and the cleaning of what interrupted forks left (see stepCopies.ts). */
  private readonly stepCopies = new StepCopies(this.doc, this.tableName);
  private readonly queues = new QueueItems(this.doc, this.tableName);

  /** The store on $CAIRN_TABLE_NAME, with $CAIRN_RETENTION_DAYS for the TTL; endpoint, region and credentials from `env` (see awsClientSettings). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): DynamoWorkflowStore {
    const retentionDays = optionalNumberEnv(ENV.retentionDays, env);
    return new DynamoWorkflowStore({
      tableName: requireEnv(ENV.tableName, env),
      // From `env`, not the SDK's own reading of process.env: an explicit environment wins.
      clientConfig: awsClientSettings("DYNAMODB", env),
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
    // The timeline of a fork (a start is steps 3 and 4):
    //  1. the id must be free;
    //  2. the copies go in, in transactions within DynamoDB's limits, each re-checking that
    //     the workflow record is absent; stamped with this attempt's token, as plain puts
    //     that overwrite whatever an interrupted attempt left;
    //  3. the workflow record (with its input) goes in last, conditionally: only now is
    //     the id taken, so a fork that dies before this leaves no workflow;
    //  4. the partition is settled before anyone may send the first message: stamped
    //     steps that are not this workflow's are deleted (a start with the id of a fork
    //     that died in 2 starts clean), copies a rival attempt overwrote are put back.
    const token = randomUUID();
    const incarnation = newIncarnation();
    const copies = steps.map((st) => ({ ...toStepItem(st, incarnation), [FORK_TOKEN]: token }));
    for (let round = 1; ; round++) {
      if (copies.length > 0) {
        const existing = await this.getWorkflow(workflow.workflowId);
        if (existing) return this.taken(existing);
        if (!(await this.stepCopies.copy(workflow.workflowId, copies))) {
          const taken = await this.takenBy(workflow.workflowId);
          if (taken) return taken;
          // Taken, and gone again (TTL) before we could read it: start over.
          if (round >= 3) throw new Error(`Workflow id "${workflow.workflowId}" was taken and freed again while it was being created; try again`);
          continue;
        }
      }
      // The input item has no condition: the record's condition guards both.
      const items = [...(hasInlineInput(workflow) ? [] : [toInputItem(workflow, incarnation)]), toWorkflowItem(workflow, incarnation)];
      try {
        if (items.length === 1) {
          // The common start: one conditional put (a transaction would cost twice the write units).
          await this.doc.send(new PutCommand({ TableName: this.tableName, Item: items[0], ConditionExpression: "attribute_not_exists(pk)" }));
        } else {
          await this.doc.send(
            new TransactWriteCommand({
              TransactItems: items.map((Item) => ({
                Put: { TableName: this.tableName, Item, ...(Item.sk === workflowKey(workflow.workflowId).sk ? { ConditionExpression: "attribute_not_exists(pk)" } : {}) },
              })),
            }),
          );
        }
      } catch (err) {
        if (!isConditionFailure(err) && !cancellationCodes(err)?.includes("ConditionalCheckFailed")) throw err;
        const taken = await this.takenBy(workflow.workflowId);
        if (taken) return taken;
        if (round >= 3) throw err;
        continue;
      }
      this.noteIncarnation(workflow.workflowId, { [INCARNATION]: incarnation });
      // One query of the partition: what an interrupted fork or an expired incarnation of
      // this id left is deleted before the first message can go out.
      await this.stepCopies.settle(workflow.workflowId, { copies, token, incarnation, withInput: hasInlineInput(workflow) });
      return { created: true };
    }
  }

  /** The workflow whose id a create found taken, or undefined if it is gone again. */
  private async takenBy(workflowId: string): Promise<{ created: false; existing: WorkflowRecord } | undefined> {
    const existing = await this.getWorkflow(workflowId);
    return existing ? this.taken(existing) : undefined;
  }

  /**
   * A create found the id taken by `existing`. If that workflow never ran (ENQUEUED,
   * never claimed), its creator may have died between writing it and settling its
   * partition, and the caller may now send its first message: settle it first.
   */
  private async taken(existing: WorkflowRecord): Promise<{ created: false; existing: WorkflowRecord }> {
    if (existing.status === WorkflowStatus.ENQUEUED && existing.version === 0) {
      await this.stepCopies.settle(existing.workflowId, {
        keepBelow: existing.forkedFrom?.startStep ?? 1,
        incarnation: this.incarnations.get(existing.workflowId),
        withInput: hasInlineInput(existing),
      });
    }
    return { created: false, existing };
  }

  async createChildWorkflow(child: WorkflowRecord, parent: { workflowId: string; generation: number }): Promise<CreateChildResult> {
    const incarnation = newIncarnation();
    const running = statusList("r", [WorkflowStatus.ENQUEUED, WorkflowStatus.PENDING]);
    // The parent's check, the child and its registration with the parent go in together:
    // a cancel of the parent (which then reads its registry) and the child's start are
    // ordered, so the cancel either finds the child or the child is never created.
    const items = [
      {
        ConditionCheck: {
          TableName: this.tableName,
          Key: workflowKey(parent.workflowId),
          ConditionExpression: `generation = :g AND cancelRequested = :false AND #status IN (${running.names})`,
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ...running.values, ":g": parent.generation, ":false": false },
        },
      },
      { Put: { TableName: this.tableName, Item: toWorkflowItem(child, incarnation), ConditionExpression: "attribute_not_exists(pk)" } },
      { Put: { TableName: this.tableName, Item: await this.mailboxes.childItem(parent.workflowId, child.workflowId) } },
      ...(hasInlineInput(child) ? [] : [{ Put: { TableName: this.tableName, Item: toInputItem(child, incarnation) } }]),
    ];
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      const codes = cancellationCodes(err);
      if (codes?.[0] === "ConditionalCheckFailed") return { parentInactive: true };
      if (codes?.[1] !== "ConditionalCheckFailed") throw err;
      const existing = await this.getWorkflow(child.workflowId);
      if (!existing) throw new Error(`Child workflow id "${child.workflowId}" was taken and freed again while it was being created; try again`);
      return this.taken(existing);
    }
    this.noteIncarnation(child.workflowId, { [INCARNATION]: incarnation });
    await this.stepCopies.settle(child.workflowId, { incarnation, withInput: hasInlineInput(child) });
    return { created: true };
  }

  childrenOf(workflowId: string): Promise<string[]> {
    return this.mailboxes.childrenOf(workflowId);
  }

  oldestMessage(workflowId: string, topic: string | undefined) {
    return this.mailboxes.oldestMessage(workflowId, topic);
  }

  async deliverMessage(message: MailMessage, options: { idempotent?: boolean } = {}): Promise<"delivered" | "duplicate" | "notFound"> {
    // The receiver's incarnation, for the stamp (and an early answer for an unknown id).
    if (!(await this.getWorkflow(message.workflowId))) return "notFound";
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: await this.mailboxes.deliverItems(message, options.idempotent === true) }));
      return "delivered";
    } catch (err) {
      const codes = cancellationCodes(err);
      if (codes?.[0] === "ConditionalCheckFailed") return "notFound";
      if (options.idempotent && codes?.[1] === "ConditionalCheckFailed") return "duplicate";
      throw err;
    }
  }

  putEvents(workflowId: string, events: readonly { key: string; value: string; setAt: number }[]): Promise<void> {
    return this.mailboxes.putEvents(workflowId, events);
  }

  getEvent(workflowId: string, key: string) {
    return this.mailboxes.getEvent(workflowId, key);
  }

  putWaiter(target: string, channel: WaitChannel, waiter: Waiter): Promise<Waiter> {
    return this.mailboxes.putWaiter(target, channel, waiter);
  }

  waitersOf(target: string, channel: WaitChannel): Promise<Waiter[]> {
    return this.mailboxes.waitersOf(target, channel);
  }

  async enqueueWorkflow(workflow: WorkflowRecord, entry: QueueEntry): Promise<EnqueueResult> {
    const place: QueuePlace = { queueName: workflow.queueName!, ...(workflow.partitionKey !== undefined ? { partitionKey: workflow.partitionKey } : {}) };
    const incarnation = newIncarnation();
    const dedup = workflow.deduplicationId !== undefined ? dedupKey(place.queueName, workflow.deduplicationId) : undefined;
    for (let round = 1; ; round++) {
      // The record first (its failure is a taken id), the deduplication claim last.
      const items = [
        { Put: { TableName: this.tableName, Item: toWorkflowItem(workflow, incarnation), ConditionExpression: "attribute_not_exists(pk)" } },
        ...(hasInlineInput(workflow) ? [] : [{ Put: { TableName: this.tableName, Item: toInputItem(workflow, incarnation) } }]),
        this.queues.entryPut(place, entry),
        ...(dedup
          ? [{ Put: { TableName: this.tableName, Item: { ...dedup, type: "queueDedup", workflowId: workflow.workflowId }, ConditionExpression: "attribute_not_exists(pk)" } }]
          : []),
      ];
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: items as TransactWriteCommandInput["TransactItems"] }));
      } catch (err) {
        const codes = cancellationCodes(err);
        if (codes?.[0] === "ConditionalCheckFailed") {
          const taken = await this.takenBy(workflow.workflowId);
          if (taken) return taken;
        } else if (dedup && codes?.at(-1) === "ConditionalCheckFailed") {
          const holder = await this.deduplicationHolder(dedup, workflow.deduplicationId!);
          if (holder) return { duplicateOf: holder };
        } else if (!isRaceLost(err)) {
          throw err;
        }
        if (round >= 3) throw new Error(`Could not enqueue workflow "${workflow.workflowId}": its id or deduplication id kept changing hands; try again`);
        continue;
      }
      this.noteIncarnation(workflow.workflowId, { [INCARNATION]: incarnation });
      await this.stepCopies.settle(workflow.workflowId, { incarnation, withInput: hasInlineInput(workflow) });
      await this.queues.notePartition(place);
      return { created: true };
    }
  }

  /**
   * The workflow holding a deduplication id while it is ENQUEUED or PENDING on its
   * queue; a claim whose holder has finished (or is gone) is released, and undefined returned.
   */
  private async deduplicationHolder(key: Item, deduplicationId: string): Promise<string | undefined> {
    const item = (await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }))).Item;
    if (!item) return undefined;
    const holderId = String(item.workflowId);
    const holder = await this.getWorkflow(holderId);
    const active = holder?.status === WorkflowStatus.ENQUEUED || holder?.status === WorkflowStatus.PENDING;
    if (active && holder?.deduplicationId === deduplicationId) return holderId;
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: key, ConditionExpression: "workflowId = :w", ExpressionAttributeValues: { ":w": holderId } }));
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
    return undefined;
  }

  async putQueueEntry(place: QueuePlace, entry: QueueEntry): Promise<void> {
    const { Put } = this.queues.entryPut(place, entry) as { Put: { TableName: string; Item: Item } };
    await this.doc.send(new PutCommand(Put));
    await this.queues.notePartition(place);
  }

  async removeQueueEntry(place: QueuePlace, entry: QueueEntry): Promise<void> {
    const { Put } = this.queues.entryPut(place, entry) as { Put: { TableName: string; Item: Item } };
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: Put.Item.pk, sk: Put.Item.sk } }));
  }

  readQueue(place: QueuePlace, maxEntries: number) {
    return this.queues.read(place, maxEntries);
  }

  async admitFromQueue(args: AdmitArgs): Promise<boolean> {
    const items = this.queues.admissionItems({
      ...args,
      // Only a workflow still waiting in this line, in the generation its entry names, is admitted.
      workflowUpdate: (entry) => ({
        Update: {
          TableName: this.tableName,
          Key: workflowKey(entry.workflowId),
          ConditionExpression: "queued = :true AND generation = :g AND #status = :enqueued",
          UpdateExpression: "SET updatedAt = :now, version = version + :one REMOVE queued",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":true": true, ":g": entry.generation, ":enqueued": WorkflowStatus.ENQUEUED, ":now": args.now, ":one": 1 },
        },
      }),
    });
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items as TransactWriteCommandInput["TransactItems"] }));
      return true;
    } catch (err) {
      if (isRaceLost(err)) return false;
      throw err;
    }
  }

  scheduleQueueWake(place: QueuePlace, at: number, now: number): Promise<boolean> {
    return this.queues.scheduleWake(place, at, now);
  }

  queuePlaces(queueName?: string): Promise<QueuePlace[]> {
    return this.queues.places(queueName);
  }

  queuePosition(place: QueuePlace, entry: QueueEntry): Promise<number> {
    return this.queues.position(place, entry);
  }

  queueCounts(place: QueuePlace) {
    return this.queues.counts(place);
  }

  async queueMembers(place: QueuePlace): Promise<{ waiting: string[]; admitted: string[] }> {
    const [entries, slots] = await Promise.all([this.queues.entries(place), this.queues.slots(place)]);
    return { waiting: entries.map((e) => toEntry(e).workflowId), admitted: slots.map((s) => String(s.workflowId)) };
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

  async claimStepEagerly(args: EagerClaimArgs): Promise<WorkflowRecord | undefined> {
    // Without a read, only a claim that is provably dead may be replaced: the earlier
    // one whose secret key the message names (only its holder knows the key, and it
    // sends it on once it has recorded the claim's step), a lapsed claim on this very
    // step (its holder died), or none while this step's retry is scheduled. A stale or
    // forged message never displaces the live claim of a step that is still running.
    const dead =
      (args.supersedes !== undefined ? "(running.#key = :supersedes AND running.#step < :step) OR " : "") +
      "(running.#step = :step AND running.#until < :now) OR (attribute_not_exists(running) AND retryStep = :step)";
    return this.claim(args.workflowId, args.claim, args.now, {
      condition: `generation = :g AND #status = :pending AND cancelRequested = :false AND (${dead})`,
      values: {
        ":g": args.generation,
        ":pending": WorkflowStatus.PENDING,
        ":false": false,
        ":step": args.claim.step,
        ...(args.supersedes !== undefined ? { ":supersedes": args.supersedes } : {}),
      },
      names: { "#status": "status", "#step": "step", "#until": "until", ...(args.supersedes !== undefined ? { "#key": "key" } : {}) },
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
      this.noteIncarnation(workflowId, out.Attributes!);
      return fromWorkflowItem(out.Attributes!, undefined);
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  async recordStep(args: RecordStepArgs): Promise<RecordResult> {
    const advance = args.completion !== undefined || args.markPending === true;
    const effects = args.effects ? await this.mailboxes.effectItems(args.effects, advance ? args.workflowId : undefined) : [];
    if (!advance && effects.length === 0) {
      // The common case: one conditional put. The claim left on the workflow record
      // names a step that is now recorded, which makes it dead; the next claim replaces it.
      return (await this.putStepIfAbsent(args.step)) ? "recorded" : "stepExists";
    }
    const input: TransactWriteCommandInput = {
      TransactItems: [
        { Put: { TableName: this.tableName, ...(await this.stepPut(args.step)) } },
        ...effects,
        ...(advance ? [{ Update: this.advanceUpdate(args.workflowId, args.expectedVersion, args.completion, args.now, args.markPending) }] : []),
      ] as TransactWriteCommandInput["TransactItems"],
    };
    try {
      await this.doc.send(new TransactWriteCommand(input));
      return "recorded";
    } catch (err) {
      const codes = cancellationCodes(err);
      if (!codes) throw err;
      if (codes[0] === "ConditionalCheckFailed") return "stepExists";
      if (advance && codes.at(-1) === "ConditionalCheckFailed") return "workflowChanged";
      if (codes.includes("ConditionalCheckFailed")) return "effectFailed";
      throw err;
    }
  }

  markPending(read: WorkflowRecord, now: number): Promise<boolean> {
    return this.applies(
      new UpdateCommand({
        TableName: this.tableName,
        Key: workflowKey(read.workflowId),
        ConditionExpression: "version = :v AND #status = :enqueued",
        UpdateExpression: "SET #status = :pending, gsiStatus = :pending, updatedAt = :now, version = version + :one",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":v": read.version, ":enqueued": WorkflowStatus.ENQUEUED, ":pending": WorkflowStatus.PENDING, ":now": now, ":one": 1 },
      }),
    );
  }

  async putStepIfAbsent(step: StepRecord): Promise<boolean> {
    return this.applies(new PutCommand({ TableName: this.tableName, ...(await this.stepPut(step)) }));
  }

  completeWorkflow(args: { workflowId: string; expectedVersion: number; completion: Completion; now: number }): Promise<boolean> {
    return this.applies(new UpdateCommand(this.advanceUpdate(args.workflowId, args.expectedVersion, args.completion, args.now)));
  }

  releaseClaim(args: ReleaseClaimArgs): Promise<boolean> {
    const retry = args.retry ? ", retryStep = :rs, retryAt = :ra" : "";
    const refund = args.refundStep !== undefined ? " ADD #attempts :minusOne" : "";
    return this.applies(
      new UpdateCommand({
        TableName: this.tableName,
        Key: workflowKey(args.workflowId),
        ConditionExpression: "running.#token = :token",
        UpdateExpression: `SET updatedAt = :now, version = version + :one${retry} REMOVE running${refund}`,
        ExpressionAttributeNames: {
          "#token": "token",
          ...(args.refundStep !== undefined ? { "#attempts": attemptsAttribute(args.refundStep) } : {}),
        },
        ExpressionAttributeValues: {
          ":token": args.token,
          ":now": args.now,
          ":one": 1,
          ...(args.retry ? { ":rs": args.retry.step, ":ra": args.retry.at } : {}),
          ...(args.refundStep !== undefined ? { ":minusOne": -1 } : {}),
        },
      }),
    );
  }

  async cancelWorkflow(workflowId: string, now: number, options: { cancelledWith?: string } = {}): Promise<WorkflowRecord | undefined> {
    const allowed = statusList("c", CANCELLABLE_STATUSES);
    // A workflow that is not cancellable is left as it is; either way, answer with it as it now is.
    await this.applies(
      new UpdateCommand({
        TableName: this.tableName,
        Key: workflowKey(workflowId),
        ConditionExpression: `#status IN (${allowed.names})`,
        UpdateExpression:
          "SET #status = :cancelled, gsiStatus = :cancelled, cancelRequested = :true, updatedAt = :now, version = version + :one" +
          (options.cancelledWith !== undefined ? ", cancelledWith = :with" : "") +
          this.expirySet(),
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ...allowed.values,
          ":cancelled": WorkflowStatus.CANCELLED,
          ":true": true,
          ":now": now,
          ":one": 1,
          ...(options.cancelledWith !== undefined ? { ":with": options.cancelledWith } : {}),
          ...this.expiryValue(now),
        },
      }),
    );
    return this.getWorkflow(workflowId);
  }

  async resumeWorkflow(read: WorkflowRecord, options: ResumeOptions): Promise<WorkflowRecord | undefined> {
    const allowed = statusList("r", RESUMABLE_STATUSES);
    // Unchanged since the read, and resumable: the condition of every write below.
    const unchanged = {
      ConditionExpression: `version = :v AND #status IN (${allowed.names})`,
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ...allowed.values, ":v": read.version },
    };
    // The records to delete: step `deleteStep` and every step recorded after it.
    const doomed: Item[] = [];
    if (options.deleteStep !== undefined) {
      for await (const item of this.stepCopies.stepKeys(read.workflowId, options.deleteStep)) doomed.push({ pk: item.pk, sk: item.sk });
    }
    // Steps run again count their attempts afresh: drop their counters (see claim). Counters
    // are dropped as the next step is claimed, so only the last claimed steps can have one.
    const recounted = [
      ...new Set([
        options.nextStep,
        ...doomed.slice(0, 50).map((k) => stepOf(k)),
        ...(doomed.length ? [stepOf(doomed.at(-1)!)] : []),
        ...(read.running ? [read.running.step] : []),
      ]),
    ];
    const counters = Object.fromEntries(recounted.map((step, i) => [`#attempts${i}`, attemptsAttribute(step)]));
    // Into a queue's line (its entry goes in with the update), or past any queue.
    const queue = options.queue;
    const queueFields = queue
      ? {
          queueName: queue.place.queueName,
          queued: true,
          enqueuedAt: queue.entry.enqueuedAt,
          ...(queue.place.partitionKey !== undefined ? { partitionKey: queue.place.partitionKey } : {}),
          ...(queue.entry.priority !== undefined ? { priority: queue.entry.priority } : {}),
        }
      : {};
    const queueSet = Object.keys(queueFields).map((k) => `, #q_${k} = :q_${k}`).join("");
    // The fields of the line it waited in before go: a resume gives its own (and holds no deduplication id).
    const queueDropped = ["deduplicationId", ...(queue ? ["queued", "partitionKey", "priority"].filter((k) => !(k in queueFields)) : ["queued"])];
    const queueNames = Object.fromEntries([...Object.keys(queueFields), ...queueDropped].map((k) => [`#q_${k}`, k]));
    const queueValues = Object.fromEntries(Object.entries(queueFields).map(([k, v]) => [`:q_${k}`, v]));
    const update = {
      TableName: this.tableName,
      Key: workflowKey(read.workflowId),
      ConditionExpression: unchanged.ConditionExpression,
      // The running claim stays: a step still in flight from before must finish
      // before the new generation may claim it, so no step runs twice.
      UpdateExpression:
        `SET #status = :enqueued, gsiStatus = :enqueued, generation = :g, cancelRequested = :false, updatedAt = :now, version = :v1${queueSet} ` +
        `REMOVE #output, #error, ${Object.keys(counters).join(", ")}, retryStep, retryAt, recoveryReason, lastFailure, expiresAt, cancelledWith, ${queueDropped.map((k) => `#q_${k}`).join(", ")}`,
      ExpressionAttributeNames: { ...unchanged.ExpressionAttributeNames, "#output": "output", "#error": "error", ...counters, ...queueNames },
      ExpressionAttributeValues: {
        ...unchanged.ExpressionAttributeValues,
        ...queueValues,
        ":v1": read.version + 1,
        ":g": read.generation + 1,
        ":enqueued": WorkflowStatus.ENQUEUED,
        ":false": false,
        ":now": options.now,
      },
    };
    // The update, the first 98 deletions (and a queue entry) are one transaction. Beyond that, the later
    // steps go first, in transactions that each re-check the workflow: an interrupted
    // resume leaves the workflow as it was (resumable, `deleteStep` still recorded), only
    // with fewer of the steps it would have deleted, and can simply be resumed again.
    const first = doomed.slice(0, MAX_TRANSACTION_ITEMS - 2);
    const later = chunkItems(doomed.slice(MAX_TRANSACTION_ITEMS - 2), () => 1, MAX_TRANSACTION_ITEMS - 1, Infinity);
    const deletes = (keys: Item[]) => keys.map((Key) => ({ Delete: { TableName: this.tableName, Key } }));
    try {
      for (const chunk of later.reverse()) {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [{ ConditionCheck: { TableName: this.tableName, Key: workflowKey(read.workflowId), ...unchanged } }, ...deletes(chunk)],
          }),
        );
      }
      const entry = queue ? [this.queues.entryPut(queue.place, queue.entry)] : [];
      if (first.length === 0 && !queue) await this.doc.send(new UpdateCommand(update));
      else await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Update: update }, ...deletes(first), ...entry] as TransactWriteCommandInput["TransactItems"] }));
    } catch (err) {
      if (isConditionFailure(err) || cancellationCodes(err)?.includes("ConditionalCheckFailed")) return undefined;
      throw err;
    }
    if (queue) await this.queues.notePartition(queue.place);
    const { output: _o, error: _e, retryStep: _rs, retryAt: _ra, recoveryReason: _rr, lastFailure: _lf, expiresAt: _x, cancelledWith: _cw, queued: _q, ...kept } = read;
    return {
      ...kept,
      ...queueFields,
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
          "SET #status = :exceeded, gsiStatus = :exceeded, recoveryReason = :reason, updatedAt = :now, version = version + :one" +
          `${this.expirySet()} REMOVE running`,
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":g": args.generation,
          ":enqueued": WorkflowStatus.ENQUEUED,
          ":pending": WorkflowStatus.PENDING,
          ":exceeded": WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
          ":reason": args.reason,
          ":now": args.now,
          ":one": 1,
          ...this.expiryValue(args.now),
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
   * The put of a step record, stamped with its workflow's incarnation. It must not
   * replace a record of the step (exactly-once recording), but does replace a step
   * item that an expired incarnation of the id left behind.
   */
  private async stepPut(step: StepRecord): Promise<{ Item: Item; ConditionExpression: string; ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, unknown> }> {
    const incarnation = await this.incarnationOf(step.workflowId);
    if (incarnation === undefined) return { Item: toStepItem(step), ConditionExpression: "attribute_not_exists(pk)" };
    return {
      Item: toStepItem(step, incarnation),
      ConditionExpression: "attribute_not_exists(pk) OR attribute_not_exists(#inc) OR #inc <> :inc",
      ExpressionAttributeNames: { "#inc": INCARNATION },
      ExpressionAttributeValues: { ":inc": incarnation },
    };
  }


  private expirySet(): string {
    return this.retentionSeconds === undefined ? "" : ", expiresAt = :expiresAt";
  }

  private expiryValue(now: number): Record<string, number> {
    return this.retentionSeconds === undefined ? {} : { ":expiresAt": Math.floor(now / 1000) + this.retentionSeconds };
  }

}
