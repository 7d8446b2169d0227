import { ENV } from "../config.js";
import { ConfigurationError, ValidationError } from "../errors.js";
import { defineQueue, type QueueDefinition } from "./defineQueue.js";

/**
 * The workflow queues the worker registers, as the control functions and the
 * CLI's direct mode read them from CAIRN_QUEUES (set by the construct's `queues`
 * and by `cairn dev`), so clients there check queue options as the worker would.
 */

/** Queue definitions as CAIRN_QUEUES carries them: JSON of the fields defineQueue returns, defaults left out. */
export function encodeQueues(queues: Iterable<QueueDefinition>): string {
  return JSON.stringify(
    [...queues].map((q) => ({
      name: q.name,
      ...(q.concurrency !== undefined ? { concurrency: q.concurrency } : {}),
      ...(q.rateLimit !== undefined ? { rateLimit: { limit: q.rateLimit.limit, periodMs: q.rateLimit.periodMs } } : {}),
      ...(q.priorityEnabled ? { priorityEnabled: true } : {}),
      ...(q.partitioned ? { partitioned: true } : {}),
    })),
  );
}

/** The queue definitions in CAIRN_QUEUES (undefined when unset or empty); a malformed value is the deployment's fault. */
export function queuesFromEnv(env: NodeJS.ProcessEnv = process.env): QueueDefinition[] | undefined {
  const text = env[ENV.queues]?.trim();
  if (!text) return undefined;
  const bad = (why: string) => new ConfigurationError(`Environment variable ${ENV.queues} ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad("is not JSON (expected an array of queue definitions)");
  }
  if (!Array.isArray(parsed)) throw bad("must be a JSON array of queue definitions");
  const names = new Set<string>();
  return parsed.map((item: unknown) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) throw bad("must hold objects, each with a queue's name and options");
    const { name, ...options } = item as Record<string, unknown>;
    let queue: QueueDefinition;
    try {
      queue = defineQueue(name as string, options);
    } catch (err) {
      if (err instanceof ValidationError) throw bad(`holds an invalid queue: ${err.message}`);
      throw err;
    }
    if (names.has(queue.name)) throw bad(`names queue "${queue.name}" twice`);
    names.add(queue.name);
    return queue;
  });
}
