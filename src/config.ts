import { ConfigurationError } from "./errors.js";

/** Every environment variable Cairn reads (the AWS SDK's own ones aside, see awsEnv.ts). */
export const ENV = {
  tableName: "CAIRN_TABLE_NAME",
  queueUrl: "CAIRN_QUEUE_URL",
  deadLetterQueueUrl: "CAIRN_DLQ_URL",
  visibilityTimeoutSeconds: "CAIRN_VISIBILITY_TIMEOUT_SECONDS",
  retentionDays: "CAIRN_RETENTION_DAYS",
  /** Comma-separated names the worker runs: the start function refuses others. */
  workflowNames: "CAIRN_WORKFLOW_NAMES",
  /**
   * The workflow queues (JSON of the definitions defineQueue returns): control
   * functions and the CLI check queue options against them and know their limits.
   */
  queues: "CAIRN_QUEUES",
  /** The work queue's maxReceiveCount, which the dead-letter handler quotes in its reason. */
  maxReceiveCount: "CAIRN_MAX_RECEIVE_COUNT",
  /** DEBUG, INFO, WARN, ERROR or SILENT. */
  logLevel: "CAIRN_LOG_LEVEL",
} as const;

/** A variable the deployment must set: its absence is the deployment's fault, not the caller's. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new ConfigurationError(`Environment variable ${name} is not set`);
  return value;
}

export function optionalNumberEnv(name: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new ConfigurationError(`Environment variable ${name} must be a number >= 0, got "${value.slice(0, 100)}"`);
  return n;
}

/** A comma-separated list, without blanks; undefined when unset or empty. */
export function optionalListEnv(name: string, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const list = env[name]?.split(",").map((n) => n.trim()).filter(Boolean);
  return list?.length ? list : undefined;
}

export const LOG_LEVELS = ["DEBUG", "INFO", "WARN", "ERROR", "SILENT"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** $CAIRN_LOG_LEVEL, or `fallback` when it is unset or not a level (an unknown level must not open the floodgates). */
export function logLevelFromEnv(fallback: LogLevel, env: NodeJS.ProcessEnv = process.env): LogLevel {
  const value = env[ENV.logLevel]?.trim().toUpperCase();
  return LOG_LEVELS.includes(value as LogLevel) ? (value as LogLevel) : fallback;
}
