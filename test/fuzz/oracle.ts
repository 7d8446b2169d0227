import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { WorkflowStore } from "../../src/store/WorkflowStore.js";
import { clip } from "./values.js";
import { FUZZ_TOPICS } from "./workflows.js";

/**
 * What the fuzz holds every answer to. A control answer, a CLI run, a worker or
 * dead-letter delivery either succeeds or fails with a typed error: a known
 * `code`, a clipped message, no stack, no text of DynamoDB, SQS or the SDK, and
 * never INTERNAL_ERROR. An error answer changes no state; no step body starts
 * twice; nothing stays on a queue for ever; no answer is over Lambda's 6 MB.
 */

export const COUNTERS = ["internalErrors", "unintendedStateChanges", "duplicateBodies", "stuckMessages", "oversizeResponses"] as const;
export type Counter = (typeof COUNTERS)[number];

/** Lambda's limit on a synchronous invocation's response. */
export const LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024;
/** The longest error message an answer may carry (messages are clipped to 2,000 characters plus a note of the length). */
export const MAX_ERROR_MESSAGE_CHARS = 2_100;

export interface Finding {
  counter: Counter;
  /** The case, e.g. "r3.c17" (round 3, case 17), or "r3.end" for the checks at the end of a round. */
  caseId: string;
  round: number;
  /** What went wrong, in one line; its start (up to the first ":") groups findings in the summary. */
  detail: string;
  /** The input of the case, clipped. */
  input: string;
}

export class Findings {
  readonly counters: Record<Counter, number> = {
    internalErrors: 0,
    unintendedStateChanges: 0,
    duplicateBodies: 0,
    stuckMessages: 0,
    oversizeResponses: 0,
  };
  readonly list: Finding[] = [];

  add(counter: Counter, where: { caseId: string; round: number; input: string }, detail: string): void {
    this.counters[counter]++;
    this.list.push({ counter, caseId: where.caseId, round: where.round, detail: clip(detail, 600), input: where.input });
  }

  get total(): number {
    return COUNTERS.reduce((sum, c) => sum + this.counters[c], 0);
  }
}

/** Text in an answer that betrays an unhandled error: SDK errors, DynamoDB's words, JavaScript's own errors. */
const LEAK_PATTERNS: readonly RegExp[] = [
  /ValidationException/,
  /ConditionalCheckFailed/,
  /TransactionCanceled/,
  /ProvisionedThroughput/,
  /ResourceNotFoundException/,
  /ItemCollectionSizeLimit/,
  /SerializationException/,
  /InternalServerError/,
  /UnrecognizedClient/,
  /AccessDenied/,
  /One or more parameter values/,
  /Member must/,
  /failed to satisfy constraint/,
  /ExpressionAttribute/,
  /KeyConditionExpression/,
  /ExclusiveStartKey/,
  /provided starting key/i,
  /Item size has exceeded/,
  /Item size to update has exceeded/,
  /Transaction request cannot/,
  /\$metadata/,
  /AWS\.SimpleQueueService/,
  /InvalidParameterValue/,
  /MessageTooLong/,
  /NumberValue/,
  /MAX_SAFE_INTEGER/,
  /@aws-sdk/,
  /@smithy/,
  /Deserialization error/,
  /Cannot read propert/,
  /is not a function/,
  /is not iterable/,
  /\(reading '/,
  /Maximum call stack/,
  /Unexpected token/,
  /in JSON at position/,
  /Unexpected end of JSON/,
  /Invalid string length/,
  /Invalid array length/,
];

const STACK_PATTERN = /\n\s+at\s|\bat\s+\S+\s+\(?(?:file:\/\/)?\/[^\s)]+\.(?:ts|js|mjs):\d+/;

export function leakIn(text: string): string | undefined {
  for (const pattern of LEAK_PATTERNS) if (pattern.test(text)) return pattern.source;
  if (STACK_PATTERN.test(text)) return "a stack trace";
  return undefined;
}

let codes: ReadonlySet<string> | undefined;

/**
 * The error codes Cairn answers with: every UPPER_SNAKE string literal in src/
 * (error classes' `code`, the CLI's usage codes). Read from the source so codes
 * that other parts add are known without editing the fuzz.
 */
export function knownCodes(): ReadonlySet<string> {
  if (codes) return codes;
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");
  const found = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const p = path.join(dir, entry);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) for (const m of readFileSync(p, "utf8").matchAll(/["'`]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)["'`]/g)) found.add(m[1]!);
    }
  };
  walk(root);
  found.delete("INTERNAL_ERROR");
  found.delete("CAIRN_ERROR");
  codes = found;
  return codes;
}

/** What is wrong with a control Lambda's answer, if anything. */
export function controlAnswerProblems(answer: unknown): { counter: Counter; detail: string }[] {
  const problems: { counter: Counter; detail: string }[] = [];
  let text: string | undefined;
  try {
    text = JSON.stringify(answer);
  } catch (err) {
    return [{ counter: "internalErrors", detail: `answer not JSON-serializable: ${String(err)}` }];
  }
  if (text === undefined) return [{ counter: "internalErrors", detail: "no answer (undefined)" }];
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > LAMBDA_RESPONSE_LIMIT_BYTES) problems.push({ counter: "oversizeResponses", detail: `answer of ${bytes} bytes, over Lambda's 6 MB` });
  const envelope = answer as { ok?: unknown; error?: unknown; result?: unknown } | null;
  if (!envelope || typeof envelope !== "object" || typeof envelope.ok !== "boolean") {
    problems.push({ counter: "internalErrors", detail: `not an { ok, ... } envelope: ${clip(text, 200)}` });
    return problems;
  }
  if (envelope.ok) return problems;
  problems.push(...errorProblems(envelope.error));
  return problems;
}

