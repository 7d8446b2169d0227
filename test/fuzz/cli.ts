import { parseArgs } from "node:util";
import { groupFindings, isClean, plan, reportLine, runFuzz } from "./runner.js";

// npm run fuzz -- --seed 20261125 --budget 5000 [--round 7] [--all] [--cases-per-round 40] [--cli-cases 60] [--cli dist/src/cli/main.js]
const { values } = parseArgs({
  options: {
    seed: { type: "string", default: String(Date.now() % 100_000_000) },
    budget: { type: "string", default: "400" },
    round: { type: "string" },
    all: { type: "boolean", default: false },
    "cases-per-round": { type: "string" },
    "cli-cases": { type: "string" },
    quiet: { type: "boolean", default: false },
    cli: { type: "string" },
    trace: { type: "boolean", default: false },
  },
});
const int = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be an integer >= 0, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
};
const seed = int("seed", values.seed)!;
const budget = Math.max(1, int("budget", values.budget)!);
const round = int("round", values.round);
const casesPerRound = int("cases-per-round", values["cases-per-round"]);
const cliCases = int("cli-cases", values["cli-cases"]);
const options = {
  seed,
  budget,
  ...(round !== undefined ? { round } : {}),
  ...(casesPerRound !== undefined ? { casesPerRound } : {}),
  ...(cliCases !== undefined ? { cliCases } : {}),
  ...(values.cli !== undefined ? { cliPath: values.cli } : {}),
};
const rerun = (r: number) =>
  `npm run fuzz -- --seed ${seed} --budget ${budget} --round ${r}${casesPerRound !== undefined ? ` --cases-per-round ${casesPerRound}` : ""}${cliCases !== undefined ? ` --cli-cases ${cliCases}` : ""}`;

console.log(`fuzz: seed ${seed}, budget ${budget} (${plan(options).length} rounds)${round !== undefined ? `, round ${round} only` : ""}`);
try {
  const report = await runFuzz({ ...options, trace: values.trace, ...(values.quiet ? {} : { print: (line: string) => console.log(line) }) });
  for (const note of report.notes) console.log(`note: ${note}`);
  console.log(`cases by kind: ${JSON.stringify(report.kinds)}`);
  console.log(`took ${report.durationMs} ms`);
  if (!isClean(report)) {
    const groups = groupFindings(report.findings);
    console.log(`\n${report.findings.length} findings, ${groups.length} distinct:`);
    for (const g of groups) {
      console.log(`- ${g.count} x ${g.signature}`);
      console.log(`    e.g. case ${g.first.caseId}: ${g.first.detail}`);
      console.log(`    input: ${g.first.input}`);
      if (g.first.round >= 0) console.log(`    rerun: ${rerun(g.first.round)}`);
    }
    const shown = values.all ? report.findings : report.findings.slice(0, 200);
    console.log(`\nfailing cases${shown.length < report.findings.length ? ` (first ${shown.length} of ${report.findings.length}; --all for every one)` : ""}:`);
    for (const f of shown) console.log(`${f.caseId} ${f.counter}: ${f.detail} <- ${f.input}`);
    console.log(`\nFUZZ FAILED with seed ${seed}; each case reruns with its round: ${rerun(0).replace(/--round 0/, "--round <n>")}`);
  }
  console.log(reportLine(report));
  process.exit(isClean(report) ? 0 : 1);
} catch (err) {
  console.log(`FUZZ ERROR with seed ${seed}: ${String((err as Error)?.stack ?? err)}`);
  process.exit(2);
}
