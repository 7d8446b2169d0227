import type { Item } from "./records.js";

/** One page of a Query or Scan, as the document client answers it. */
interface ItemPage {
  Items?: Item[];
  Count?: number;
  LastEvaluatedKey?: Record<string, unknown>;
}

/**
 * Every item a Query or Scan returns, page after page (DynamoDB answers at most
 * 1 MB per call). `send` sends the request with the given start key.
 */
export async function* everyItem(send: (start: Record<string, unknown> | undefined) => Promise<ItemPage>): AsyncGenerator<Item> {
  let start: Record<string, unknown> | undefined;
  do {
    const out = await send(start);
    yield* out.Items ?? [];
    start = out.LastEvaluatedKey;
  } while (start);
}

/** How many items a `Select: "COUNT"` Query matches, over every page. */
export async function countItems(send: (start: Record<string, unknown> | undefined) => Promise<ItemPage>): Promise<number> {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const out = await send(start);
    count += out.Count ?? 0;
    start = out.LastEvaluatedKey;
  } while (start);
  return count;
}

/** The placeholders and values of a `status IN (...)` condition. */
export function statusList(prefix: string, statuses: readonly string[]): { names: string; values: Record<string, string> } {
  const values: Record<string, string> = {};
  statuses.forEach((s, i) => (values[`:${prefix}${i}`] = s));
  return { names: Object.keys(values).join(", "), values };
}
