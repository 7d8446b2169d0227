import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { WorkflowStore } from "../../src/store/WorkflowStore.js";
import { SeededRandom } from "../../src/testing/random.js";
import type { WorkflowState } from "../../src/types.js";
import type { Aim } from "./controlCases.js";
import { controlAnswerProblems, failureKind, LAMBDA_RESPONSE_LIMIT_BYTES } from "./oracle.js";
import { groupFindings, isClean, reportLine, runFuzz } from "./runner.js";
import { genWorkerCase } from "./workerCases.js";
import { BodyJournal } from "./workflows.js";

describe("fuzz: bad and hostile input", () => {
  it("answers every control payload, worker record and CLI argument with success or a typed error, and changes, runs or strands nothing it should not", async () => {
    // Prepare: a small budget, so it fits in `npm test`; `npm run fuzz -- --seed S --budget N` runs any size.
    const seed = Number(process.env.CAIRN_FUZZ_SEED ?? 20_261_125);
    const budget = Number(process.env.CAIRN_FUZZ_BUDGET ?? 80);

    // Act
    const report = await runFuzz({ seed, budget, casesPerRound: 40, cliCases: 2 });

    // Assess
    const summary = groupFindings(report.findings)
      .map((g) => `${g.count} x ${g.signature}\n    e.g. ${g.first.caseId}: ${g.first.detail}\n    input: ${g.first.input}`)
      .join("\n");
    assert.ok(report.cases >= budget - 2, `ran ${report.cases} cases`);
    assert.ok(isClean(report), `fuzz seed ${seed} found:\n${summary}\n${reportLine(report)}\nrerun: npm run fuzz -- --seed ${seed} --budget ${budget} --cli-cases 2`);
  });

  describe("the worker-record generator", () => {
    it("produces the issue's case: while step 2 runs, a message for the step after next that names a step, then a redelivered step-1 message", async () => {
      // Prepare: the round's running workflow as the generator reads it: step 1 recorded, step 2 claimed.
      const state = {
        workflow: { workflowId: "r0-running", generation: 3, running: { step: 2, name: "b", token: "live-token", until: Date.now() + 60_000 } },
        steps: [{ functionId: 1 }],
      } as unknown as WorkflowState;
      const store = { loadState: async () => state } as unknown as WorkflowStore;
      const round = { running: "r0-running", done: "r0-done", failed: "r0-failed", sleeping: "r0-sleeping", cancelled: "r0-cancelled", deadLettered: "r0-dead" };
      const aim = (seed: number): Aim => ({ rng: new SeededRandom(seed), prefix: "r0-", round, global: { bulky: "g-bulky", bigInputs: ["g-big-input-0"] }, tokens: [] });

      // Act
      const found = [];
      for (let seed = 1; seed <= 300; seed++) {
        const k = await genWorkerCase(aim(seed), store);
        const records = k.batches.flat().map((r) => {
          try {
            return JSON.parse(r.body) as { workflowId?: string; step?: number; generation?: number; op?: { kind?: string } } | null;
          } catch {
            return null;
          }
        });
        const [ahead, redelivered] = records;
        if (
          k.batches.length === 2 &&
          ahead?.workflowId === "r0-running" && ahead.step === 3 && ahead.generation === 3 && ahead.op?.kind === "step" &&
          redelivered?.step === 1 && redelivered.generation === 3
        ) {
          found.push(seed);
        }
      }

      // Assess
      assert.ok(found.length >= 5, `the issue's case among 300 worker cases: ${found.length} times`);
    });

    it("produces deliveries of the very message that holds the running step's claim", async () => {
      const state = {
        workflow: { workflowId: "r0-running", generation: 0, running: { step: 2, name: "b", token: "live-token", until: Date.now() + 60_000 } },
        steps: [{ functionId: 1 }],
      } as unknown as WorkflowState;
      const store = { loadState: async () => state } as unknown as WorkflowStore;
      const round = { running: "r0-running", done: "r0-done", failed: "r0-failed", sleeping: "r0-sleeping", cancelled: "r0-cancelled", deadLettered: "r0-dead" };
      let live = 0;
      for (let seed = 1; seed <= 200; seed++) {
        const k = await genWorkerCase({ rng: new SeededRandom(seed), prefix: "r0-", round, global: { bulky: "g-bulky", bigInputs: [] }, tokens: [] }, store);
        if (k.batches.flat().some((r) => r.messageId === "live-token")) live++;
      }
      assert.ok(live >= 5, `duplicates of the live message: ${live}`);
    });
  });

  describe("the oracle", () => {
    it("counts a step body that starts twice, but not a failing step re-run by resume", async () => {
      const journal = new BodyJournal();
      await journal.started("w", 2);
      await journal.started("w", 2);
      await journal.started("w", 3, { mayRepeat: true });
      await journal.started("w", 3, { mayRepeat: true });
      await journal.started("v", 2);
      assert.deepEqual(
        journal.duplicates().map(({ times: _, ...d }) => d),
        [{ workflowId: "w", functionId: 2, starts: 2 }],
      );
      assert.deepEqual(journal.duplicates(), [], "each is counted once");
    });

    it("accepts success and typed errors", () => {
      assert.deepEqual(controlAnswerProblems({ ok: true, result: { workflowId: "w" } }), []);
      assert.deepEqual(controlAnswerProblems({ ok: false, error: { code: "WORKFLOW_NOT_FOUND", name: "WorkflowNotFoundError", message: 'Workflow "w" does not exist' } }), []);
    });

    const bad: [string, unknown, RegExp][] = [
      ["INTERNAL_ERROR", { ok: false, error: { code: "INTERNAL_ERROR", name: "TypeError", message: "x" } }, /INTERNAL_ERROR/],
      ["an unknown code", { ok: false, error: { code: "WHATEVER_HAPPENED", name: "E", message: "x" } }, /unknown code/],
      ["an unclipped message", { ok: false, error: { code: "VALIDATION_ERROR", name: "E", message: "x".repeat(100_000) } }, /unclipped/],
      ["DynamoDB's words", { ok: false, error: { code: "VALIDATION_ERROR", name: "E", message: "ValidationException: One or more parameter values were invalid" } }, /leaked/],
      ["a stack", { ok: false, error: { code: "VALIDATION_ERROR", name: "E", message: "m", stack: "Error: m\n    at x (/a.js:1:1)" } }, /stack/],
      ["no envelope", { statusCode: 500 }, /envelope/],
      ["an answer over 6 MB", { ok: true, result: "x".repeat(LAMBDA_RESPONSE_LIMIT_BYTES) }, /over Lambda's 6 MB/],
    ];
    for (const [what, answer, problem] of bad) {
      it(`flags ${what}`, () => {
        const problems = controlAnswerProblems(answer);
        assert.ok(problems.some((p) => problem.test(p.detail)), JSON.stringify(problems));
      });
    }

    it("tells a failure that betrays a bug from a designed one", () => {
      const sdk = Object.assign(new Error("Hash primary key values must be under 2048 bytes"), { name: "ValidationException", $fault: "client", $metadata: {} });
      const throttled = Object.assign(new Error("slow down"), { name: "ThrottlingException", $fault: "client", $retryable: { throttling: true }, $metadata: {} });
      assert.equal(failureKind(new TypeError("Cannot read properties of null (reading 'kind')")), "internal");
      assert.equal(failureKind(sdk), "internal");
      assert.equal(failureKind(new Error("Number 9007199254740993 is greater than Number.MAX_SAFE_INTEGER. Use NumberValue")), "internal");
      assert.equal(failureKind(throttled), "expected");
      assert.equal(failureKind(new Error("Step 2 is running under another delivery; retrying later")), "expected");
    });
  });
});
