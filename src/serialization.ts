import { PayloadTooLargeError, SerializationError } from "./errors.js";
import { MAX_VALUE_BYTES } from "./constants.js";
import { errorClassName, errorClassNamed } from "./errorClasses.js";

export { registerErrorClass, type ErrorClass } from "./errorClasses.js";
export { MAX_ERROR_BYTES, fromRecordedError, toRecordedError, type RecordedError } from "./errorCodec.js";

/**
 * JSON with tags for what JSON cannot carry (undefined, Map, Set, BigInt, Date,
 * Error, RegExp, non-finite numbers, -0, Buffer, typed arrays, ArrayBuffer,
 * sparse arrays, null-prototype objects), so recorded values replay exactly as
 * the step returned them. The engine hands the workflow `deserialize(serialize(v))`
 * on the first run too, so whatever this loses, it loses on every run alike;
 * anything that would not come back the same (functions, symbols, class
 * instances, subclasses of Map and the like, cycles) is refused with the path
 * of the offending value, instead of being silently mangled.
 */

/** @internal The key that marks a tagged value: `{ "$cairn": type, v: value }`. */
export const TAG = "$cairn";

/**
 * How many containers deep a value may nest. Encoding and decoding recurse, so
 * a limit keeps them far from V8's stack limit: too deep is a SerializationError
 * naming the path, never a RangeError. (DynamoDB's 32-level limit on maps does
 * not apply: values are stored as JSON strings.)
 */
export const MAX_VALUE_DEPTH = 128;

/** @internal The JSON shape values are encoded to. */
export type Encoded = null | boolean | number | string | Encoded[] | { [key: string]: Encoded };

/** What encode returns, in lenient mode only, for a value it leaves out. */
const OMIT: unique symbol = Symbol("omit");

interface EncodeContext {
  /** The objects being encoded above the current one, to refuse cycles (a shared object is fine). */
  seen: Set<object>;
  /** Lenient mode (recorded errors): what could not be encoded is left out and listed here instead of thrown. */
  omitted?: string[];
}

/** Own properties of an Error that are kept although not enumerable. */
const ERROR_HIDDEN_KEPT = new Set(["name", "message", "stack", "cause", "errors", "code"]);
/** Error properties recorded as read (through getters and the prototype) when not own, e.g. DOMException's. */
const ERROR_INHERITED_KEPT = ["name", "message", "code"] as const;

const TYPED_ARRAYS = new Map<object, { name: string; ctor: new (buffer: ArrayBuffer) => ArrayBufferView }>(
  [Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array].map(
    (ctor) => [ctor.prototype, { name: ctor.name, ctor }],
  ),
);
const TYPED_ARRAYS_BY_NAME = new Map([...TYPED_ARRAYS.values()].map((t) => [t.name, t.ctor]));

/** @internal */
export function tagged(type: string, value?: Encoded): Encoded {
  return value === undefined ? { [TAG]: type } : { [TAG]: type, v: value };
}

/** @internal Plain own data, also for keys like `__proto__` that assignment would treat as the prototype. */
export function define(target: object, key: string, value: unknown, enumerable = true): void {
  Object.defineProperty(target, key, { value, enumerable, writable: true, configurable: true });
}

function base64(view: ArrayBufferView | ArrayBuffer): string {
  return ArrayBuffer.isView(view) ? Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("base64") : Buffer.from(view).toString("base64");
}

/** Bytes in a fresh ArrayBuffer of their exact size (Buffer.from may return a slice of a shared pool). */
function bytesOf(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}

function refuse(ctx: EncodeContext, path: string, what: string, hint = ""): typeof OMIT {
  if (ctx.omitted === undefined) throw new SerializationError(`Cannot serialize ${what} at ${path}${hint}`);
  ctx.omitted.push(`${path}: ${what}`);
  return OMIT;
}

function thrownText(err: unknown): string {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    return "an unprintable value";
  }
}

