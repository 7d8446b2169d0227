import type { OperationName } from "../control/operations.js";
import { compactJson, formatFields, formatTable, isoTime } from "./table.js";

/**
 * Human-readable output of each operation's result (the envelope's `result`,
 * whose times are epoch ms and values Cairn's tagged JSON).
 */
type Json = Record<string, any>;

const UNDEFINED_TAG = { $cairn: "undefined" };

function isUndefinedTag(v: unknown): boolean {
  return compactJson(v) === compactJson(UNDEFINED_TAG);
}

function valueText(v: unknown): string | undefined {
  return v === undefined || isUndefinedTag(v) ? undefined : compactJson(v);
}

function errorText(e: Json | undefined): string | undefined {
  return e ? `${e.name}: ${e.message}` : undefined;
}

export function renderStatus(s: Json): string {
  const running = s.runningStep as Json | undefined;
  const forked = s.forkedFrom as Json | undefined;
  return formatFields([
    ["Workflow ID", s.workflowId],
    ["Name", s.name],
    ["Status", s.cancelRequested && s.status !== "CANCELLED" ? `${s.status} (cancel requested)` : s.status],
    ["Created", isoTime(s.createdAt)],
    ["Updated", isoTime(s.updatedAt)],
    ["App version", s.applicationVersion],
    ["Forked from", forked ? `${forked.workflowId} at step ${forked.startStep}` : undefined],
    ["Parent", s.parentWorkflowId],
    ["Queue", s.queueName],
    ["Partition", s.partitionKey],
    ["Priority", s.priority === undefined ? undefined : String(s.priority)],
    ["Deduplication ID", s.deduplicationId],
    ["Queue position", s.queuePosition === undefined ? undefined : `${s.queuePosition} ${s.queuePosition === 1 ? "workflow" : "workflows"} ahead of it`],
    ["Steps recorded", s.recordedSteps === undefined ? undefined : String(s.recordedSteps)],
    ["Running step", running ? `${running.functionId} ${running.name} (attempt ${running.attempt}, since ${isoTime(running.startedAt)})` : undefined],
    ["Input", valueText(s.input)],
    ["Output", valueText(s.output)],
    ["Error", errorText(s.error)],
    ["Recovery", s.recoveryReason],
  ]);
}

export function renderList(r: Json): string {
  const workflows = (r.workflows ?? []) as Json[];
  // A queue's workflows (queue show) also show their place there, when any has one.
  const queueColumns = (
    [
      ["Partition", "partitionKey"],
      ["Priority", "priority"],
      ["Position", "queuePosition"],
    ] as const
  ).filter(([, key]) => workflows.some((w) => w[key] !== undefined));
  const lines = [
    workflows.length === 0
      ? "No workflows found."
      : formatTable(
          ["Workflow ID", "Name", "Status", ...queueColumns.map(([header]) => header), "Created", "Updated", "Version"],
          workflows.map((w) => [
            w.workflowId,
            w.name,
            w.status,
            ...queueColumns.map(([, key]) => (w[key] === undefined ? "" : String(w[key]))),
            isoTime(w.createdAt),
            isoTime(w.updatedAt),
            w.applicationVersion ?? "",
          ]),
        ),
  ];
  if (r.nextToken) {
    const why = r.sizeLimited ? " (this page stopped early: its inputs and outputs reached the page size limit)" : "";
    lines.push("", `More workflows${why}: repeat the command, same filters, with --next-token ${r.nextToken}`);
  }
  return lines.join("\n");
}

export function renderSteps(r: Json): string {
  const steps = (r.steps ?? []) as Json[];
  if (steps.length === 0) return "No steps recorded.";
  // The child column only for workflows that started children, so other tables keep their shape.
  const children = steps.some((s) => s.childWorkflowId !== undefined);
  return formatTable(
    ["#", "Name", "Kind", "Status", "Attempts", "Started", "Completed", ...(children ? ["Child workflow"] : []), "Output / error"],
    steps.map((s) => [
      String(s.functionId),
      s.name,
      s.kind,
      s.copiedFrom ? `${s.status} (from ${s.copiedFrom})` : s.status,
      String(s.attempts),
      isoTime(s.startedAt),
      isoTime(s.completedAt),
      ...(children ? [s.childWorkflowId ?? ""] : []),
      errorText(s.error) ?? valueText(s.output) ?? "",
    ]),
    // Ids are copied: the child's is never cut.
    { maxCellWidth: 60, keepColumns: children ? [0, 7] : [0] },
  );
}

