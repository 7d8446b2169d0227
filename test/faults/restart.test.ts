import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { defineWorkflow, WorkflowStatus } from "../../src/index.js";
import type { LocalRuntime } from "../../src/local/index.js";
import { StepProbe, startTestRuntime } from "../helpers/runtime.js";
import { assertRecordedOnce, quietLogger } from "./helpers.js";

const probe = new StepProbe();
const STEPS = 6;
/**
 * Six steps of ~150 ms, so the outage lands in the middle of the run. A step
 * whose claim landed just before the kill and whose record could not be
 * written counts an attempt (its body ran): a second attempt lets it finish.
 */
const steady = defineWorkflow("faults.restart", async (ctx, input: { n: number }) => {
  let total = input.n;
  for (let i = 1; i <= STEPS; i++) {
    total = await ctx.step(
      `s${i}`,
      async () => {
        await probe.ran(ctx.workflowId, `s${i}`);
        await sleep(150);
        return total + i;
      },
      { retries: { maxAttempts: 3, intervalMs: 100 } },
    );
  }
  return total;
});
const outputsFor = (n: number) => Array.from({ length: STEPS }, (_, i) => n + ((i + 1) * (i + 2)) / 2);

/** The work queue as the test configures it: a message is dead-lettered on its fourth receive. */
const VISIBILITY_SECONDS = 5;
const MAX_RECEIVE_COUNT = 3;
/**
 * DynamoDB is down this long, plus however long DynamoDB Local takes to start:
 * longer than MAX_RECEIVE_COUNT visibility timeouts, so without a backoff every
 * message in flight would burn its deliveries and be dead-lettered.
 */
const OUTAGE_MS = 20_000;
/**
 * Failed records come back after 15, then 30 s (no jitter, to keep it short): the third and last
 * delivery is at least 45 s after the first failure, past the outage even when a
 * loaded machine takes 20 s more to start DynamoDB Local again (2 busy cores: 14-18 s).
 */
const BACKOFF = { baseSeconds: 15, maxSeconds: 60, jitter: 0 };

describe("DynamoDB Local down for longer than the queue's deliveries last", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "cairn-restart-"));
  let rt: LocalRuntime;
  before(async () => {
    rt = await startTestRuntime([steady], {
      dynamoDataDir: dataDir,
      logger: quietLogger,
      visibilityTimeoutSeconds: VISIBILITY_SECONDS,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      failureBackoff: BACKOFF,
    });
  });
  after(async () => {
    await rt?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("dead-letters no workflow, loses none, and records every step once", async () => {
    // Prepare
    assert.ok(OUTAGE_MS > MAX_RECEIVE_COUNT * VISIBILITY_SECONDS * 1000, "the outage outlasts the deliveries the queue allows without backoff");
    const ids = Array.from({ length: 5 }, (_, i) => `restart-${i}`);
    const handles = await Promise.all(ids.map((id, i) => rt.client.startWorkflow(steady, { n: i * 1000 }, { workflowId: id })));
    await sleep(500);
    const recordedBefore = await rt.store.countSteps(ids[0]!);
    const failuresBefore = rt.worker.stats.failures;

    // Act: the database dies (SIGKILL), stays down, and comes back with its files.
    await rt.restartDynamo({ downtimeMs: OUTAGE_MS });

    // Assess
    assert.ok(recordedBefore < STEPS, "the outage began mid-run");
    assert.ok(rt.worker.stats.failures > failuresBefore, "deliveries failed during the outage");
    const results = await Promise.all(handles.map((h) => h.getResult({ timeoutMs: 90_000 })));
    for (const [i, id] of ids.entries()) {
      const outputs = outputsFor(i * 1000);
      assert.equal(results[i], outputs.at(-1));
      assert.equal((await rt.client.getWorkflowStatus(id)).status, WorkflowStatus.SUCCESS);
      await assertRecordedOnce(rt.store, id, outputs);
      for (let s = 1; s <= STEPS; s++) assert.ok(probe.count(id, `s${s}`) >= 1);
    }
    assert.equal(rt.deadLetters.stats.messages, 0, "nothing reached the dead-letter queue");
  });
});
