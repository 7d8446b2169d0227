import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { WorkMessage } from "../../src/types.js";
import { Outbox } from "../../src/worker/Outbox.js";

/** A queue that remembers each send call's messages. */
function recordingQueue() {
  const calls: WorkMessage[][] = [];
  return { calls, queue: { send: async (m: readonly WorkMessage[]) => void calls.push([...m]), sendAdmit: async () => undefined, extendVisibility: async () => undefined } };
}

const message = (workflowId: string): WorkMessage => ({ workflowId, step: 2, generation: 0 });

describe("Outbox", () => {
  it("sends the continuations of records that finish together as one batch", async () => {
    // Prepare
    const { calls, queue } = recordingQueue();
    const outbox = new Outbox(queue, 3);

    // Act
    await Promise.all([outbox.send([message("a")]), outbox.send([message("b")]), outbox.send([message("c")])]);

    // Assess
    assert.deepEqual(
      calls.map((c) => c.map((m) => m.workflowId)),
      [["a", "b", "c"]],
    );
  });

  it("does not hold a record's continuation back for a record still running its step", async () => {
    // Prepare: three records; one runs a long step and sends nothing yet.
    const { calls, queue } = recordingQueue();
    const outbox = new Outbox(queue, 3, 5);
    const started = Date.now();

    // Act
    await Promise.all([outbox.send([message("a")]), outbox.send([message("b")])]);

    // Assess
    assert.ok(Date.now() - started < 1_000, `sent after ${Date.now() - started} ms`);
    assert.deepEqual(
      calls.map((c) => c.map((m) => m.workflowId)),
      [["a", "b"]],
    );
  });

  it("sends at once when the only other running record settles without sending", async () => {
    // Prepare
    const { calls, queue } = recordingQueue();
    const outbox = new Outbox(queue, 2, 60_000);
    const sending = outbox.send([message("a")]);
    await sleep(10);
    assert.equal(calls.length, 0, "held while the other record runs");

    // Act
    outbox.recordDone();
    await sending;

    // Assess
    assert.equal(calls.length, 1);
  });

  it("fails the sends of a batch SQS refused, and only those", async () => {
    // Prepare
    const outbox = new Outbox(
      {
        send: async () => {
          throw new Error("SQS is unavailable");
        },
        sendAdmit: async () => undefined, extendVisibility: async () => undefined,
      },
      1,
    );

    // Act / Assess
    await assert.rejects(outbox.send([message("a")]), /SQS is unavailable/);
  });
});
