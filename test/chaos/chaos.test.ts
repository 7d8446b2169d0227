import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isClean, reportLine, runChaos } from "./chaos.js";

describe("chaos", () => {
  it("loses no workflow, message or event and runs no recorded step twice under random faults, cancels, resumes and forks of workflow trees, and keeps workflow queues within their limits", async () => {
    const seed = Number(process.env.CAIRN_CHAOS_SEED ?? 20_241);
    const lines: string[] = [];
    const report = await runChaos({ seed, workflows: 24, actionMs: 15_000, quiescenceMs: 40_000, print: (l) => lines.push(l) });
    const line = reportLine(report);
    assert.ok(report.faultsInjected > 0, "faults were injected");
    assert.ok(isClean(report), `chaos seed ${seed} violated invariants:\n${[...lines, ...report.details, line].join("\n")}`);
    assert.equal(report.lost, 0);
    assert.ok(report.children > 0 && report.messagesSent > 0, `the workload started children and exchanged messages: ${line}`);
    assert.ok(report.admissions > 0 && report.queueSamples > 0, `the workload ran workflows through queues, and the queues were sampled: ${line}`);
  });
});
