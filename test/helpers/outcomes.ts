import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import type { ProcessOutcome } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import type { WorkMessage } from "../../src/types.js";
import { waitFor } from "./runtime.js";

export interface ObservedOutcome {
  workflowId: string;
  step: number;
  generation: number;
  outcome: ProcessOutcome;
  messageId: string;
}

/**
 * Remembers what the worker made of each message (pass `log.onOutcome` to the
 * runtime), so tests can wait for a message to be dropped or found a duplicate.
 */
export class OutcomeLog {
  readonly entries: ObservedOutcome[] = [];

  readonly onOutcome = (outcome: ProcessOutcome, record: SQSRecord): void => {
    try {
      const body = JSON.parse(record.body) as WorkMessage;
      this.entries.push({ workflowId: body.workflowId, step: body.step, generation: body.generation, outcome, messageId: record.messageId });
    } catch {
      // not a Cairn message: nothing to remember
    }
  };

  of(workflowId: string): ObservedOutcome[] {
    return this.entries.filter((e) => e.workflowId === workflowId);
  }

  /** Wait until the worker reports `outcome` for a message of `workflowId` (and `step`, if given). */
  waitFor(workflowId: string, outcome: ProcessOutcome, step?: number, timeoutMs?: number): Promise<ObservedOutcome> {
    return waitFor(
      `outcome "${outcome}" for ${workflowId}${step !== undefined ? ` step ${step}` : ""}`,
      () => this.entries.find((e) => e.workflowId === workflowId && e.outcome === outcome && (step === undefined || e.step === step)),
      timeoutMs,
    );
  }
}

/** Wait until the work queue holds no message at all: none visible, in flight or delayed. */
export async function waitForQueueIdle(rt: LocalRuntime, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    "the work queue to be empty",
    async () => {
      const out = await rt.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: rt.queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
        }),
      );
      const a = out.Attributes ?? {};
      return (
        Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible) + Number(a.ApproximateNumberOfMessagesDelayed) === 0
      );
    },
    timeoutMs,
  );
}
