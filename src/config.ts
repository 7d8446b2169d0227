import { ValidationError } from "./errors.js";

/** Environment variables through which deployed functions find their table and queue. */
export const ENV = {
  tableName: "CAIRN_TABLE_NAME",
  queueUrl: "CAIRN_QUEUE_URL",
  deadLetterQueueUrl: "CAIRN_DLQ_URL",
  visibilityTimeoutSeconds: "CAIRN_VISIBILITY_TIMEOUT_SECONDS",
  retentionDays: "CAIRN_RETENTION_DAYS",
  /** Comma-separated names the worker runs: the start function refuses others. */
  workflowNames: "CAIRN_WORKFLOW_NAMES",
  /** The work queue's maxReceiveCount, which the dead-letter handler quotes in its reason. */
  maxReceiveCount: "CAIRN_MAX_RECEIVE_COUNT",
} as const;

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new ValidationError(`Environment variable ${name} is not set`);
  return value;
}

export function optionalNumberEnv(name: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new ValidationError(`Environment variable ${name} must be a number >= 0, got "${value}"`);
  return n;
}
