import { ValidationError } from "../errors.js";
import { WORKFLOW_NAME_PATTERN } from "../limits.js";

export interface QueueOptions {
  /** At most this many workflows of the queue (of each partition, if partitioned) admitted and not finished at once, across all workers. @default no limit */
  concurrency?: number;
  /** At most `limit` admissions in any window of `periodMs`. @default no limit */
  rateLimit?: { limit: number; periodMs: number };
  /** Admit the lowest `priority` first (1 = highest), FIFO within a priority; workflows without one come last. @default false */
  priorityEnabled?: boolean;
  /** The limits apply to each `partitionKey` on its own. @default false */
  partitioned?: boolean;
}

export interface QueueDefinition extends Readonly<QueueOptions> {
  readonly name: string;
}

/** Highest `priority` accepted (priorities are 1..this; no priority sorts after all of them). */
export const MAX_PRIORITY = 2_147_483_647;
/** Rate limits longer than this are refused: admissions are kept per window on the queue's record. */
const MAX_RATE_LIMIT = 1_000;

const positiveInteger = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;

/**
 * A workflow queue: workflows started on it wait (ENQUEUED) until the limits let
 * them in. Register it with the worker (`createWorker({ workflows, queues })`),
 * which admits them; clients start workflows on it by name.
 *
 * @throws ValidationError for an invalid name, a concurrency or rateLimit that is not a positive integer
 * (rateLimit.limit at most 1,000), or a priorityEnabled or partitioned that is not a boolean.
 * @example
 * export const partnerApi = defineQueue("partner-api", { concurrency: 5, rateLimit: { limit: 100, periodMs: 60_000 } });
 * export const handler = createWorker({ workflows: [order], queues: [partnerApi] });
 * await client.startWorkflow(order, { id: "o-1", amount: 42 }, { queueName: "partner-api" });
 */
export function defineQueue(name: string, options: QueueOptions = {}): QueueDefinition {
  if (typeof name !== "string" || !WORKFLOW_NAME_PATTERN.test(name)) {
    throw new ValidationError(`Invalid queue name ${JSON.stringify(name)}: use 1-128 letters, digits, "_", ".", ":" or "-", starting with a letter or digit`);
  }
  const { concurrency, rateLimit, priorityEnabled, partitioned } = options;
  if (concurrency !== undefined && !positiveInteger(concurrency)) {
    throw new ValidationError(`Queue "${name}": concurrency must be an integer >= 1, got ${String(concurrency)}`);
  }
  if (rateLimit !== undefined) {
    if (!positiveInteger(rateLimit?.limit) || rateLimit.limit > MAX_RATE_LIMIT) {
      throw new ValidationError(`Queue "${name}": rateLimit.limit must be an integer from 1 to ${MAX_RATE_LIMIT}, got ${String(rateLimit?.limit)}`);
    }
    if (!positiveInteger(rateLimit.periodMs)) throw new ValidationError(`Queue "${name}": rateLimit.periodMs must be an integer >= 1, got ${String(rateLimit.periodMs)}`);
  }
  for (const [key, value] of Object.entries({ priorityEnabled, partitioned })) {
    if (value !== undefined && typeof value !== "boolean") throw new ValidationError(`Queue "${name}": ${key} must be a boolean, got ${typeof value}`);
  }
  return Object.freeze({
    name,
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(rateLimit !== undefined ? { rateLimit: Object.freeze({ limit: rateLimit.limit, periodMs: rateLimit.periodMs }) } : {}),
    priorityEnabled: priorityEnabled === true,
    partitioned: partitioned === true,
  });
}

/** Queues by name; refuses two definitions with one name. */
export class QueueRegistry {
  private readonly byName = new Map<string, QueueDefinition>();

  constructor(queues: Iterable<QueueDefinition> = []) {
    for (const q of queues) {
      if (this.byName.has(q.name)) throw new ValidationError(`Queue "${q.name}" is registered twice`);
      this.byName.set(q.name, q);
    }
  }

  get(name: string): QueueDefinition | undefined {
    return this.byName.get(name);
  }

  all(): QueueDefinition[] {
    return [...this.byName.values()];
  }
}
