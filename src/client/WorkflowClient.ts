import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { FINISHED_STATUSES, GET_EVENT_TIMEOUT_MS, RESUMABLE_STATUSES, WorkflowStatus } from "../constants.js";
import {
  DuplicateWorkflowError,
  InvalidWorkflowStateError,
  ResultTimeoutError,
  StepOutOfRangeError,
  UnknownWorkflowError,
  ValidationError,
  WorkflowCancelledError,
  WorkflowConflictError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowRecoveryExceededError,
} from "../errors.js";
import { SqsWorkQueue } from "../queue/SqsWorkQueue.js";
import type { WorkQueue } from "../queue/WorkQueue.js";
import { checkApplicationVersion, checkKey, checkTimeoutMs, checkWorkflowId, checkWorkflowName, describeType, invalid } from "../limits.js";
import { deserialize } from "../serialization.js";
import { DynamoWorkflowStore } from "../store/DynamoWorkflowStore.js";
import type { ListWorkflowsQuery, WorkflowStore } from "../store/WorkflowStore.js";
import type { QueueEntry, QueuePlace, StepRecord, WorkflowRecord } from "../types.js";
import { WorkflowRegistry, type WorkflowDefinition } from "../workflow.js";
import { runningStepInfo, toStepInfo, toWorkflowStatus, type StepInfo, type WorkflowStatusInfo } from "./status.js";
import { isLiveClaim, lastRecordedStep } from "../workflowState.js";
import { resumePoint } from "./resumePoint.js";
import { clientMessageId, serializeInput, serializeValue, validateListInput, validateSendOptions } from "./inputs.js";
import { Wakes } from "../wakes.js";
import { QueueRegistry, type QueueDefinition } from "../queues/defineQueue.js";
import { queuesFromEnv } from "../queues/queuesEnv.js";
import { queueEntryOf } from "../store/QueueStore.js";
import { checkQueueOptions, queueFields, type EnqueueOptions } from "./queueOptions.js";
import { listQueued, placeOf } from "./queuedListing.js";

export interface StartWorkflowOptions extends EnqueueOptions {
  /** Idempotency key: starting twice with one id returns the same workflow. @default a random UUID */
  workflowId?: string;
  applicationVersion?: string;
}

export interface ForkWorkflowOptions extends EnqueueOptions {
  applicationVersion?: string;
  /** @default a random UUID */
  workflowId?: string;
}

/** A resumed workflow holds no deduplication id (its old one is given up when it resumes). */
export type ResumeWorkflowOptions = Omit<EnqueueOptions, "deduplicationId">;

/** A queue (or one partition of a partitioned queue) as `listQueues` shows it. */
export interface QueueSummary {
  queueName: string;
  partitionKey?: string;
  /** Workflows waiting for admission. */
  waiting: number;
  /** Workflows admitted and not yet seen finished: the concurrency in use (a finished one's slot is given back at the next admission pass). */
  inFlight: number;
  /** The latest admission times (epoch ms), as many as the rate limit counts. */
  recentAdmissions: number[];
  /** The queue's limits, when the client knows its definition (WorkflowClientOptions.queues). */
  concurrency?: number;
  rateLimit?: { limit: number; periodMs: number };
}

export interface ListQueuedWorkflowsInput {
  /** @default every queue the client knows (WorkflowClientOptions.queues) */
  queueName?: string;
  /** ENQUEUED: waiting for admission; PENDING: admitted and running. @default both */
  status?: typeof WorkflowStatus.ENQUEUED | typeof WorkflowStatus.PENDING;
  limit?: number;
  nextToken?: string;
}

export interface CancelWorkflowOptions {
  /** Return only once no step of the workflow is running. @default false */
  wait?: boolean;
  /**
   * With `wait`: stop waiting after this long (a finite number of ms >= 0) and
   * return with `idle: false`; the cancel is applied either way.
   * @default until the running step's lease ends
   */
  timeoutMs?: number;
}

/** What cancelWorkflow returns: the workflow after the cancel. */
export interface CancelWorkflowResult extends WorkflowStatusInfo {
  /** With `wait`: true when no step of the workflow or of any descendant runs any more, false when the wait ended first. */
  idle?: boolean;
  /**
   * With `wait`, when `idle` is false: a step still running (in this workflow, or
   * in the descendant `workflowId` names). It finishes and is recorded; nothing after it runs.
   */
  stillRunning?: { functionId: number; name: string; workflowId?: string };
  /** The descendants (children, their children...) this cancel moved to CANCELLED. */
  cancelledDescendants?: string[];
}

export interface SendOptions {
  /** Messages are received per topic, in send order. @default the default topic */
  topic?: string;
  /** Deliver the message once, however often send is called with this key (for webhooks and retried callbacks). */
  idempotencyKey?: string;
}

export interface GetEventOptions {
  /** How long to wait for the event to be set. @default 60000 */
  timeoutMs?: number;
}


export interface GetResultOptions {
  /** @default wait without limit */
  timeoutMs?: number;
}

