import type { Logger } from "../logger.js";
import { debugEnabled } from "./errors.js";

/**
 * The logger the CLI's direct mode hands the control operations: silent, or
 * with CAIRN_DEBUG=1 every entry (the detail and stack of an unexpected error
 * included) as a JSON line on stderr, so stdout stays the command's output.
 */
export function cliLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  if (!debugEnabled(env)) {
    const none = () => undefined;
    return { debug: none, info: none, warn: none, error: none };
  }
  const write = (level: string) => (message: string, fields: Record<string, unknown> = {}) => {
    process.stderr.write(`${JSON.stringify({ level, message, ...fields })}\n`);
  };
  return { debug: write("DEBUG"), info: write("INFO"), warn: write("WARN"), error: write("ERROR") };
}
