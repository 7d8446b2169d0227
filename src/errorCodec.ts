import { TAG, define, deserialize, encodeLeniently, tagged, type Encoded } from "./serialization.js";

/**
 * Recorded errors: what a step or workflow threw, stored as a DynamoDB map
 * attribute, shown by status APIs and the CLI, and thrown again into the
 * workflow code on replay. The engine throws `fromRecordedError(toRecordedError(e))`
 * on the first run too, so both runs see the same value: same class (if
 * registered, see registerErrorClass), name, message, stack, code, cause and
 * own fields; a thrown non-Error comes back as the same value.
 */

/** At most this many bytes of JSON per recorded error, so an error plus its step record fits DynamoDB's 400 KB item. */
export const MAX_ERROR_BYTES = 64 * 1024;

/** A smaller `maxBytes` is raised to this: a record must have room for a class, a name and a code. */
const MIN_ERROR_BYTES = 1024;
/** `omitted` lists at most this many paths, each at most this long. */
const MAX_OMITTED = 20;
const MAX_OMITTED_LENGTH = 200;
/** How long a name and a code may stay when nothing else makes a record fit. */
const LAST_RESORT_LENGTH = 200;

/** The plain (JSON) shape in which errors are recorded and shown. */
export interface RecordedError {
  /** `name` of the thrown Error ("Error" for a thrown non-Error), for display. */
  name: string;
  /** Its message (for a non-Error: the value as text), for display. */
  message: string;
  /** Its stack, for display. */
  stack?: string;
  /** Its `code` as text when it has a string or number one, for display and matching (e.g. "NON_DETERMINISM"). */
  code?: string;
  /**
   * The exact thrown value in Cairn's value codec (see serialize): what fromRecordedError
   * rebuilds. Absent in records of the older {name, message, stack} format, and when
   * nothing of the thrown value could be encoded (then name and message are rebuilt as an Error).
   */
  value?: string;
  /** Parts of the thrown value left out because they cannot be recorded (functions, cycles, class instances, ...): `path: what`. */
  omitted?: string[];
  /** Present when the record was cut to fit its byte limit (strings shortened, then fields and causes dropped). */
  truncated?: { originalBytes: number };
}

