import { FINISHED_STATUSES, WorkflowStatus } from "../constants.js";
import { checkWorkflowName, clip, invalid, LIMITS } from "../limits.js";
import type { QueueRegistry } from "../queues/defineQueue.js";
import { decodePageToken, encodePageToken, isRecord, queryFingerprint } from "../store/pageToken.js";
import type { WorkflowStore } from "../store/WorkflowStore.js";
import type { QueuePlace, WorkflowRecord } from "../types.js";
import { toWorkflowStatus } from "./status.js";
import type { ListQueuedWorkflowsInput, ListWorkflowsOutput } from "./WorkflowClient.js";

/** The queue place a workflow record names. */
export const placeOf = (wf: WorkflowRecord): QueuePlace => ({
  queueName: wf.queueName!,
  ...(wf.partitionKey !== undefined ? { partitionKey: wf.partitionKey } : {}),
});

/**
 * The workflows of queues, as WorkflowClient.listQueuedWorkflows answers them:
 * each queue's waiting line in admission order, then its admitted workflows that
 * have not finished, queue after queue, partition after partition. The line is
 * read whole (consistently) and paged here: queues hold workflows waiting, not
 * history, so they stay short next to the table.
 */
export async function listQueued(store: WorkflowStore, queues: QueueRegistry | undefined, input: ListQueuedWorkflowsInput): Promise<ListWorkflowsOutput> {
  const { queueName, status, limit = LIMITS.listLimitDefault, nextToken } = input;
  if (queueName !== undefined) checkWorkflowName(queueName, "queueName");
  if (status !== undefined && status !== WorkflowStatus.ENQUEUED && status !== WorkflowStatus.PENDING) {
    throw invalid("status", `status must be ENQUEUED or PENDING, got ${clip(status)}`);
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.listLimitMax) throw invalid("limit", `limit must be an integer between 1 and ${LIMITS.listLimitMax}, got ${clip(limit)}`);
  const names = queueName !== undefined ? [queueName] : (queues?.all().map((q) => q.name) ?? []);
  if (names.length === 0) throw invalid("queueName", "listQueuedWorkflows needs a queueName (the client knows no queues: pass WorkflowClientOptions.queues)");
  const fingerprint = queryFingerprint(["queued", ...names, status ?? null]);
  const after = decodePageToken(nextToken, fingerprint, (p): p is { skip: number } => isRecord(p) && Number.isSafeInteger(p.skip) && (p.skip as number) >= 0);

  const members: string[] = [];
  for (const name of names) {
    const partitioned = queues?.get(name)?.partitioned;
    const noted = await store.queuePlaces(name);
    const places = [...(partitioned === true ? [] : [{ queueName: name }]), ...(partitioned === false ? [] : noted.filter((p) => p.partitionKey !== undefined))];
    for (const place of places) {
      const { waiting, admitted } = await store.queueMembers(place);
      members.push(...waiting, ...admitted);
    }
  }
  const records = await store.getWorkflows([...new Set(members)]);
  const listed = [...new Set(members)]
    .map((id) => records.get(id))
    .filter((wf): wf is WorkflowRecord => wf !== undefined && !FINISHED_STATUSES.includes(wf.status) && (status === undefined || wf.status === status));
  const skip = after?.skip ?? 0;
  const page = listed.slice(skip, skip + limit);
  return {
    workflows: page.map((r) => toWorkflowStatus(r)),
    ...(skip + limit < listed.length ? { nextToken: encodePageToken(fingerprint, { skip: skip + limit }) } : {}),
  };
}