export type ListWorkflowsInput = ListWorkflowsQuery;

export interface ListWorkflowsOutput {
  workflows: WorkflowStatusInfo[];
  /** Pass it, with the same filters and order, to get the next page. */
  nextToken?: string;
  /**
   * The page ended before `limit` because its workflows' inputs and outputs
   * reached the page size budget (`LIMITS.pageBytes`); `nextToken` goes on.
   */
  sizeLimited?: true;
}

export interface WorkflowHandle<O = unknown> {
  readonly workflowId: string;
  getStatus(): Promise<WorkflowStatusInfo>;
  /** The workflow's output; throws WorkflowFailedError, WorkflowCancelledError or WorkflowRecoveryExceededError. */
  getResult(options?: GetResultOptions): Promise<O>;
}

export interface WorkflowClientOptions {
  store: WorkflowStore;
  queue: WorkQueue;
  /** When given, startWorkflow refuses names outside this set instead of leaving them to fail in the worker. */
  workflows?: Iterable<WorkflowDefinition<any, any>>;
  /** When given, queue options are checked against these definitions (unknown queue, priorities, partitions). */
  queues?: Iterable<QueueDefinition>;
  now?: () => number;
}

const POLL_MIN_MS = 25;
const POLL_MAX_MS = 1_000;

/** Start, inspect and steer workflows. Needs only the table and the queue. */
export class WorkflowClient {
  private readonly store: WorkflowStore;
  private readonly queue: WorkQueue;
  private readonly now: () => number;
  private readonly registry: WorkflowRegistry | undefined;
  private readonly queues: QueueRegistry | undefined;
  private readonly wakes: Wakes;

  constructor(options: WorkflowClientOptions) {
    this.store = options.store;
    this.queue = options.queue;
    this.wakes = new Wakes(options.store, options.queue);
    this.now = options.now ?? Date.now;
    this.registry = options.workflows ? new WorkflowRegistry(options.workflows) : undefined;
    this.queues = options.queues ? new QueueRegistry(options.queues) : undefined;
  }

  /**
   * A client on the table and queue named by $CAIRN_TABLE_NAME and $CAIRN_QUEUE_URL in `env`
   * ($CAIRN_RETENTION_DAYS applies; $CAIRN_QUEUES, unless `queues` is given, for checking queue options); endpoints, region and credentials come from `env` too
   * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS, AWS_REGION).
   *
   * @throws ConfigurationError when $CAIRN_TABLE_NAME or $CAIRN_QUEUE_URL is unset, or $CAIRN_RETENTION_DAYS or $CAIRN_QUEUES is malformed.
   * @throws ValidationError when `queues` names a queue twice.
   * @example
   * const client = WorkflowClient.fromEnv(); // $CAIRN_TABLE_NAME, $CAIRN_QUEUE_URL of process.env
   * const checked = WorkflowClient.fromEnv(process.env, [partnerApi]); // queue options checked against partnerApi
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, queues: Iterable<QueueDefinition> | undefined = queuesFromEnv(env)): WorkflowClient {
    return new WorkflowClient({
      store: DynamoWorkflowStore.fromEnv(env),
      queue: SqsWorkQueue.fromEnv(env),
      ...(queues ? { queues } : {}),
    });
  }

  /**
   * Start `workflow` (a definition, or the name of one the worker registers) with
   * `input`. With a `workflowId` the start is idempotent: the same id returns the
   * same workflow and never starts a second run. With `queueName` it waits
   * ENQUEUED until the queue admits it. A refused start changes nothing.
   *
   * @throws ValidationError for an invalid name, workflowId, applicationVersion or queue option.
   * @throws UnknownWorkflowError when the client was given `workflows` and the name is not among them.
   * @throws PayloadTooLargeError when `input` is over the value size limit.
   * @throws SerializationError when `input` cannot be recorded (a class instance, a function, a cycle...).
   * @throws WorkflowConflictError when `workflowId` is taken by a workflow of another name.
   * @throws DuplicateWorkflowError when a workflow with the same `deduplicationId` is ENQUEUED or PENDING on the queue.
   * @example
   * const handle = await client.startWorkflow(order, { id: "o-1", amount: 42 }, { workflowId: "order-o-1" });
   * const result = await handle.getResult({ timeoutMs: 60_000 }); // throws WorkflowFailedError / WorkflowCancelledError
   */
  async startWorkflow<I, O>(
    workflow: string | WorkflowDefinition<I, O>,
    input: I,
    options: StartWorkflowOptions = {},
  ): Promise<WorkflowHandle<O>> {
    // Everything is checked before the one write, so a refused start changes nothing.
    const name = typeof workflow === "string" ? workflow : workflow?.name;
    checkWorkflowName(name);
    if (this.registry && !this.registry.get(name)) throw new UnknownWorkflowError(name, this.registry.names());
    const workflowId = options.workflowId ?? randomUUID();
    checkWorkflowId(workflowId);
    if (options.applicationVersion !== undefined) checkApplicationVersion(options.applicationVersion);
    checkQueueOptions(options, this.queues);
    const now = this.now();
    const queued = options.queueName !== undefined ? queueFields({ ...options, queueName: options.queueName }, workflowId, 0, 1, now) : undefined;
    const record: WorkflowRecord = {
      workflowId,
      name,
      status: WorkflowStatus.ENQUEUED,
      input: serializeInput(input, name),
      createdAt: now,
      updatedAt: now,
      cancelRequested: false,
      generation: 0,
      version: 0,
      ...(options.applicationVersion !== undefined ? { applicationVersion: options.applicationVersion } : {}),
      ...queued?.record,
    };
    const result = queued ? await this.store.enqueueWorkflow(record, queued.entry) : await this.store.createWorkflow(record);
    if ("duplicateOf" in result) throw new DuplicateWorkflowError(options.queueName!, options.deduplicationId!, result.duplicateOf);
    if (!result.created) {
      const existing = result.existing;
      if (existing.name !== name) {
        throw new WorkflowConflictError(
          workflowId,
          `Workflow id "${workflowId}" is already used by a workflow named "${existing.name}"; it was not started again as "${name}"`,
        );
      }
      // The first start may have died before sending its message (or asking for its admission): make sure one exists.
      if (existing.queued) await this.queue.sendAdmit(placeOf(existing));
      else if (existing.status === WorkflowStatus.ENQUEUED && !existing.running) await this.sendNext(existing);
      return this.handle(workflowId);
    }
    if (queued) await this.queue.sendAdmit(queued.place);
    else await this.queue.send([{ workflowId, step: 1, generation: 0 }]);
    return this.handle(workflowId);
  }

