/** Exit codes of the `cairn` CLI. */
export const EXIT = { ok: 0, operation: 1, usage: 2 } as const;

/**
 * A failure the CLI reports and exits on: `code` is printed (a Cairn error code
 * for failed operations, a CLI code for bad usage) and decides nothing else.
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT.operation,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Bad arguments or a missing target: exit 2. */
export class UsageError extends CliError {
  constructor(message: string, code = "USAGE_ERROR") {
    super(code, message, EXIT.usage);
    this.name = "UsageError";
  }
}
