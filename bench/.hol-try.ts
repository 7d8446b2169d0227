import { measureHeadOfLine, formatHeadOfLine } from "./headOfLine.ts";
const t = performance.now();
const r = await measureHeadOfLine({ rounds: Number(process.argv[2] ?? 3) });
console.log(formatHeadOfLine(r).join("\n"));
console.log(JSON.stringify(r));
console.log("took", Math.round(performance.now() - t), "ms");
process.exit(0);