  /**
   * A handle on a workflow started earlier, without reading it: an unknown id
   * surfaces as WorkflowNotFoundError from the handle's getStatus or getResult.
   *
   * @throws ValidationError for an invalid workflowId.
   * @example
   * const output = await client.retrieveWorkflow<{ charge: string }>("order-o-1").getResult({ timeoutMs: 30_000 });
   */
  retrieveWorkflow<O = unknown>(workflowId: string): WorkflowHandle<O> {
    checkWorkflowId(workflowId);
    return this.handle<O>(workflowId);
  }

  /**
   * The workflow as it stands: status, input, output or error, recorded steps,
   * the step running now, and its `queuePosition` while it waits in a queue.
   *
   * @throws ValidationError for an invalid workflowId.
   * @throws WorkflowNotFoundError when no workflow has this id.
   * @example
   * const { status, recordedSteps, runningStep } = await client.getWorkflowStatus("order-o-1");
   */
  async getWorkflowStatus(workflowId: string): Promise<WorkflowStatusInfo> {
    checkWorkflowId(workflowId);
    const [record, recordedSteps] = await Promise.all([this.store.getWorkflow(workflowId), this.store.countSteps(workflowId)]);
    if (!record) throw new WorkflowNotFoundError(workflowId);
    const waiting = record.queued ? queueEntryOf(record, 1) : undefined;
    const queuePosition = waiting ? await this.store.queuePosition(waiting.place, waiting.entry) : undefined;
    return { ...toWorkflowStatus(record, recordedSteps), ...(queuePosition !== undefined ? { queuePosition } : {}) };
  }

  /**
   * Cancel: the workflow becomes CANCELLED at once; a step already running
   * finishes and is recorded, nothing after it runs, and its pending messages
   * are dropped when they surface. Finished workflows are left as they are.
   * With `wait`, returns once no step runs, or when `timeoutMs` runs out first
   * (`idle: false`, `stillRunning` names the step): the workflow is CANCELLED
   * either way, so running out of time is not an error.
   *
   * @throws ValidationError for an invalid workflowId, `wait` or `timeoutMs` (nothing is cancelled).
   * @throws WorkflowNotFoundError when no workflow has this id.
   * @example
   * const cancelled = await client.cancelWorkflow("order-o-1", { wait: true, timeoutMs: 30_000 });
   * if (!cancelled.idle) console.log("still running:", cancelled.stillRunning?.name);
   */
  async cancelWorkflow(workflowId: string, options: CancelWorkflowOptions = {}): Promise<CancelWorkflowResult> {
    // Checked before the cancel is written: a refused call changes nothing.
    checkWorkflowId(workflowId);
    if (options.wait !== undefined && typeof options.wait !== "boolean") throw invalid("wait", `wait must be a boolean, got ${describeType(options.wait)}`);
    checkTimeoutMs(options.timeoutMs);
    const record = await this.store.cancelWorkflow(workflowId, this.now());
    if (!record) throw new WorkflowNotFoundError(workflowId);
    // Out of its queue's line: it never starts (an admission pass would drop the entry anyway).
    const waiting = record.queued && record.status === WorkflowStatus.CANCELLED ? queueEntryOf(record, 1) : undefined;
    if (waiting) await this.store.removeQueueEntry(waiting.place, waiting.entry);
    const descendants = await this.cancelDescendants(record);
    // A parent waiting for this workflow's end learns of the cancel.
    await this.wakes.afterEnd(record);
    const cascade = descendants.length > 0 ? { cancelledDescendants: descendants.filter((d) => d.cancelled).map((d) => d.record.workflowId) } : {};
    if (!options.wait) {
      // With the step count, a claim left on an already recorded step is not shown as running.
      return { ...toWorkflowStatus(record, await this.store.countSteps(workflowId)), ...cascade };
    }
    const deadline = options.timeoutMs === undefined ? undefined : this.now() + options.timeoutMs;
    const waited = await this.waitUntilIdle(record, deadline);
    const status = toWorkflowStatus(waited.record, await this.store.countSteps(workflowId));
    const running = waited.record.running;
    if (!waited.idle && running) return { ...status, ...cascade, idle: false, stillRunning: { functionId: running.step, name: running.name } };
    // A claim whose lease ended is a dead worker's, not a running step.
    const { runningStep: _dead, ...idle } = status;
    for (const { record: member } of descendants) {
      const memberWait = await this.waitUntilIdle(member, deadline);
      const step = memberWait.record.running;
      if (!memberWait.idle && step) {
        return { ...idle, ...cascade, idle: false, stillRunning: { functionId: step.step, name: step.name, workflowId: member.workflowId } };
      }
    }
    return { ...idle, ...cascade, idle: true };
  }

