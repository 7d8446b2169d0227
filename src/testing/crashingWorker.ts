import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { CrashPoint } from "./faults.js";
import type { FaultInjector } from "./FaultInjector.js";

type Handler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** The workflow and step a record's body names, if it is a Cairn message. */
function siteOf(body: string | undefined): { workflowId?: string; step?: number } {
  try {
    const m = JSON.parse(body ?? "") as { workflowId?: unknown; step?: unknown };
    return {
      ...(typeof m.workflowId === "string" ? { workflowId: m.workflowId } : {}),
      ...(typeof m.step === "number" ? { step: m.step } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * Wrap a worker handler so that crashes injected by FaultyStore and FaultyQueue
 * kill the whole invocation, as a crashing Lambda would: the handler fails at
 * once (SQS delivers the batch again), and calls the dead invocation still makes
 * fail. Adds the `beforeAck` crash point: the batch was handled, but the
 * invocation dies before Lambda deletes its messages.
 */
export function crashingWorker(handler: Handler, faults: FaultInjector): Handler {
  return (event, context) =>
    faults.runInvocation(async (invocation) => {
      const response = await Promise.race([handler(event, context), invocation.death]);
      if (invocation.dead) throw invocation.cause;
      const site = { point: CrashPoint.beforeAck, operation: "handler", ...siteOf(event.Records[0]?.body) };
      if (faults.shouldInject(site)) throw faults.crash(site);
      return response;
    });
}
