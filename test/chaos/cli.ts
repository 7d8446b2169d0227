import { parseArgs } from "node:util";
import { isClean, reportLine, runChaos } from "./chaos.js";

// npm run chaos -- --seed 7 --workflows 300 [--action-ms 60000] [--fault-rate 0.02]
const { values } = parseArgs({
  options: {
    seed: { type: "string", default: String(Date.now() % 100_000) },
    workflows: { type: "string", default: "50" },
    "action-ms": { type: "string" },
    "fault-rate": { type: "string" },
    "quiescence-ms": { type: "string" },
  },
});
const seed = Number(values.seed);
const workflows = Number(values.workflows);
const actionMs = values["action-ms"] !== undefined ? Number(values["action-ms"]) : Math.max(15_000, workflows * 150);
console.log(`chaos: seed ${seed}, ${workflows} workflows, ${actionMs} ms of faults and steering`);
try {
  const report = await runChaos({
    seed,
    workflows,
    actionMs,
    ...(values["fault-rate"] !== undefined ? { faultRate: Number(values["fault-rate"]) } : {}),
    ...(values["quiescence-ms"] !== undefined ? { quiescenceMs: Number(values["quiescence-ms"]) } : {}),
  });
  const { details, ...counts } = report;
  console.log(`workflows ${counts.workflows} + forks ${counts.forks}; cancels ${counts.cancels}, resumes ${counts.resumes}`);
  console.log(`step bodies started ${counts.bodyStarts}, steps recorded ${counts.stepsRecorded}`);
  console.log(`faults injected ${counts.faultsInjected}: ${JSON.stringify(counts.faults)}`);
  console.log(`final statuses: ${JSON.stringify(counts.statuses)}`);
  console.log(`took ${counts.durationMs} ms`);
  for (const d of details) console.log(`violation: ${d}`);
  if (!isClean(report)) console.log(`CHAOS FAILED with seed ${seed} (rerun: npm run chaos -- --seed ${seed} --workflows ${workflows})`);
  console.log(reportLine(report));
  process.exit(isClean(report) ? 0 : 1);
} catch (err) {
  console.log(`CHAOS ERROR with seed ${seed}: ${String((err as Error)?.stack ?? err)}`);
  process.exit(2);
}
