import type { SeededRandom } from "../../src/testing/random.js";

/**
 * Seeded generators of hostile values. Everything here returns JSON text or
 * JSON-able values, so a payload is exactly what Lambda would hand a function
 * after parsing an Invoke payload (no undefined, no NaN, "__proto__" as an own key).
 */

/** Pick by weight: `[weight, value]` pairs. */
export function weighted<T>(rng: SeededRandom, choices: readonly (readonly [number, T])[]): T {
  const total = choices.reduce((sum, [w]) => sum + w, 0);
  let roll = rng.next() * total;
  for (const [w, value] of choices) {
    roll -= w;
    if (roll < 0) return value;
  }
  return choices[choices.length - 1]![1];
}

/** A uuid-shaped id from the seed (SQS message ids look like this). */
export function seededUuid(rng: SeededRandom): string {
  const hex = (n: number) => Array.from({ length: n }, () => rng.int(0, 15).toString(16)).join("");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${rng.pick(["8", "9", "a", "b"])}${hex(3)}-${hex(12)}`;
}

const ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@=+-";

/** A valid workflow id (1-200 of the allowed characters) that nothing uses. */
export function validId(rng: SeededRandom, prefix: string): string {
  const length = weighted(rng, [
    [6, rng.int(1, 12)],
    [1, 200 - prefix.length],
  ]);
  let id = prefix;
  for (let i = 0; i < length; i++) id += ID_CHARS[rng.int(0, ID_CHARS.length - 1)];
  return id.slice(0, 200);
}

/** Strings that break naive code: long, empty, control characters, lone surrogates, key syntax. */
export function hostileString(rng: SeededRandom, options: { maxLength?: number } = {}): string {
  const max = options.maxLength ?? 1_000_000;
  const long = (n: number) => rng.pick(["x", "é", "\u{1F600}", "%", "\\", '"', "#"]).repeat(Math.max(1, Math.floor(n)));
  const value = weighted<() => string>(rng, [
    [3, () => ""],
    [3, () => " "],
    [3, () => "has space"],
    [2, () => "a/b"],
    [2, () => "WF#other"],
    [2, () => "STEP#0000000001"],
    [2, () => "../../etc/passwd"],
    [2, () => "émoji-\u{1F600}"],
    [2, () => "\u0000\u0001\u001b[31m"],
    [2, () => "\ud800"],
    [2, () => "line\nbreak\r\n"],
    [2, () => "<script>alert(1)</script>"],
    [2, () => "${process.exit(1)}"],
    [2, () => "__proto__"],
    [2, () => "constructor"],
    [2, () => "null"],
    [2, () => "-1"],
    [2, () => "9".repeat(400)],
    [3, () => "w".repeat(201)],
    [3, () => long(3_000)],
    [2, () => long(70_000)],
    [1, () => long(rng.int(100_000, 400_000))],
    [1, () => long(1_100_000)],
  ])();
  return value.length > max ? value.slice(0, max) : value;
}

/** Numbers as JSON text, including ones JavaScript cannot hold exactly. */
export function hostileNumberText(rng: SeededRandom): string {
  return rng.pick([
    "0",
    "-0",
    "-1",
    "1",
    "2",
    "1.5",
    "0.1",
    "1e-300",
    "1e21",
    "1e300",
    "-1e300",
    "1.7976931348623157e308",
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "18446744073709551616",
    "2147483647",
    "2147483648",
    "4294967296",
    "8640000000000000",
    "8640000000000001",
    "123456789012345678901234567890",
  ]);
}

/** Any JSON value as text, some of it hostile: deep, wide, big, tagged like Cairn's codec, with "__proto__" keys. */
export function hostileJsonText(rng: SeededRandom, options: { maxBytes?: number } = {}): string {
  const maxBytes = options.maxBytes ?? 1_000_000;
  const text = weighted<() => string>(rng, [
    [4, () => "null"],
    [3, () => "true"],
    [4, () => hostileNumberText(rng)],
    [4, () => JSON.stringify(hostileString(rng, { maxLength: maxBytes }))],
    [4, () => JSON.stringify({ orderId: "o-1", items: [{ sku: "a", quantity: 1 }] })],
    [2, () => "[]"],
    [2, () => "{}"],
    [2, () => `{"__proto__":{"polluted":true,"workflowId":"x"},"a":1}`],
    [2, () => `{"constructor":{"prototype":{"polluted":true}}}`],
    [2, () => `{"$cairn":"bigint","v":"not a number"}`],
    [2, () => `{"$cairn":"Map","v":5}`],
    [2, () => `{"$cairn":"Date","v":"never"}`],
    [2, () => `{"$cairn":"RegExp","v":["(a+)+$","gimsuyd"]}`],
    [2, () => `{"$cairn":"Error","v":{"name":"E","message":"m","cause":{"$cairn":"Set","v":null}}}`],
    [2, () => `{"$cairn":"nope"}`],
    [2, () => `{"$cairn":"Object","v":{"$cairn":"undefined"}}`],
    [3, () => deepText(rng.pick([50, 127, 128, 129, 200]))],
    [2, () => deepText(rng.pick([1_000, 10_000, 100_000]))],
    [2, () => `[${Array.from({ length: rng.pick([1_000, 100_000]) }, () => "0").join(",")}]`],
    [2, () => `{${Array.from({ length: rng.pick([100, 20_000]) }, (_, i) => `"k${i}":${i}`).join(",")}}`],
    [1, () => JSON.stringify({ big: "b".repeat(rng.pick([300_000, 358_400, 360_000])) })],
    [1, () => JSON.stringify({ [hostileString(rng, { maxLength: 100_000 })]: 1 })],
  ])();
  return text.length > maxBytes ? "null" : text;
}

/** An array or object nested `depth` levels deep, as text (built without recursion). */
export function deepText(depth: number): string {
  return `${'{"a":['.repeat(Math.ceil(depth / 2))}1${"]}".repeat(Math.ceil(depth / 2))}`;
}

/** Clip text for a report line. */
export function clip(text: string, max = 300): string {
  // Line breaks and control characters escaped, so a report line stays one line; a long run
  // of one character shown as "x×3000", so a 3,000-character id leaves room for what follows it.
  const oneLine = text
    .replace(/(.)\1{15,}/gsu, (run: string, c: string) => `${c}×${[...run].length}`)
    .replace(/[\u0000-\u001f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max)}… (${text.length} chars)`;
}