/** A property's value; a getter that throws is refused like any value that cannot be recorded. */
function read(obj: object, key: string, path: string, ctx: EncodeContext): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch (err) {
    return refuse(ctx, path, `a property whose getter threw (${thrownText(err)})`);
  }
}

function encode(value: unknown, path: string, depth: number, ctx: EncodeContext): Encoded | typeof OMIT {
  if (value === OMIT) return OMIT;
  if (depth > MAX_VALUE_DEPTH) return refuse(ctx, path, `a value nested more than ${MAX_VALUE_DEPTH} levels deep`);
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
      return refuse(ctx, path, `a ${typeof value}`);
  }
  if (value === null) return null;
  const obj = value as object;
  if (ctx.seen.has(obj)) return refuse(ctx, path, "a circular reference");
  ctx.seen.add(obj);
  try {
    return encodeObject(obj, path, depth, ctx);
  } catch (err) {
    // Only a Proxy gets here (its traps threw): say so at this path rather than let a raw error escape.
    if (err instanceof SerializationError) throw err;
    return refuse(ctx, path, `a value that could not be read (${thrownText(err)})`);
  } finally {
    ctx.seen.delete(obj);
  }
}

function encodeObject(obj: object, path: string, depth: number, ctx: EncodeContext): Encoded | typeof OMIT {
  const proto: unknown = Object.getPrototypeOf(obj);
  if (Array.isArray(obj) && proto === Array.prototype) return encodeArray(obj, path, depth, ctx);
  if (proto === Object.prototype || proto === null) {
    const out: { [key: string]: Encoded } = {};
    for (const k of Object.keys(obj)) {
      const item = encode(read(obj, k, `${path}.${k}`, ctx), `${path}.${k}`, depth + 1, ctx);
      if (item !== OMIT) define(out, k, item);
    }
    if (proto === null) return tagged("NullProto", out);
    // A plain object that happens to use our tag key is wrapped so it cannot be mistaken for a tag.
    return Object.hasOwn(out, TAG) ? tagged("Object", out) : out;
  }
  if (obj instanceof Error) return encodeError(obj, path, depth, ctx);
  // Exact prototypes only: a subclass of Map (or Date, ...) would come back as the base class.
  switch (proto) {
    case Date.prototype: {
      const time = (obj as Date).getTime();
      return tagged("Date", Number.isNaN(time) ? "invalid" : (obj as Date).toISOString());
    }
    case Map.prototype: {
      const entries: Encoded[] = [];
      let i = 0;
      for (const [k, v] of obj as Map<unknown, unknown>) {
        const key = encode(k, `${path}<key ${i}>`, depth + 1, ctx);
        const item = encode(v, `${path}<value ${i}>`, depth + 1, ctx);
        if (key !== OMIT && item !== OMIT) entries.push([key, item]);
        i++;
      }
      return tagged("Map", entries);
    }
    case Set.prototype: {
      const items: Encoded[] = [];
      let i = 0;
      for (const v of obj as Set<unknown>) {
        const item = encode(v, `${path}<item ${i++}>`, depth + 1, ctx);
        if (item !== OMIT) items.push(item);
      }
      return tagged("Set", items);
    }
    case RegExp.prototype: {
      const re = obj as RegExp;
      return tagged("RegExp", re.lastIndex === 0 ? [re.source, re.flags] : [re.source, re.flags, re.lastIndex]);
    }
    case Buffer.prototype:
      return tagged("Buffer", base64(obj as Buffer));
    case Uint8Array.prototype:
      return tagged("Bytes", base64(obj as Uint8Array));
    case ArrayBuffer.prototype:
      return tagged("ArrayBuffer", base64(obj as ArrayBuffer));
  }
  // Platform byte order: both Lambda architectures (x86_64, arm64) are little-endian.
  const typed = TYPED_ARRAYS.get(proto as object);
  if (typed !== undefined) return tagged("TypedArray", [typed.name, base64(obj as ArrayBufferView)]);
  const className = ((proto as { constructor?: { name?: unknown } } | undefined)?.constructor?.name as string | undefined) || "unknown";
  return refuse(ctx, path, `an instance of class ${className}`, ": return plain objects, arrays, Map, Set, Date, BigInt or Error");
}