  /**
   * Cancel every descendant of a workflow just cancelled, at any depth. Each one
   * cancelled here is marked with `root`'s id (the workflow the caller cancelled),
   * so that resuming it, or any workflow cancelled in the same cascade, brings it
   * back; one already finished or cancelled on its own keeps its state. A child
   * that ended first (SUCCESS) is looked through: its own children are cancelled
   * too. Children are registered with their parent atomically with their creation,
   * while the parent is not cancelled, so no child started before the cancel is
   * missed and none starts after it. Calling cancel again finishes an interrupted cascade.
   */
  private async cancelDescendants(root: WorkflowRecord): Promise<{ record: WorkflowRecord; cancelled: boolean }[]> {
    const members: { record: WorkflowRecord; cancelled: boolean }[] = [];
    const marker = root.cancelledWith ?? root.workflowId;
    // Level by level, each level at once: the sooner the cancel reaches a descendant, the less of it runs meanwhile.
    await this.eachGeneration(root.workflowId, async (ids) => {
      const level = await inChunks(ids, async (childId) => {
        const before = await this.store.getWorkflow(childId);
        if (!before) return undefined;
        const after = (await this.store.cancelWorkflow(childId, this.now(), { cancelledWith: marker })) ?? before;
        return { record: after, cancelled: before.status !== WorkflowStatus.CANCELLED && after.status === WorkflowStatus.CANCELLED };
      });
      members.push(...level.filter((m) => m !== undefined));
    });
    return members;
  }

  /**
   * Visit a workflow's descendants a generation at a time (its children, then
   * theirs...), reading each generation's children only once `visit` is done with it.
   */
  private async eachGeneration(workflowId: string, visit: (ids: string[]) => Promise<void>): Promise<void> {
    const seen = new Set([workflowId]);
    let parents = [workflowId];
    while (parents.length > 0) {
      const children = (await inChunks(parents, (id) => this.store.childrenOf(id))).flat().filter((id) => !seen.has(id) && seen.add(id));
      if (children.length > 0) await visit(children);
      parents = children;
    }
  }

  /**
   * Restart a CANCELLED, ERROR, MAX_RECOVERY_ATTEMPTS_EXCEEDED or ENQUEUED workflow
   * from the step after its last recorded one. An ERROR workflow runs again from the
   * failed step whose error ended it, whose record is deleted with every step recorded
   * after it (see resumePoint for the rule). With `queueName` it waits in that queue's
   * line, else it runs at once; descendants cancelled along with it are resumed too.
   *
   * @throws ValidationError for an invalid workflowId or queue option.
   * @throws WorkflowNotFoundError when no workflow has this id.
   * @throws InvalidWorkflowStateError when its status is not one of those above (PENDING, SUCCESS).
   * @throws WorkflowConflictError when another resume or a cancel changed it meanwhile.
   * @example
   * await client.resumeWorkflow("order-o-1");
   * await client.resumeWorkflow("order-o-2", { queueName: "partner-api" }); // back into the queue's line
   */
  async resumeWorkflow<O = unknown>(workflowId: string, options: ResumeWorkflowOptions = {}): Promise<WorkflowHandle<O>> {
    checkWorkflowId(workflowId);
    checkQueueOptions(options, this.queues);
    if ("deduplicationId" in options && options.deduplicationId !== undefined) {
      throw invalid("deduplicationId", "resumeWorkflow takes no deduplicationId: deduplication applies to starts and forks");
    }
    const state = await this.store.loadState(workflowId);
    if (!state) throw new WorkflowNotFoundError(workflowId);
    const wf = state.workflow;
    if (!RESUMABLE_STATUSES.includes(wf.status)) throw new InvalidWorkflowStateError(workflowId, wf.status, "resume", RESUMABLE_STATUSES);
    // Descendants first, the deepest first: a parent that runs again finds the children it
    // waits for already resumed, not CANCELLED (which its getResult would throw).
    await this.resumeDescendants(wf);
    await this.resumeOne(state.workflow, state.steps, options);
    return this.handle(workflowId);
  }

