import { PayloadTooLargeError, SerializationError } from "./errors.js";
import { MAX_VALUE_BYTES } from "./constants.js";

/**
 * JSON with tags for what JSON cannot carry (undefined, Map, Set, BigInt, Date,
 * Error, RegExp, non-finite numbers, byte arrays), so recorded values replay
 * exactly as the step returned them. Anything else that would not come back
 * the same (functions, symbols, class instances, cycles) is refused with the
 * path of the offending value, instead of being silently mangled.
 */
const TAG = "$cairn";

type Encoded = null | boolean | number | string | Encoded[] | { [key: string]: Encoded };

function tagged(type: string, value?: Encoded): Encoded {
  return value === undefined ? { [TAG]: type } : { [TAG]: type, v: value };
}

function encode(value: unknown, path: string, seen: Set<object>): Encoded {
  switch (typeof value) {
    case "undefined":
      return tagged("undefined");
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value)) return Object.is(value, -0) ? tagged("number", "-0") : value;
      return tagged("number", String(value));
    case "bigint":
      return tagged("bigint", value.toString());
    case "function":
    case "symbol":
      throw new SerializationError(`Cannot serialize a ${typeof value} at ${path}`);
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.has(obj)) throw new SerializationError(`Cannot serialize a circular reference at ${path}`);
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((item, i) => encode(item, `${path}[${i}]`, seen));
    if (obj instanceof Date) return tagged("Date", Number.isNaN(obj.getTime()) ? "invalid" : obj.toISOString());
    if (obj instanceof Map) {
      return tagged(
        "Map",
        [...obj.entries()].map(([k, v], i) => [encode(k, `${path}<key ${i}>`, seen), encode(v, `${path}<value ${i}>`, seen)]),
      );
    }
    if (obj instanceof Set) return tagged("Set", [...obj].map((v, i) => encode(v, `${path}<item ${i}>`, seen)));
    if (obj instanceof RegExp) return tagged("RegExp", [obj.source, obj.flags]);
    if (obj instanceof Uint8Array) return tagged("Bytes", Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString("base64"));
    if (obj instanceof Error) {
      const err = obj as Error & { code?: unknown };
      const fields: { [key: string]: Encoded } = { name: err.name, message: err.message };
      if (err.stack !== undefined) fields.stack = err.stack;
      if (err.code !== undefined) fields.code = encode(err.code, `${path}.code`, seen);
      if (err.cause !== undefined) fields.cause = encode(err.cause, `${path}.cause`, seen);
      return tagged("Error", fields);
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const className = (proto?.constructor?.name as string | undefined) ?? "unknown";
      throw new SerializationError(
        `Cannot serialize an instance of class ${className} at ${path}: return plain objects, arrays, Map, Set, Date, BigInt or Error`,
      );
    }
    const out: { [key: string]: Encoded } = {};
    for (const [k, v] of Object.entries(obj)) out[k] = encode(v, `${path}.${k}`, seen);
    // A plain object that happens to use our tag key is wrapped so it cannot be mistaken for a tag.
    return TAG in out ? tagged("Object", out) : out;
  } finally {
    seen.delete(obj);
  }
}

function decode(value: Encoded): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(decode);
  const type = value[TAG];
  if (typeof type !== "string") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = decode(v);
    return out;
  }
  const v = value.v;
  switch (type) {
    case "undefined":
      return undefined;
    case "number":
      return v === "-0" ? -0 : Number(v);
    case "bigint":
      return BigInt(v as string);
    case "Date":
      return new Date(v === "invalid" ? Number.NaN : (v as string));
    case "Map":
      return new Map((v as Encoded[][]).map(([k, x]) => [decode(k!), decode(x!)]));
    case "Set":
      return new Set((v as Encoded[]).map(decode));
    case "RegExp": {
      const [source, flags] = v as string[];
      return new RegExp(source!, flags);
    }
    case "Bytes":
      return new Uint8Array(Buffer.from(v as string, "base64"));
    case "Error":
      return toError(v as { [key: string]: Encoded });
    case "Object": {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as { [key: string]: Encoded })) out[k] = decode(x);
      return out;
    }
    default:
      throw new SerializationError(`Unknown serialized type "${type}"`);
  }
}

function toError(fields: { [key: string]: Encoded }): Error {
  // `cause` through the constructor, so it is a non-enumerable own property as on the original.
  const err = new Error(String(fields.message ?? ""), fields.cause !== undefined ? { cause: decode(fields.cause) } : undefined);
  const name = String(fields.name ?? "Error");
  if (name !== err.name) err.name = name;
  if (typeof fields.stack === "string") err.stack = fields.stack;
  if (fields.code !== undefined) (err as Error & { code?: unknown }).code = decode(fields.code);
  return err;
}

/** Serialize a value; `what` names it in errors (e.g. `output of step 3 "charge"`). */
export function serialize(value: unknown, what: string): string {
  let text: string;
  try {
    text = JSON.stringify(encode(value, "$", new Set()));
  } catch (err) {
    if (err instanceof SerializationError) {
      throw new SerializationError(`Cannot record the ${what}: ${err.message}`, { cause: err });
    }
    throw err;
  }
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_VALUE_BYTES) {
    throw new PayloadTooLargeError(
      `Cannot record the ${what}: it serializes to ${bytes} bytes, over the ${MAX_VALUE_BYTES}-byte limit for one value (DynamoDB items are limited to 400 KB); store large data elsewhere (e.g. S3) and return a reference`,
    );
  }
  return text;
}

/**
 * A value as plain JSON data, with Cairn's tags where JSON has no type of its own
 * (what control Lambdas and the CLI return, so a Map or BigInt output survives).
 */
export function toJsonValue(value: unknown): unknown {
  return encode(value, "$", new Set());
}

export function deserialize(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  return decode(JSON.parse(text) as Encoded);
}

/** The plain shape in which errors are recorded and shown. */
export interface RecordedError {
  name: string;
  message: string;
  stack?: string;
}

export function toRecordedError(err: unknown): RecordedError {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, ...(err.stack !== undefined ? { stack: err.stack } : {}) };
  }
  return { name: "Error", message: typeof err === "string" ? err : safeString(err) };
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Rebuild a throwable from a recorded error, keeping name, message and stack. */
export function fromRecordedError(recorded: RecordedError): Error {
  const err = new Error(recorded.message);
  err.name = recorded.name;
  if (recorded.stack !== undefined) err.stack = recorded.stack;
  return err;
}
