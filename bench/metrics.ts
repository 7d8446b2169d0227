import { AsyncLocalStorage } from "node:async_hooks";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";

/**
 * Counts the AWS requests a run makes, by service and command, and the DynamoDB
 * capacity units the server reports for them (ReturnConsumedCapacity), so the
 * cost model multiplies measured requests, not assumed ones. Calls made inside
 * `exclude()` (the benchmark's own watching) are not counted.
 */
export class RequestMeter {
  private readonly excluded = new AsyncLocalStorage<true>();
  counts: Record<string, number> = {};
  readUnits = 0;
  writeUnits = 0;

  attachDynamo(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (this.excluded.getStore()) return next(args);
        const name = `dynamodb.${String(context.commandName).replace(/Command$/, "")}`;
        this.counts[name] = (this.counts[name] ?? 0) + 1;
        (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = "TOTAL";
        const out = await next(args);
        const consumed = (out.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
        const units = ([] as { CapacityUnits?: number }[]).concat((consumed as never) ?? []).reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
        if (/^dynamodb\.(Query|GetItem|BatchGetItem|Scan|TransactGetItems)$/.test(name)) this.readUnits += units;
        else this.writeUnits += units;
        return out;
      },
      { step: "initialize", name: "cairnRequestMeter" },
    );
  }

  attachSqs(client: SQSClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!this.excluded.getStore()) {
          const name = `sqs.${String(context.commandName).replace(/Command$/, "")}`;
          this.counts[name] = (this.counts[name] ?? 0) + 1;
        }
        return next(args);
      },
      { step: "initialize", name: "cairnRequestMeter" },
    );
  }

  exclude<T>(fn: () => Promise<T>): Promise<T> {
    return this.excluded.run(true, fn);
  }

  reset(): void {
    this.counts = {};
    this.readUnits = 0;
    this.writeUnits = 0;
  }

  total(prefix: string): number {
    return Object.entries(this.counts)
      .filter(([k]) => k.startsWith(prefix))
      .reduce((sum, [, v]) => sum + v, 0);
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);
export const round = (n: number, digits = 2): number => Number(n.toFixed(digits));
