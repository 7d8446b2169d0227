import { MAX_SQS_DELAY_SECONDS } from "../constants.js";
import { MalformedMessageError } from "../errors.js";
import type { WorkMessage } from "../types.js";

/** Marks our messages so foreign ones on the queue are told apart. */
const KIND = "cairn.step";
const VERSION = 1;

export function encodeMessage(message: WorkMessage): string {
  return JSON.stringify({ kind: KIND, v: VERSION, ...message });
}

export function decodeMessage(body: string): WorkMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new MalformedMessageError(`Not a Cairn message (not JSON): ${body.slice(0, 200)}`);
  }
  const m = parsed as Record<string, unknown>;
  if (!m || typeof m !== "object" || m.kind !== KIND) {
    throw new MalformedMessageError(`Not a Cairn message (no kind "${KIND}"): ${body.slice(0, 200)}`);
  }
  if (m.v !== VERSION) throw new MalformedMessageError(`Unsupported Cairn message version ${String(m.v)}`);
  const { workflowId, step, generation, notBefore, op } = m;
  if (typeof workflowId !== "string" || workflowId.length === 0) throw new MalformedMessageError("Cairn message without a workflowId");
  if (!Number.isInteger(step) || (step as number) < 1) throw new MalformedMessageError(`Cairn message with an invalid step ${String(step)}`);
  if (!Number.isInteger(generation) || (generation as number) < 0) {
    throw new MalformedMessageError(`Cairn message with an invalid generation ${String(generation)}`);
  }
  if (notBefore !== undefined && typeof notBefore !== "number") throw new MalformedMessageError("Cairn message with an invalid notBefore");
  const hint = op as { kind?: unknown; name?: unknown } | undefined;
  if (hint !== undefined && (typeof hint !== "object" || (hint.kind !== "step" && hint.kind !== "sleep") || typeof hint.name !== "string")) {
    throw new MalformedMessageError("Cairn message with an invalid op");
  }
  return {
    workflowId,
    step: step as number,
    generation: generation as number,
    ...(notBefore !== undefined ? { notBefore } : {}),
    ...(hint !== undefined ? { op: { kind: hint.kind as "step" | "sleep", name: hint.name as string } } : {}),
  };
}

/** SQS DelaySeconds for a message: whole seconds, rounded up, capped at SQS's maximum. */
export function delaySecondsFor(message: WorkMessage, now: number): number {
  if (message.notBefore === undefined) return 0;
  const seconds = Math.ceil((message.notBefore - now) / 1000);
  return Math.min(MAX_SQS_DELAY_SECONDS, Math.max(0, seconds));
}