const INDEX = /^(?:0|[1-9]\d*)$/;

function encodeArray(arr: unknown[], path: string, depth: number, ctx: EncodeContext): Encoded {
  const entries: [string, Encoded][] = [];
  for (const k of Object.keys(arr)) {
    const at = INDEX.test(k) ? `${path}[${k}]` : `${path}.${k}`;
    const item = encode(read(arr, k, at, ctx), at, depth + 1, ctx);
    if (item !== OMIT) entries.push([k, item]);
  }
  const n = arr.length;
  // Indices come first among own keys, so this holds exactly when every index is there and nothing else.
  if (entries.length === n && (n === 0 || entries[n - 1]![0] === String(n - 1))) return entries.map(([, item]) => item);
  // Holes, named properties (e.g. a RegExp match's `index`) or left-out items: [length, [[key, value], ...]].
  return tagged("Array", [n, entries]);
}

/**
 * `class` is the registered class to rebuild (see errorClasses.ts); `props` the own
 * properties (enumerable ones and the standard hidden ones), `hidden` those of them
 * not enumerable, `inherited` name/message/code as read when they are not own.
 */
function encodeError(err: Error, path: string, depth: number, ctx: EncodeContext): Encoded {
  const props: { [key: string]: Encoded } = {};
  const hidden: string[] = [];
  for (const k of Object.getOwnPropertyNames(err)) {
    const enumerable = Object.getOwnPropertyDescriptor(err, k)?.enumerable === true;
    if (!enumerable && !ERROR_HIDDEN_KEPT.has(k)) continue;
    const item = encode(read(err, k, `${path}.${k}`, ctx), `${path}.${k}`, depth + 1, ctx);
    if (item === OMIT) continue;
    define(props, k, item);
    if (!enumerable) hidden.push(k);
  }
  const inherited: { [key: string]: Encoded } = {};
  for (const k of ERROR_INHERITED_KEPT) {
    if (Object.hasOwn(err, k)) continue;
    const value = read(err, k, `${path}.${k}`, ctx);
    if (value === undefined) continue;
    const item = encode(value, `${path}.${k}`, depth + 1, ctx);
    if (item !== OMIT) inherited[k] = item;
  }
  return tagged("Error", { class: errorClassName(err), props, hidden, inherited });
}

function decode(value: Encoded, depth: number): unknown {
  if (depth > MAX_VALUE_DEPTH) throw new SerializationError(`Cannot read a value nested more than ${MAX_VALUE_DEPTH} levels deep`);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => decode(item, depth + 1));
  const type = Object.hasOwn(value, TAG) ? value[TAG] : undefined;
  if (typeof type !== "string") return decodeFields(value, Object.prototype, depth);
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
      return new Map((v as Encoded[][]).map(([k, x]) => [decode(k!, depth + 1), decode(x!, depth + 1)]));
    case "Set":
      return new Set((v as Encoded[]).map((x) => decode(x, depth + 1)));
    case "RegExp": {
      const [source, flags, lastIndex] = v as [string, string, number?];
      const re = new RegExp(source, flags);
      if (lastIndex !== undefined) re.lastIndex = lastIndex;
      return re;
    }
    case "Buffer":
      return Buffer.from(v as string, "base64");
    case "Bytes":
      return bytesOf(v as string);
    case "ArrayBuffer":
      return bytesOf(v as string).buffer;
    case "TypedArray": {
      const [name, data] = v as [string, string];
      const ctor = TYPED_ARRAYS_BY_NAME.get(name);
      if (ctor === undefined) throw new SerializationError(`Unknown typed array "${name}"`);
      return new ctor(bytesOf(data).buffer as ArrayBuffer);
    }
    case "Array": {
      const [length, entries] = v as [number, [string, Encoded][]];
      const out: unknown[] = new Array(length);
      for (const [k, x] of entries) define(out, k, decode(x, depth + 1));
      return out;
    }
    case "Object":
      return decodeFields(v as { [key: string]: Encoded }, Object.prototype, depth);
    case "NullProto":
      return decodeFields(v as { [key: string]: Encoded }, null, depth);
    case "Error":
      return decodeError(v as { [key: string]: Encoded }, depth);
    default:
      throw new SerializationError(`Unknown serialized type "${type}"`);
  }
}

