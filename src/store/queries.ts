import type { Item } from "./records.js";

/** One page of a Query or Scan, as the document client answers it. */
interface ItemPage {
  Items?: Item[];
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

/** The placeholders and values of a `status IN (...)` condition. */
export function statusList(prefix: string, statuses: readonly string[]): { names: string; values: Record<string, string> } {
  const values: Record<string, string> = {};
  statuses.forEach((s, i) => (values[`:${prefix}${i}`] = s));
  return { names: Object.keys(values).join(", "), values };
}