/** A cancel's answer: with --wait, whether a step still runs (the cancel is applied either way). */
export function renderCancel(r: Json): string {
  const descendants = (r.cancelledDescendants ?? []) as string[];
  // The cascade: the children (at any depth) this cancel cancelled too.
  const line = `Workflow ${r.workflowId} is ${r.status}${descendants.length ? `, and so are its descendants ${descendants.join(", ")}` : ""}`;
  const running = r.stillRunning as Json | undefined;
  if (r.idle === false && running) {
    const where = running.workflowId !== undefined && running.workflowId !== r.workflowId ? ` of workflow ${running.workflowId}` : "";
    return `${line}\nStep ${running.functionId} (${running.name})${where} is still running: it will be recorded, nothing after it runs.`;
  }
  return r.idle === true ? `${line}\nNo step of it is running.` : line;
}

/** A value as the answer holds it (Cairn's tagged JSON), indented; `none` for undefined. */
function valueBlock(v: unknown, none: string): string {
  return v === undefined || isUndefinedTag(v) ? none : JSON.stringify(v, null, 2);
}

export function renderResult(r: Json): string {
  return valueBlock(r.output, "(no output)");
}

/** An event's value, or why there is none. */
export function renderEvent(r: Json): string {
  return r.set ? valueBlock(r.value, "(undefined)") : `Event ${JSON.stringify(r.key)} of workflow ${r.workflowId} is not set.`;
}

/** A period as people say it: 60000 -> "1m", 1500 -> "1500ms". */
function periodText(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * How much of its rate a queue uses: admissions within the rate period out of the
 * limit when the rate limit is known, else admissions in the last minute (the
 * queue keeps admission times only when it has a rate limit).
 */
export function rateUse(q: Json, now: number = Date.now()): string {
  const admissions = ((q.recentAdmissions ?? []) as unknown[]).filter((t): t is number => typeof t === "number");
  const rate = q.rateLimit as { limit?: unknown; periodMs?: unknown } | undefined;
  if (typeof rate?.limit === "number" && typeof rate.periodMs === "number") {
    const used = admissions.filter((t) => t > now - (rate.periodMs as number)).length;
    return `${used}/${rate.limit} per ${periodText(rate.periodMs)}`;
  }
  return admissions.length === 0 ? "-" : `${admissions.filter((t) => t > now - 60_000).length} in the last minute`;
}

/** Queues (each partition of a partitioned one) with their use: `queue list` and the head of `queue show`. */
export function renderQueues(r: Json, now: number = Date.now()): string {
  const queues = (r.queues ?? []) as Json[];
  if (queues.length === 0) return "No queues found (a queue shows once the target knows its definition or it has admitted a workflow).";
  return formatTable(
    ["Queue", "Partition", "Waiting", "In flight", "Concurrency", "Rate use"],
    queues.map((q) => [q.queueName, q.partitionKey ?? "", String(q.waiting), String(q.inFlight), q.concurrency === undefined ? "-" : String(q.concurrency), rateUse(q, now)]),
    { keepColumns: [0, 1] },
  );
}

/** `queue show`: the queue's summary, then its waiting and running workflows. */
export function renderQueueShow(r: Json): string {
  return [renderQueues(r), "", renderList(r)].join("\n");
}

/** The queue a started, resumed or forked workflow waits in, if any. */
const onQueue = (r: Json): string => (r.queueName !== undefined ? ` on queue ${r.queueName}` : "");

/** The human-readable text for one operation's result. */
export function renderResultOf(op: OperationName, r: Json): string {
  switch (op) {
    case "start":
      return `Started workflow ${r.workflowId}${onQueue(r)}`;
    case "status":
      return renderStatus(r);
    case "result":
      return renderResult(r);
    case "cancel":
      return renderCancel(r);
    case "resume":
      return `Resumed workflow ${r.workflowId}${onQueue(r)}`;
    case "fork":
      return `Forked workflow ${r.forkedFrom?.workflowId} at step ${r.forkedFrom?.startStep} into ${r.workflowId}${onQueue(r)}`;
    case "list":
      return renderList(r);
    case "steps":
      return renderSteps(r);
    case "send":
      return `Sent a message to workflow ${r.workflowId}${r.topic !== undefined ? ` on topic ${JSON.stringify(r.topic)}` : ""}`;
    case "event":
      return renderEvent(r);
    case "queues":
      return renderQueues(r);
    case "queued":
      return renderList(r);
  }
}
