import type { StepRecord, WorkflowRecord } from "../types.js";

/**
 * The single-table layout, in one place. A workflow and its steps share a
 * partition, so one consistent Query reads a workflow's whole state:
 *
 *   pk = "WF#<id>"  sk = "#IN"                the workflow's input (written once)
 *   pk = "WF#<id>"  sk = "#WF"                workflow record
 *   pk = "WF#<id>"  sk = "STEP#0000000003"    step 3
 *
 * An input over INLINE_INPUT_BYTES lives apart so the workflow record, updated
 * on every claim, stays small: a write costs one unit per KB of the larger of
 * the old and new item. Smaller inputs stay inline and save the extra item.
 * Workflow items also carry the keys of three GSIs that list workflows in
 * creation order: by name, by status, and all together.
 *
 * Incarnations. A workflow id can be used again once its finished record has
 * expired (retention). Every item a workflow writes (record, input, steps) is
 * stamped with its incarnation, a random id the record gets when it is created:
 * an item belongs to a workflow only if its stamp is the record's. So items an
 * expired incarnation left behind (not yet deleted by the reaper) are never read
 * as the new one's, and the reaper deletes only the expired incarnation's items.
 * Records written before incarnations existed have no stamp; neither have their
 * items, and they still belong together (undefined === undefined).
 */
export const GSI = {
  byName: { indexName: "byName", partitionKey: "gsiName" },
  byStatus: { indexName: "byStatus", partitionKey: "gsiStatus" },
  byCreated: { indexName: "byCreated", partitionKey: "gsiAll" },
  sortKey: "gsiSort",
} as const;

export const ALL_WORKFLOWS = "WORKFLOW";
const WORKFLOW_SK = "#WF";
const INPUT_SK = "#IN";
/** Sort-key prefix shared by the workflow record and its input, not by steps. */
export const HEADER_SK_PREFIX = "#";
const STEP_PREFIX = "STEP#";

export type Item = Record<string, unknown>;

/** The attribute stamping a record and each of its items with the workflow's incarnation. */
export const INCARNATION = "incarnation";
/** The TTL attribute (epoch seconds), on finished workflow records only. */
export const EXPIRES_AT = "expiresAt";

/** The incarnation an item is stamped with (undefined: written before incarnations). */
export const incarnationOf = (item: Item | undefined): string | undefined =>
  typeof item?.[INCARNATION] === "string" ? (item[INCARNATION] as string) : undefined;

/** Whether `item` belongs to the workflow whose record is `record`. */
export const belongsTo = (item: Item, record: Item): boolean => incarnationOf(item) === incarnationOf(record);

export const isWorkflowItem = (item: Item): boolean => item.sk === WORKFLOW_SK;
export const WORKFLOW_RECORD_SK = WORKFLOW_SK;
export const INPUT_RECORD_SK = INPUT_SK;

export const workflowKey = (workflowId: string): { pk: string; sk: string } => ({ pk: `WF#${workflowId}`, sk: WORKFLOW_SK });
export const stepKey = (workflowId: string, functionId: number): { pk: string; sk: string } => ({
  pk: `WF#${workflowId}`,
  sk: `${STEP_PREFIX}${String(functionId).padStart(10, "0")}`,
});
export const inputKey = (workflowId: string): { pk: string; sk: string } => ({ pk: `WF#${workflowId}`, sk: INPUT_SK });
export const isStepItem = (item: Item): boolean => String(item.sk).startsWith(STEP_PREFIX);
export const isInputItem = (item: Item): boolean => item.sk === INPUT_SK;
export const STEP_SK_PREFIX = STEP_PREFIX;

/** Sort key of the listing indexes: creation time, then id for a total order. */
export const listSortKey = (createdAt: number, workflowId: string): string =>
  `${String(Math.max(0, Math.trunc(createdAt))).padStart(15, "0")}#${workflowId}`;

export const INLINE_INPUT_BYTES = 400;

export const hasInlineInput = (wf: WorkflowRecord): boolean => Buffer.byteLength(wf.input, "utf8") <= INLINE_INPUT_BYTES;

/** A stamp, or nothing for a workflow without one. */
export const incarnationStamp = (incarnation: string | undefined): Item => (incarnation === undefined ? {} : { [INCARNATION]: incarnation });

export function toWorkflowItem(wf: WorkflowRecord, incarnation?: string): Item {
  const { input, ...rest } = wf;
  return {
    ...workflowKey(wf.workflowId),
    type: "workflow",
    ...rest,
    ...incarnationStamp(incarnation),
    ...(hasInlineInput(wf) ? { input } : {}),
    gsiName: wf.name,
    gsiStatus: wf.status,
    gsiAll: ALL_WORKFLOWS,
    gsiSort: listSortKey(wf.createdAt, wf.workflowId),
  };
}

export function toInputItem(wf: WorkflowRecord, incarnation?: string): Item {
  return { ...inputKey(wf.workflowId), type: "input", input: wf.input, ...incarnationStamp(incarnation) };
}

/** The attribute counting the attempts of one step (see the store's claim). */
export const attemptsAttribute = (step: number): string => `attempts_${step}`;
const ATTEMPTS_PREFIX = "attempts_";

/** A workflow record from its item and its input item. */
export function fromWorkflowItem(item: Item, inputItem: Item | undefined): WorkflowRecord {
  const { pk: _pk, sk: _sk, type: _type, gsiName: _n, gsiStatus: _s, gsiAll: _a, gsiSort: _o, [INCARNATION]: _i, ...rest } = item;
  for (const key of Object.keys(rest)) if (key.startsWith(ATTEMPTS_PREFIX)) delete rest[key];
  const record = rest as unknown as WorkflowRecord;
  const running = record.running ? { ...record.running, attempt: Number(item[attemptsAttribute(record.running.step)] ?? 1) } : undefined;
  // An input item of another incarnation (left by an expired one) is not this workflow's.
  const input = inputItem && belongsTo(inputItem, item) ? inputItem.input : undefined;
  return { ...record, input: record.input ?? String(input ?? ""), ...(running ? { running } : {}) };
}

export function toStepItem(step: StepRecord, incarnation?: string): Item {
  return { ...stepKey(step.workflowId, step.functionId), type: "step", ...step, ...incarnationStamp(incarnation) };
}

export function fromStepItem(item: Item): StepRecord {
  // Stamps are the store's business: a fork copies StepRecords, and stamps them anew.
  // (`expiresAt` is on steps written before retention moved to the record alone.)
  const { pk: _pk, sk: _sk, type: _type, [INCARNATION]: _i, forkToken: _f, [EXPIRES_AT]: _x, ...rest } = item;
  return rest as unknown as StepRecord;
}