/** What a thrown value is shown as, before any cutting. */
interface Display {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/**
 * Record a thrown value. Never throws: what cannot be encoded is left out and
 * listed in `omitted`, and the record's JSON is at most `options.maxBytes`
 * (default MAX_ERROR_BYTES, at least 1 KiB): a larger one is cut, keeping its class, name and code.
 */
export function toRecordedError(thrown: unknown, options?: { maxBytes?: number }): RecordedError {
  const requested = options?.maxBytes;
  const maxBytes = Math.max(typeof requested === "number" && Number.isFinite(requested) ? requested : MAX_ERROR_BYTES, MIN_ERROR_BYTES);
  try {
    const omitted: string[] = [];
    const encoded = encodeLeniently(thrown, omitted);
    return fit(display(thrown, encoded), encoded, omitted, maxBytes);
  } catch {
    // E.g. a Proxy whose traps throw even for instanceof: a failure to record must not become a failure to store.
    return { name: "Error", message: "Cairn could not record the thrown value: reading it threw" };
  }
}

/**
 * The value to throw again for a recorded error: the same class, fields and
 * causes, or the same non-Error value. An unregistered class comes back as
 * its nearest registered ancestor (at least Error) with its original name.
 */
export function fromRecordedError(recorded: RecordedError): unknown {
  if (typeof recorded.value === "string") {
    try {
      return deserialize(recorded.value);
    } catch {
      // Unreadable (e.g. written by a newer Cairn): fall back to what is shown.
    }
  }
  const err = new Error(recorded.message);
  if (recorded.name !== err.name) err.name = recorded.name;
  if (recorded.stack !== undefined) err.stack = recorded.stack;
  if (recorded.code !== undefined) (err as Error & { code?: unknown }).code = recorded.code;
  return err;
}

function display(thrown: unknown, encoded: Encoded | undefined): Display {
  const text = (value: unknown, fallback: string): string => {
    try {
      return typeof value === "string" ? value : String(value);
    } catch {
      return fallback; // e.g. an object whose toString throws
    }
  };
  if (!(thrown instanceof Error)) {
    const isObject = typeof thrown === "object" && thrown !== null;
    return { name: "Error", message: isObject && encoded !== undefined ? JSON.stringify(encoded) : text(thrown, "[unprintable value]") };
  }
  const field = (key: string): unknown => {
    try {
      return (thrown as unknown as Record<string, unknown>)[key];
    } catch {
      return undefined;
    }
  };
  const out: Display = { name: text(field("name"), "Error"), message: text(field("message"), "") };
  const stack = field("stack");
  if (typeof stack === "string") out.stack = stack;
  const code = field("code");
  if (typeof code === "string" || typeof code === "number") out.code = String(code);
  return out;
}

/** A record with strings cut to `limit`, and names and codes to `nameLimit`. */
function build(shown: Display, encoded: Encoded | undefined, omitted: string[], limit: number, nameLimit = Infinity): RecordedError {
  const record: RecordedError = { name: shortenString(shown.name, nameLimit), message: shortenString(shown.message, limit) };
  if (shown.stack !== undefined) record.stack = shortenString(shown.stack, limit);
  if (shown.code !== undefined) record.code = shortenString(shown.code, nameLimit);
  if (encoded !== undefined) record.value = JSON.stringify(Number.isFinite(limit) ? shortenEncoded(encoded, limit, nameLimit) : encoded);
  if (omitted.length > 0) {
    record.omitted = omitted.slice(0, MAX_OMITTED).map((entry) => shortenString(entry, MAX_OMITTED_LENGTH));
    if (omitted.length > MAX_OMITTED) record.omitted.push(`and ${omitted.length - MAX_OMITTED} more`);
  }
  return record;
}

const bytes = (record: RecordedError): number => Buffer.byteLength(JSON.stringify(record), "utf8");

/**
 * The most complete record within maxBytes: whole if it fits; else every string
 * cut to the longest length that fits; else the error without its fields and
 * causes, cut the same way; else only its class, name and code (cut if need be).
 */
function fit(shown: Display, encoded: Encoded | undefined, omitted: string[], maxBytes: number): RecordedError {
  const whole = build(shown, encoded, omitted, Infinity);
  const originalBytes = bytes(whole);
  if (originalBytes <= maxBytes) return whole;
  const truncated = { originalBytes };
  const attempt = (value: Encoded | undefined, limit: number, nameLimit = Infinity): RecordedError => ({
    ...build(shown, value, Number.isFinite(nameLimit) ? [] : omitted, limit, nameLimit),
    truncated,
  });
  const skeleton = encoded === undefined ? undefined : errorSkeleton(encoded);
  for (const value of skeleton === undefined ? [encoded] : [encoded, skeleton]) {
    const limit = longestFittingLimit((n) => bytes(attempt(value, n)) <= maxBytes, originalBytes);
    if (limit !== undefined) return attempt(value, limit);
  }
  const last = attempt(skeleton, 0, LAST_RESORT_LENGTH);
  return bytes(last) <= maxBytes ? last : { name: last.name, message: "", truncated };
}

/** The largest string limit in [0, upper] for which `fits` holds (it holds for all smaller ones too), if any. */
function longestFittingLimit(fits: (limit: number) => boolean, upper: number): number | undefined {
  if (!fits(0)) return undefined;
  let lo = 0;
  let hi = upper;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * A copy of an encoded value with every user string longer than `limit` cut
 * (and every bulky leaf such as a Buffer summarised), so a record can be made
 * to fit; the name and code of errors are cut to `nameLimit` only. Tags, keys
 * and classes are kept, so the copy decodes to the same types.
 */
function shortenEncoded(value: Encoded, limit: number, nameLimit: number): Encoded {
  if (typeof value === "string") return shortenString(value, limit);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => shortenEncoded(item, limit, nameLimit));
  const type = Object.hasOwn(value, TAG) ? value[TAG] : undefined;
  const shortenFields = (fields: { [key: string]: Encoded }, names: readonly string[] = []): { [key: string]: Encoded } => {
    const out: { [key: string]: Encoded } = {};
    for (const k of Object.keys(fields)) define(out, k, shortenEncoded(fields[k]!, names.includes(k) ? nameLimit : limit, nameLimit));
    return out;
  };
  if (typeof type !== "string") return shortenFields(value);
  const v = value.v!;
  switch (type) {
    case "Map":
    case "Set":
      return tagged(type, shortenEncoded(v, limit, nameLimit));
    case "Object":
    case "NullProto":
      return tagged(type, shortenFields(v as { [key: string]: Encoded }));
    case "Array": {
      const [length, entries] = v as [number, [string, Encoded][]];
      return tagged(type, [length, entries.map(([k, x]) => [k, shortenEncoded(x, limit, nameLimit)])]);
    }
    case "Error": {
      const fields = v as { [key: string]: Encoded };
      if (!Object.hasOwn(fields, "props")) return value; // legacy shape: never produced any more
      const names = ["name", "code"];
      const props = shortenFields(fields.props as { [key: string]: Encoded }, names);
      return tagged(type, { ...fields, props, inherited: shortenFields(fields.inherited as { [key: string]: Encoded }, names) });
    }
    default: {
      // A leaf (Buffer, Date, BigInt, ...): cutting it would not decode, so a big one becomes a note.
      const size = JSON.stringify(value).length;
      return size > limit + CUT_SLACK ? `[${type} of ${size} characters left out]` : value;
    }
  }
}

/** Strings up to this much over the limit are left whole: the note replacing the rest would be as long. */
const CUT_SLACK = 32;

/** `text` cut to `limit` characters plus a note of how many were cut (unchanged if only a little longer). */
function shortenString(text: string, limit: number): string {
  if (text.length <= limit + CUT_SLACK) return text;
  let end = limit;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // do not split a surrogate pair
  return `${text.slice(0, end)}…[${text.length - end} more characters]`;
}

/** An encoded Error reduced to its class, name, code, message and stack (fields and causes dropped); undefined for a non-Error. */
function errorSkeleton(value: Encoded): Encoded | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value[TAG] !== "Error") return undefined;
  const fields = value.v as { [key: string]: Encoded };
  if (!Object.hasOwn(fields, "props")) return undefined;
  const props = fields.props as { [key: string]: Encoded };
  const kept: { [key: string]: Encoded } = {};
  for (const k of ["name", "message", "stack", "code"]) if (Object.hasOwn(props, k)) kept[k] = props[k]!;
  return tagged("Error", { ...fields, props: kept, hidden: (fields.hidden as string[]).filter((k) => Object.hasOwn(kept, k)) });
}