  /**
   * Restart one workflow as a new generation (see resumeWorkflow): into the line
   * of `options.queueName`, or at once, past any queue it was waiting in.
   */
  private async resumeOne(wf: WorkflowRecord, steps: readonly StepRecord[], options: ResumeWorkflowOptions = {}): Promise<void> {
    // An ERROR workflow runs its failed step (and what was recorded after it) again: see resumePoint.
    const { nextStep, deleteFrom } = resumePoint(wf, steps);
    const now = this.now();
    const queued = options.queueName !== undefined ? queueFields({ ...options, queueName: options.queueName }, wf.workflowId, wf.generation + 1, nextStep, now) : undefined;
    const resumed = await this.store.resumeWorkflow(wf, {
      now,
      nextStep,
      ...(deleteFrom !== undefined ? { deleteStep: deleteFrom } : {}),
      ...(queued ? { queue: { place: queued.place, entry: queued.entry } } : {}),
    });
    if (!resumed) {
      throw new WorkflowConflictError(wf.workflowId, `Workflow "${wf.workflowId}" changed while it was being resumed (another resume or a cancel won); nothing was done`);
    }
    // Its old place in line, if it was waiting in one, is given up.
    const left = wf.queued ? queueEntryOf(wf, 1) : undefined;
    if (left) await this.store.removeQueueEntry(left.place, left.entry);
    if (queued) await this.queue.sendAdmit(queued.place);
    else await this.queue.send([{ workflowId: wf.workflowId, step: nextStep, generation: resumed.generation }]);
  }

  /**
   * Resume the descendants that were cancelled with `wf`: by a cancel of `wf`
   * itself, or by the same cancel that reached `wf` (see cancelDescendants). Those
   * cancelled on their own stay cancelled. A parent waiting on a child's result
   * gets it once the child finishes, whichever of them runs first.
   */
  private async resumeDescendants(wf: WorkflowRecord): Promise<void> {
    const markers = new Set([wf.workflowId, ...(wf.cancelledWith !== undefined ? [wf.cancelledWith] : [])]);
    const generations: string[][] = [];
    await this.eachGeneration(wf.workflowId, async (ids) => void generations.push(ids));
    for (const childId of generations.reverse().flat()) {
      const state = await this.store.loadState(childId);
      const child = state?.workflow;
      if (!child || child.status !== WorkflowStatus.CANCELLED || child.cancelledWith === undefined || !markers.has(child.cancelledWith)) continue;
      try {
        await this.resumeOne(child, state.steps);
      } catch (err) {
        // Resumed or changed by someone else meanwhile: theirs to finish.
        if (!(err instanceof WorkflowConflictError)) throw err;
      }
    }
  }

  /**
   * Send a message to a workflow from outside it (a callback, an approval, a
   * webhook): it waits in the workflow's mailbox until `ctx.recv` takes it,
   * each message once, in send order per topic. With `idempotencyKey`, the
   * message is delivered once however often send is called with that key. A
   * message to an unknown workflow is a WorkflowNotFoundError; one over the
   * value size limit a PayloadTooLargeError; nothing is written for either.
   *
   * @throws ValidationError for an invalid workflowId, topic or idempotencyKey.
   * @throws WorkflowNotFoundError when no workflow has this id.
   * @throws PayloadTooLargeError when the message is over the value size limit.
   * @throws SerializationError when the message cannot be recorded (a class instance, a function, a cycle...).
   * @example
   * await client.send("batch-1", { by: "alice" }, { topic: "approval", idempotencyKey: "approve-batch-1" });
   */
  async send(workflowId: string, message: unknown, options: SendOptions = {}): Promise<void> {
    checkWorkflowId(workflowId);
    validateSendOptions(options);
    const payload = serializeValue(message, `message to workflow "${workflowId}"`);
    const { topic, idempotencyKey } = options;
    const messageId = idempotencyKey !== undefined ? clientMessageId(idempotencyKey) : `client:${randomUUID()}`;
    const result = await this.store.deliverMessage(
      { workflowId, ...(topic !== undefined ? { topic } : {}), payload, sentAt: this.now(), messageId },
      { idempotent: idempotencyKey !== undefined },
    );
    if (result === "notFound") throw new WorkflowNotFoundError(workflowId);
    // Also after a duplicate: the first call may have died before it woke the receiver.
    await this.wakes.afterMessage(workflowId, topic);
  }

