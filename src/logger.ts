import { LOG_LEVELS, logLevelFromEnv, type LogLevel } from "./config.js";
/** Structured one-line JSON logs, as CloudWatch Logs Insights likes them. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS = LOG_LEVELS;
type Level = LogLevel;

function errorFields(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export function createLogger(level: Level = logLevelFromEnv("INFO")): Logger {
  const min = Math.max(0, LEVELS.indexOf(level));
  const write = (lvl: Level, message: string, fields: Record<string, unknown> = {}) => {
    if (LEVELS.indexOf(lvl) < min) return;
    const entry: Record<string, unknown> = { level: lvl, message, timestamp: new Date().toISOString() };
    for (const [k, v] of Object.entries(fields)) entry[k] = errorFields(v);
    (lvl === "ERROR" || lvl === "WARN" ? console.error : console.log)(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => write("DEBUG", m, f),
    info: (m, f) => write("INFO", m, f),
    warn: (m, f) => write("WARN", m, f),
    error: (m, f) => write("ERROR", m, f),
  };
}

export const logger: Logger = createLogger();
