import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The built CLI (`npm run build`); the fuzz runs it as a user would, one process per case. */
export const BUILT_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/src/cli/main.js");

export function builtCliExists(cliPath = BUILT_CLI): boolean {
  return existsSync(cliPath);
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const MAX_CAPTURE = 8 * 1024 * 1024;

/**
 * Run `node <cli> ...args` against the stack in `env`. Lambda mode and stack
 * lookups go to an endpoint that refuses connections, so they fail fast
 * instead of reaching AWS.
 */
export function runCli(cliPath: string, args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<CliRun> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(childEnv)) if (key.startsWith("CAIRN_")) delete childEnv[key];
  Object.assign(childEnv, env, {
    AWS_ENDPOINT_URL: "http://127.0.0.1:9",
    AWS_ENDPOINT_URL_LAMBDA: "http://127.0.0.1:9",
    AWS_ENDPOINT_URL_CLOUDFORMATION: "http://127.0.0.1:9",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    CAIRN_LOG_LEVEL: "SILENT",
    NO_COLOR: "1",
  });
  // The OS refuses NUL bytes in arguments; everything else goes through as given.
  const argv = args.map((a) => a.replaceAll("\0", ""));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...argv], { env: childEnv, cwd: tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (stdout.length < MAX_CAPTURE) stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < MAX_CAPTURE) stderr += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}\nspawn failed: ${err.message}`, timedOut });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}