  /**
   * The latest value the workflow set for event `key` (ctx.setEvent), waiting up
   * to `timeoutMs` for it to be set; undefined if it is not set by then. A
   * workflow keeps its events after it finishes, until retention removes it.
   *
   * @throws ValidationError for an invalid workflowId, key or timeoutMs.
   * @throws WorkflowNotFoundError when no workflow has this id.
   * @example
   * const stage = await client.getEvent<string>("batch-1", "stage", { timeoutMs: 10_000 }); // undefined if not set by then
   */
  async getEvent<T = unknown>(workflowId: string, key: string, options: GetEventOptions = {}): Promise<T | undefined> {
    checkWorkflowId(workflowId);
    checkKey(key, "key");
    checkTimeoutMs(options.timeoutMs);
    const deadline = this.now() + (options.timeoutMs ?? GET_EVENT_TIMEOUT_MS);
    let delay = POLL_MIN_MS;
    for (let first = true; ; first = false) {
      const event = await this.store.getEvent(workflowId, key);
      if (event) return deserialize(event.value) as T;
      if (first && !(await this.store.getWorkflow(workflowId))) throw new WorkflowNotFoundError(workflowId);
      if (this.now() >= deadline) return undefined;
      await sleep(Math.min(delay, Math.max(0, deadline - this.now())));
      delay = Math.min(POLL_MAX_MS, delay * 2);
    }
  }

  /**
   * Start a new workflow with the same input whose steps 1..startStep-1 reuse the
   * original's recorded results; execution begins at startStep. The original is untouched.
   * The same fork again (same new `workflowId`, e.g. a retry) returns that fork.
   *
   * @throws ValidationError for an invalid workflowId, a non-integer startStep or an invalid queue option.
   * @throws WorkflowNotFoundError when the original does not exist.
   * @throws StepOutOfRangeError when startStep is not between 1 and one past the original's last recorded step.
   * @throws WorkflowConflictError when the new `workflowId` is taken by anything but this same fork.
   * @example
   * const fork = await client.forkWorkflow("order-o-1", 3, { workflowId: "order-o-1-retry", applicationVersion: "v2" });
   * await fork.getResult({ timeoutMs: 60_000 });
   */
  async forkWorkflow<O = unknown>(workflowId: string, startStep: number, options: ForkWorkflowOptions = {}): Promise<WorkflowHandle<O>> {
    checkWorkflowId(workflowId);
    if (!Number.isInteger(startStep)) throw new ValidationError(`startStep must be an integer, got ${String(startStep)}`);
    const newId = options.workflowId ?? randomUUID();
    checkWorkflowId(newId, "fork workflowId");
    if (options.applicationVersion !== undefined) checkApplicationVersion(options.applicationVersion);
    checkQueueOptions(options, this.queues);
    const state = await this.store.loadState(workflowId);
    if (!state) throw new WorkflowNotFoundError(workflowId);
    const lastRecorded = lastRecordedStep(state.steps);
    if (startStep < 1 || startStep > lastRecorded + 1) throw new StepOutOfRangeError(workflowId, startStep, lastRecorded + 1);
    const wf = state.workflow;
    const now = this.now();
    const applicationVersion = options.applicationVersion ?? wf.applicationVersion;
    const queued = options.queueName !== undefined ? queueFields({ ...options, queueName: options.queueName }, newId, 0, startStep, now) : undefined;
    const record: WorkflowRecord = {
      workflowId: newId,
      name: wf.name,
      status: WorkflowStatus.ENQUEUED,
      input: wf.input,
      createdAt: now,
      updatedAt: now,
      cancelRequested: false,
      generation: 0,
      version: 0,
      forkedFrom: { workflowId, startStep },
      ...(applicationVersion !== undefined ? { applicationVersion } : {}),
      ...queued?.record,
    };
    const copied = state.steps
      .filter((s) => s.functionId < startStep)
      .map((s) => ({ ...s, workflowId: newId, copiedFrom: s.copiedFrom ?? workflowId }));
    const created = await this.store.createWorkflow(record, copied);
    if (!created.created) {
      // The same fork again (a retry after a failure or a lost answer) is answered with
      // that fork, as a start with a taken id is; any other use of the id is a conflict.
      const existing = created.existing;
      const sameFork =
        existing.forkedFrom?.workflowId === workflowId &&
        existing.forkedFrom.startStep === startStep &&
        existing.name === wf.name &&
        existing.applicationVersion === applicationVersion;
      if (!sameFork) throw new WorkflowConflictError(newId, `Cannot fork into workflow id "${newId}": it is already taken`);
      // The first attempt may have died before sending its message (or entering its queue): make sure it did.
      await this.store.putEvents(newId, eventsSetBy(copied));
      if (existing.queued) await this.enterQueue(queueEntryOf(existing, startStep)!);
      else if (existing.status === WorkflowStatus.ENQUEUED && existing.version === 0) {
        await this.queue.send([{ workflowId: newId, step: startStep, generation: existing.generation }]);
      }
      return this.handle(newId);
    }
    // The events the copied steps set are the fork's too, before it runs.
    await this.store.putEvents(newId, eventsSetBy(copied));
    if (queued) await this.enterQueue(queued);
    else await this.queue.send([{ workflowId: newId, step: startStep, generation: 0 }]);
    return this.handle(newId);
  }

