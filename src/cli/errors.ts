/** Exit codes of the `cairn` CLI. */
export const EXIT = { ok: 0, operation: 1, usage: 2 } as const;

/**
 * A failure the CLI reports and exits on: `code` is printed (a Cairn error code
 * for failed operations, a CLI code for bad usage) and decides nothing else.
 * `details` are the structured facts a control answer gave; `cause` is the
 * error behind it, if any (both shown with CAIRN_DEBUG=1).
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT.operation,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

/** Bad arguments or a missing target: exit 2. */
export class UsageError extends CliError {
  constructor(message: string, code = "USAGE_ERROR", details?: Record<string, unknown>) {
    super(code, message, EXIT.usage, details);
    this.name = "UsageError";
  }
}

/** CAIRN_DEBUG=1 (anything but "" and "0"): show details, stacks and the operations' logs on stderr. */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CAIRN_DEBUG;
  return v !== undefined && v !== "" && v !== "0";
}
