import { existsSync, readFileSync } from "node:fs";
import { OPERATIONS, type OperationName } from "../control/operations.js";
import { clip, clipText } from "../limits.js";
import { UsageError } from "./errors.js";

export type FunctionNames = Partial<Record<OperationName, string>>;

/** The CDK stack output that names an operation's function, e.g. "StartFunctionName". */
export function outputKey(op: OperationName): string {
  return `${op[0]!.toUpperCase()}${op.slice(1)}FunctionName`;
}

/** Environment variable naming an operation's function, e.g. CAIRN_START_FUNCTION. */
export function functionEnvVar(op: OperationName): string {
  return `CAIRN_${op.toUpperCase()}_FUNCTION`;
}

/**
 * Function names from key/value pairs: keys are operation names ("start") or
 * stack output keys ("StartFunctionName", also as CDK prefixes and suffixes them
 * inside a construct: "CairnStartFunctionName1A2B3C").
 */
export function namesFromOutputs(outputs: Record<string, unknown>): FunctionNames {
  const names: FunctionNames = {};
  for (const op of OPERATIONS) {
    const key = outputKey(op);
    const exact = [op, key].find((k) => typeof outputs[k] === "string");
    if (exact) {
      names[op] = outputs[exact] as string;
      continue;
    }
    const loose = Object.keys(outputs).filter((k) => k.includes(key) && typeof outputs[k] === "string");
    if (loose.length === 1) names[op] = outputs[loose[0]!] as string;
    else if (loose.length > 1) throw new UsageError(`Several outputs could name the ${op} function (${loose.join(", ")}); pass --functions`, "AMBIGUOUS_FUNCTION");
  }
  return names;
}

/**
 * `--functions`: a JSON object, or the path of a JSON file such as the one
 * `cdk deploy --outputs-file` writes ({ "<stack>": { "StartFunctionName": ... } }).
 */
export function namesFromFunctionsOption(value: string): FunctionNames {
  const trimmed = value.trim();
  let text = trimmed;
  if (!trimmed.startsWith("{")) {
    if (!existsSync(trimmed)) throw new UsageError(`--functions: ${clip(value)} is neither a JSON object nor an existing file`);
    text = readFileSync(trimmed, "utf8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--functions: not valid JSON (${clipText((err as Error).message, 200)})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError("--functions must be a JSON object");
  const obj = parsed as Record<string, unknown>;
  // An outputs file nests the outputs under each stack's name: merge them.
  const nested = Object.values(obj).filter((v): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v));
  const flat = nested.length > 0 && nested.length === Object.keys(obj).length ? Object.assign({}, ...nested) : obj;
  return namesFromOutputs(flat);
}

export function namesFromPrefix(prefix: string): FunctionNames {
  return Object.fromEntries(OPERATIONS.map((op) => [op, `${prefix}${op}`])) as FunctionNames;
}

export function namesFromEnv(env: NodeJS.ProcessEnv): FunctionNames {
  const names: FunctionNames = {};
  for (const op of OPERATIONS) {
    const v = env[functionEnvVar(op)];
    if (v) names[op] = v;
  }
  return names;
}