  /** Put a workflow recorded as queued into its queue's line (idempotent), and ask for an admission pass. */
  private async enterQueue({ place, entry }: { place: QueuePlace; entry: QueueEntry }): Promise<void> {
    await this.store.putQueueEntry(place, entry);
    await this.queue.sendAdmit(place);
  }

  /**
   * Every queue the client knows or that has admitted a workflow (or just `queueName`), partition by partition.
   *
   * @throws ValidationError for an invalid queueName.
   * @example
   * for (const q of await client.listQueues({ queueName: "partner-api" })) console.log(q.partitionKey, q.waiting, q.inFlight);
   */
  async listQueues(options: { queueName?: string } = {}): Promise<QueueSummary[]> {
    if (options.queueName !== undefined) checkWorkflowName(options.queueName, "queueName");
    const known = (this.queues?.all() ?? []).filter((q) => !q.partitioned && (options.queueName === undefined || q.name === options.queueName));
    const places = new Map<string, QueuePlace>();
    for (const place of [...known.map((q): QueuePlace => ({ queueName: q.name })), ...(await this.store.queuePlaces(options.queueName))]) {
      places.set(JSON.stringify([place.queueName, place.partitionKey ?? null]), place);
    }
    const sorted = [...places.values()].sort((a, b) => a.queueName.localeCompare(b.queueName) || (a.partitionKey ?? "").localeCompare(b.partitionKey ?? ""));
    return Promise.all(
      sorted.map(async (place) => {
        const counts = await this.store.queueCounts(place);
        const queue = this.queues?.get(place.queueName);
        return {
          ...place,
          waiting: counts.waiting,
          inFlight: counts.slots,
          recentAdmissions: counts.admissions,
          ...(queue?.concurrency !== undefined ? { concurrency: queue.concurrency } : {}),
          ...(queue?.rateLimit !== undefined ? { rateLimit: { ...queue.rateLimit } } : {}),
        };
      }),
    );
  }

  /**
   * The workflows of a queue (or of every queue the client knows): those waiting
   * for admission (ENQUEUED), in admission order, then those admitted and running
   * (PENDING). Pass `nextToken` to go on.
   *
   * @throws ValidationError for an invalid queueName, status, limit or nextToken, or no queueName when the client knows no queues.
   * @example
   * const { workflows, nextToken } = await client.listQueuedWorkflows({ queueName: "partner-api", status: "ENQUEUED" });
   */
  async listQueuedWorkflows(input: ListQueuedWorkflowsInput = {}): Promise<ListWorkflowsOutput> {
    return listQueued(this.store, this.queues, input);
  }

  /**
   * A page of workflows, oldest first (`sortDesc`: newest first): at most `limit`
   * (default 100, at most 1,000), and fewer when their inputs and outputs fill
   * the page's size budget (`sizeLimited`). Pass `nextToken` with the same
   * filters and order to go on; a token of another query is a ValidationError.
   *
   * @throws ValidationError for an invalid filter or limit, or a nextToken of another query.
   * @example
   * const failed = { name: "order", status: WorkflowStatus.ERROR, limit: 50, sortDesc: true };
   * const page = await client.listWorkflows(failed);
   * if (page.nextToken) await client.listWorkflows({ ...failed, nextToken: page.nextToken });
   */
  async listWorkflows(input: ListWorkflowsInput = {}): Promise<ListWorkflowsOutput> {
    validateListInput(input);
    const page = await this.store.listWorkflows(input);
    // Stores that budget pages by size say so (the DynamoDB store does).
    const sizeLimited = "sizeLimited" in page && page.sizeLimited === true;
    return {
      workflows: page.items.map((r) => toWorkflowStatus(r)),
      ...(page.nextToken ? { nextToken: page.nextToken } : {}),
      ...(sizeLimited ? { sizeLimited: true as const } : {}),
    };
  }

  /**
   * Every workflow matching `input`, fetched a page at a time.
   *
   * @throws ValidationError for an invalid filter or limit (from the first iteration).
   * @example
   * for await (const wf of client.iterateWorkflows({ status: "PENDING" })) console.log(wf.workflowId, wf.createdAt);
   */
  async *iterateWorkflows(input: Omit<ListWorkflowsInput, "nextToken"> = {}): AsyncGenerator<WorkflowStatusInfo> {
    let nextToken: string | undefined;
    do {
      const page = await this.listWorkflows({ ...input, ...(nextToken ? { nextToken } : {}) });
      yield* page.workflows;
      nextToken = page.nextToken;
    } while (nextToken);
  }

