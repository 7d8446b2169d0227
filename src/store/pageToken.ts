import { createHash } from "node:crypto";
import { invalid, LIMITS } from "../limits.js";

/**
 * Page tokens bound to the query they belong to. A token carries a fingerprint
 * of its query (table, index, filters, order) and the position to go on from;
 * a token of another query, or one whose position does not fit the query, is
 * refused with a ValidationError before anything reaches DynamoDB (which would
 * otherwise answer "The provided starting key is invalid").
 *
 * The fingerprint is not a secret: a caller who forges a token can only start
 * a listing of the same query at a position of his choosing, which the shape
 * check keeps inside the query's bounds.
 */
export const BAD_TOKEN_MESSAGE =
  "nextToken does not belong to this query: pass the nextToken of the previous page of the same listing, with the same filters and order";

/** A short, stable fingerprint of a query's defining parts. */
export function queryFingerprint(parts: readonly unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url").slice(0, 22);
}

export function encodePageToken(fingerprint: string, position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ q: fingerprint, p: position }), "utf8").toString("base64url");
}

/**
 * The position a token made for `fingerprint` carries, if `isPosition` accepts
 * it; undefined when no token was given.
 */
export function decodePageToken<P>(token: unknown, fingerprint: string, isPosition: (position: unknown) => position is P): P | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== "string" || token.length === 0 || token.length > LIMITS.nextTokenChars || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw invalid("nextToken", BAD_TOKEN_MESSAGE);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid("nextToken", BAD_TOKEN_MESSAGE);
  }
  if (!isRecord(parsed) || parsed.q !== fingerprint || !isPosition(parsed.p)) throw invalid("nextToken", BAD_TOKEN_MESSAGE);
  return parsed.p;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A position after a step: the last functionId a page held. */
export interface AfterStep {
  after: number;
}

export function isAfterStep(position: unknown): position is AfterStep {
  return isRecord(position) && Object.keys(position).length === 1 && Number.isSafeInteger(position.after) && (position.after as number) >= 0;
}