/** What is wrong with an error of an answer: `{ code, name, message }`. */
export function errorProblems(error: unknown): { counter: Counter; detail: string }[] {
  const e = error as { code?: unknown; name?: unknown; message?: unknown; stack?: unknown } | null;
  if (!e || typeof e !== "object" || typeof e.code !== "string" || typeof e.message !== "string") {
    return [{ counter: "internalErrors", detail: `error without code and message: ${clip(safeJson(error), 200)}` }];
  }
  const problems: { counter: Counter; detail: string }[] = [];
  const code = e.code;
  const message = e.message;
  if (code === "INTERNAL_ERROR") problems.push({ counter: "internalErrors", detail: `INTERNAL_ERROR: ${String(e.name)}: ${clip(message, 300)}` });
  else if (!knownCodes().has(code)) problems.push({ counter: "internalErrors", detail: `unknown code ${clip(code, 60)}: ${clip(message, 200)}` });
  if (message.length > MAX_ERROR_MESSAGE_CHARS) problems.push({ counter: "internalErrors", detail: `unclipped message (${message.length} chars) with ${code}` });
  if (e.stack !== undefined) problems.push({ counter: "internalErrors", detail: `stack in the answer with ${code}` });
  const leak = code === "INTERNAL_ERROR" ? undefined : leakIn(message);
  if (leak) problems.push({ counter: "internalErrors", detail: `leaked text (${leak}) with ${code}: ${clip(message, 300)}` });
  return problems;
}

/**
 * Why a worker or dead-letter delivery failed, judged: "internal" if the
 * reason is a bug or bad input reaching DynamoDB (a TypeError, an SDK
 * ValidationException, a number the SDK refuses); "expected" for the designed
 * failures (a step still running, a transient error).
 */
export function failureKind(reason: unknown): "internal" | "expected" {
  if (reason instanceof TypeError || reason instanceof RangeError || reason instanceof SyntaxError || reason instanceof ReferenceError) return "internal";
  const e = reason as { name?: unknown; message?: unknown; $fault?: unknown; $retryable?: unknown; $simulated?: unknown } | null;
  if (e && e.$fault === "client" && !e.$retryable && !e.$simulated) return "internal";
  const text = `${String(e?.name ?? "")}: ${String(e?.message ?? reason)}`;
  return leakIn(text) ? "internal" : "expected";
}

export function describeReason(reason: unknown): string {
  const e = reason as { name?: unknown; message?: unknown } | null;
  return e && typeof e === "object" ? `${String(e.name)}: ${String(e.message)}` : String(reason);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * A workflow's state as the oracle compares it before and after an answer: the
 * record and its steps, without the fields every write bumps (version,
 * updatedAt), the diagnostic `lastFailure` note a failed delivery leaves, and a
 * claim left on a step already recorded (dead: replacing or dropping it changes
 * nothing).
 */
export async function snapshot(store: WorkflowStore, workflowId: string): Promise<string> {
  try {
    const state = await store.loadState(workflowId);
    if (!state) return "absent";
    const { version: _v, updatedAt: _u, lastFailure: _l, running, ...rest } = state.workflow;
    const steps = [...state.steps].sort((a, b) => a.functionId - b.functionId);
    const live = running && !steps.some((s) => s.functionId === running.step) ? running : undefined;
    const workflow = { ...rest, ...(live ? { running: live } : {}) };
    // The oldest message of each topic the fuzz sends on, so a refused send that left one behind shows.
    const mailbox = await Promise.all([undefined, ...FUZZ_TOPICS].map((topic) => store.oldestMessage(workflowId, topic)));
    return JSON.stringify({ workflow, steps, mailbox });
  } catch (err) {
    return `unreadable (${describeReason(err)})`;
  }
}

/** The first difference between two snapshots, for a report line. */
export function snapshotDiff(before: string, after: string): string {
  if (before === "absent" || after === "absent" || before.startsWith("unreadable") || after.startsWith("unreadable")) {
    return `${clip(before, 80)} -> ${clip(after, 80)}`;
  }
  const a = JSON.parse(before) as { workflow: Record<string, unknown>; steps: unknown[]; mailbox: unknown[] };
  const b = JSON.parse(after) as { workflow: Record<string, unknown>; steps: unknown[]; mailbox: unknown[] };
  const changed: string[] = [];
  for (const key of new Set([...Object.keys(a.workflow), ...Object.keys(b.workflow)])) {
    const x = JSON.stringify(a.workflow[key]);
    const y = JSON.stringify(b.workflow[key]);
    if (x !== y) changed.push(`${key}: ${clip(String(x), 120)} -> ${clip(String(y), 120)}`);
  }
  if (JSON.stringify(a.steps) !== JSON.stringify(b.steps)) changed.push(`steps: ${a.steps.length} -> ${b.steps.length} records (or their content)`);
  if (JSON.stringify(a.mailbox) !== JSON.stringify(b.mailbox)) changed.push(`mailbox: ${clip(JSON.stringify(a.mailbox), 120)} -> ${clip(JSON.stringify(b.mailbox), 120)}`);
  return `[${changed.map((c) => c.slice(0, c.indexOf(":"))).join(", ")}] ${changed.join("; ")}`;
}
