/** Plain-text tables for terminals: padded columns, long cells cut with an ellipsis. */

export interface TableOptions {
  /** Longest a cell may be before it is cut. @default 48 */
  maxCellWidth?: number;
  /** Columns never cut (ids people copy). @default [0] */
  keepColumns?: readonly number[];
}

function clean(cell: string, max: number): string {
  const oneLine = cell.replace(/\s*\n\s*/g, " ");
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const max = options.maxCellWidth ?? 48;
  const keep = options.keepColumns ?? [0];
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => headers.map((_, i) => clean(r[i] ?? "", keep.includes(i) ? Infinity : max)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** Label/value lines; pairs whose value is undefined are left out. */
export function formatFields(pairs: readonly (readonly [string, string | undefined])[]): string {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`).join("\n");
}

/** Epoch milliseconds as ISO 8601; "" for none. */
export function isoTime(ms: unknown): string {
  return typeof ms === "number" && Number.isFinite(ms) ? new Date(ms).toISOString() : "";
}

/** A value as compact JSON ("" for undefined). */
export function compactJson(value: unknown): string {
  if (value === undefined) return "";
  return JSON.stringify(value) ?? "";
}