function decodeFields(fields: { [key: string]: Encoded }, proto: object | null, depth: number): object {
  const out = Object.create(proto) as object;
  for (const k of Object.keys(fields)) define(out, k, decode(fields[k]!, depth + 1));
  return out;
}

function decodeError(fields: { [key: string]: Encoded }, depth: number): Error {
  if (!Object.hasOwn(fields, "props")) return decodeLegacyError(fields, depth);
  const props = fields.props as { [key: string]: Encoded };
  const hidden = new Set(fields.hidden as string[]);
  const cls = errorClassNamed(fields.class as string) ?? Error;
  // A real Error object (util.types.isNativeError, [object Error]) with the class's prototype: cls's own constructor
  // is not run, since it may need arguments or have side effects. Its fresh stack is replaced by the recorded one.
  const err = Reflect.construct(Error, [], cls) as Error;
  delete err.stack;
  for (const k of Object.keys(props)) define(err, k, decode(props[k]!, depth + 1), !hidden.has(k));
  const inherited = fields.inherited as { [key: string]: Encoded };
  for (const k of Object.keys(inherited)) {
    const want = decode(inherited[k]!, depth + 1);
    let have: unknown;
    try {
      have = (err as unknown as Record<string, unknown>)[k];
    } catch {
      have = undefined; // a prototype getter that needs internal slots we cannot give
    }
    // E.g. an unregistered class's name getter, which Error.prototype does not have.
    if (!Object.is(have, want)) define(err, k, want, false);
  }
  return err;
}

/** Errors recorded before class identity was: {name, message, stack?, code?, cause?}. */
function decodeLegacyError(fields: { [key: string]: Encoded }, depth: number): Error {
  // `cause` through the constructor, so it is a non-enumerable own property as on the original.
  const cause = fields.cause !== undefined ? { cause: decode(fields.cause, depth + 1) } : undefined;
  const err = new Error(String(fields.message ?? ""), cause);
  const name = String(fields.name ?? "Error");
  if (name !== err.name) err.name = name;
  if (typeof fields.stack === "string") err.stack = fields.stack;
  if (fields.code !== undefined) (err as Error & { code?: unknown }).code = decode(fields.code, depth + 1);
  return err;
}

/** Serialize a value; `what` names it in errors (e.g. `output of step 3 "charge"`). */
export function serialize(value: unknown, what: string): string {
  let text: string;
  try {
    text = JSON.stringify(encode(value, "$", 0, { seen: new Set() }));
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
  return encode(value, "$", 0, { seen: new Set() });
}

/** Read a serialized value; text that is not one (corrupt, too deep, unknown tag) is a SerializationError. */
export function deserialize(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return decode(JSON.parse(text) as Encoded, 0);
  } catch (err) {
    if (err instanceof SerializationError) throw err;
    throw new SerializationError(`Cannot read a recorded value: ${thrownText(err)}`, { cause: err });
  }
}

/**
 * @internal For errorCodec.ts: encodes anything without throwing, leaving out what
 * cannot be encoded (listed in `omitted`); undefined when nothing could be.
 */
export function encodeLeniently(value: unknown, omitted: string[]): Encoded | undefined {
  const encoded = encode(value, "$", 0, { seen: new Set(), omitted });
  return encoded === OMIT ? undefined : encoded;
}
