import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { UsageError } from "./errors.js";

/** Where `cairn dev` tells the other commands how to reach its stack. */
export const DEV_FILE = path.join(".cairn", "dev.json");

export interface DevFile {
  /** The `cairn dev` process; the file is stale once it is gone. */
  pid: number;
  startedAt: string;
  workflows: string[];
  /** The workflow queues it admits into (their definitions are in `env`, as CAIRN_QUEUES). */
  queues?: string[];
  /** Environment variables that point Cairn at the embedded stack. */
  env: Record<string, string>;
}

export async function writeDevFile(file: string, content: DevFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
}

/** Remove the file, but only if it is still the one this process wrote. */
export async function removeDevFile(file: string, pid: number): Promise<void> {
  try {
    const current = JSON.parse(await readFile(file, "utf8")) as Partial<DevFile>;
    if (current.pid === pid) await rm(file, { force: true });
  } catch {
    // Already gone or replaced by something unreadable: leave it.
  }
}

/** The nearest .cairn/dev.json from `cwd` upwards, or undefined. */
export function findDevFile(cwd: string = process.cwd()): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, DEV_FILE);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function readDevFile(file: string): Promise<DevFile> {
  let parsed: Partial<DevFile>;
  try {
    parsed = JSON.parse(await readFile(file, "utf8")) as Partial<DevFile>;
  } catch (err) {
    throw new UsageError(`Cannot read the dev stack file ${file}: ${(err as Error).message}`, "BAD_DEV_FILE");
  }
  if (typeof parsed.pid !== "number" || !parsed.env || typeof parsed.env !== "object") {
    throw new UsageError(`The dev stack file ${file} is not one that \`cairn dev\` wrote`, "BAD_DEV_FILE");
  }
  if (!isAlive(parsed.pid)) {
    throw new UsageError(
      `The dev stack in ${file} is not running (its process ${parsed.pid} is gone); start it with \`cairn dev <module>\` or delete the file`,
      "DEV_STACK_NOT_RUNNING",
    );
  }
  return parsed as DevFile;
}