  /**
   * The recorded steps in order, then the step running now (status PENDING), if any.
   *
   * @throws ValidationError for an invalid workflowId.
   * @throws WorkflowNotFoundError when no workflow has this id.
   * @example
   * for (const s of await client.listWorkflowSteps("order-o-1")) console.log(s.functionId, s.kind, s.name, s.status);
   */
  async listWorkflowSteps(workflowId: string): Promise<StepInfo[]> {
    const steps: StepInfo[] = [];
    for await (const step of this.iterateWorkflowSteps(workflowId)) steps.push(step);
    return steps;
  }

  /**
   * Like listWorkflowSteps, a page at a time, for workflows with many or large steps.
   *
   * @throws ValidationError for an invalid workflowId or a pageSize outside 1-1,000 (from the first iteration).
   * @throws WorkflowNotFoundError when no workflow has this id (from the first iteration).
   * @example
   * for await (const s of client.iterateWorkflowSteps("order-o-1", { pageSize: 50 })) if (s.error) console.log(s.name, s.error.message);
   */
  async *iterateWorkflowSteps(workflowId: string, options: { pageSize?: number } = {}): AsyncGenerator<StepInfo> {
    checkWorkflowId(workflowId);
    const record = await this.store.getWorkflow(workflowId);
    if (!record) throw new WorkflowNotFoundError(workflowId);
    let nextToken: string | undefined;
    let last = 0;
    do {
      const page = await this.store.listSteps(workflowId, { limit: options.pageSize ?? 100, ...(nextToken ? { nextToken } : {}) });
      for (const step of page.items) {
        last = step.functionId;
        yield toStepInfo(step);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    const running = runningStepInfo(record);
    if (running && running.functionId > last && !FINISHED_STATUSES.includes(record.status)) yield running;
  }

  private handle<O>(workflowId: string): WorkflowHandle<O> {
    return {
      workflowId,
      getStatus: () => this.getWorkflowStatus(workflowId),
      getResult: (options) => this.awaitResult<O>(workflowId, options),
    };
  }

  private async awaitResult<O>(workflowId: string, options: GetResultOptions = {}): Promise<O> {
    const deadline = options.timeoutMs === undefined ? Infinity : this.now() + options.timeoutMs;
    let delay = POLL_MIN_MS;
    for (;;) {
      const record = await this.store.getWorkflow(workflowId);
      if (!record) throw new WorkflowNotFoundError(workflowId);
      switch (record.status) {
        case WorkflowStatus.SUCCESS:
          return deserialize(record.output) as O;
        case WorkflowStatus.ERROR:
          throw new WorkflowFailedError(workflowId, record.error ?? { name: "Error", message: "unknown failure" });
        case WorkflowStatus.CANCELLED:
          throw new WorkflowCancelledError(workflowId);
        case WorkflowStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
          throw new WorkflowRecoveryExceededError(workflowId, record.recoveryReason);
      }
      if (this.now() >= deadline) throw new ResultTimeoutError(workflowId, options.timeoutMs!, record.status);
      await sleep(Math.min(delay, Math.max(0, deadline - this.now())));
      delay = Math.min(POLL_MAX_MS, delay * 2);
    }
  }

  /** Wait until no worker holds a live claim on the workflow, or until `until` (epoch ms) has passed (`idle: false`). */
  private async waitUntilIdle(record: WorkflowRecord, until: number | undefined): Promise<{ record: WorkflowRecord; idle: boolean }> {
    const deadline = until ?? Infinity;
    let current = record;
    let delay = POLL_MIN_MS;
    const isRunning = async (wf: WorkflowRecord) =>
      isLiveClaim(wf.running, wf.running ? await this.store.countSteps(wf.workflowId) : 0, this.now());
    while (await isRunning(current)) {
      if (this.now() >= deadline) return { record: current, idle: false };
      await sleep(Math.min(delay, Math.max(0, deadline - this.now())));
      delay = Math.min(POLL_MAX_MS, delay * 2);
      const fresh = await this.store.getWorkflow(current.workflowId);
      if (!fresh) throw new WorkflowNotFoundError(current.workflowId);
      current = fresh;
    }
    return { record: current, idle: true };
  }

  /** Send the message that starts the next unrecorded step of an ENQUEUED workflow. */
  private async sendNext(wf: WorkflowRecord): Promise<void> {
    const steps = await this.store.countSteps(wf.workflowId);
    await this.queue.send([{ workflowId: wf.workflowId, step: steps + 1, generation: wf.generation }]);
  }
}

/** Calls of `fn` on every item, a chunk at a time, results in order. */
async function inChunks<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, size = 25): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return results;
}

/** The latest value each event key got from these steps (setEvent records carry their value). */
function eventsSetBy(steps: readonly StepRecord[]): { key: string; value: string; setAt: number }[] {
  const latest = new Map<string, { key: string; value: string; setAt: number }>();
  for (const s of [...steps].sort((a, b) => a.functionId - b.functionId)) {
    if (s.kind === "setEvent" && s.eventValue !== undefined) latest.set(s.name, { key: s.name, value: s.eventValue, setAt: s.completedAt });
  }
  return [...latest.values()];
}
