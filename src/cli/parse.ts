import { InvalidArgumentError } from "commander";
import { WorkflowStatus } from "../constants.js";
import { clipText } from "../limits.js";

/** Option parsers: a bad value becomes a commander usage error (exit 2). */

export function parseJsonArg(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch (err) {
    // Node's message quotes the text: keep it short.
    throw new InvalidArgumentError(`not valid JSON (${clipText((err as Error).message, 200)})`);
  }
}

export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected an integer >= 0");
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected an integer >= 1");
  return n;
}

/** An ISO 8601 time or epoch milliseconds, as epoch milliseconds. */
export function parseTime(value: string): number {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const ms = Date.parse(trimmed);
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed) || Number.isNaN(ms)) {
    throw new InvalidArgumentError("expected an ISO 8601 time (2024-05-01T12:00:00Z) or epoch milliseconds");
  }
  return ms;
}

export function parseStatus(value: string): WorkflowStatus {
  const statuses = Object.values(WorkflowStatus) as string[];
  const upper = value.toUpperCase();
  if (!statuses.includes(upper)) throw new InvalidArgumentError(`expected one of ${statuses.join(", ")}`);
  return upper as WorkflowStatus;
}
