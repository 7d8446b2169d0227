import { measureHeadOfLine, formatHeadOfLine } from "./headOfLine.js";
const r = await measureHeadOfLine({ rounds: 4, holdContinuationsUntilBatchEnds: true });
console.log(formatHeadOfLine(r).join("\n"));
process.exit(0);
