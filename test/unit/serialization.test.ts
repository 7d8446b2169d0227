import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_VALUE_BYTES } from "../../src/constants.js";
import { NonDeterminismError, PayloadTooLargeError, SerializationError, ValidationError } from "../../src/errors.js";
import {
  MAX_ERROR_BYTES,
  MAX_VALUE_DEPTH,
  deserialize,
  fromRecordedError,
  registerErrorClass,
  serialize,
  toJsonValue,
  toRecordedError,
} from "../../src/serialization.js";

// Every assert.ok has a message: without one, Node re-reads this TypeScript source to describe a failure, which takes ~40 s.
const roundTrip = (value: unknown): unknown => deserialize(serialize(value, "test value"));
const rethrown = (thrown: unknown): unknown => fromRecordedError(toRecordedError(thrown));
const nested = (depth: number): unknown => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe("serialize / deserialize", () => {
  describe("values JSON cannot carry", () => {
    const cases: [string, () => unknown][] = [
      ["undefined", () => undefined],
      ["undefined inside an object and an array", () => ({ a: undefined, list: [1, undefined, 3] })],
      ["a Map with non-string keys and nested values", () => new Map<unknown, unknown>([[1, "one"], [{ k: 2 }, new Set([2n])]])],
      ["a Set", () => new Set(["a", 1, null])],
      ["a BigInt beyond Number's range", () => 2n ** 100n - 1n],
      ["a negative BigInt", () => -42n],
      ["a Date with milliseconds", () => new Date("2024-02-29T23:59:59.999Z")],
      ["NaN, Infinity, -Infinity and -0", () => [Number.NaN, Infinity, -Infinity, -0]],
      ["a RegExp with flags", () => /ab+c/gi],
      ["bytes", () => new Uint8Array([0, 1, 254, 255])],
      ["other typed arrays", () => [new Int16Array([-2, 7]), new Float64Array([0.5, -Infinity]), new BigInt64Array([-(2n ** 63n)])]],
      ["an ArrayBuffer", () => new Uint16Array([1, 65535]).buffer],
      ["a sparse array, holes kept (not null or undefined)", () => [1, , 3, , ]],
      ["an array with own named properties (a RegExp match)", () => /(?<word>b+)/.exec("abbc")],
      ["keys __proto__, constructor and prototype as plain own data", () =>
        JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}, "prototype": 1}') as unknown],
      ["a plain object that uses the tag key itself", () => ({ $cairn: "Map", v: [] })],
      ["the same object twice (not a cycle)", () => {
        const shared = { id: 1 };
        return { first: shared, second: shared };
      }],
    ];
    for (const [what, make] of cases) {
      it(`round-trips ${what}`, () => {
        // Prepare
        const value = make();

        // Act
        const back = roundTrip(value);

        // Assess
        assert.deepEqual(back, make());
      });
    }

    it("gives a Buffer back as a Buffer and a Uint8Array as a plain Uint8Array", () => {
      // Prepare
      const digest = Buffer.from("c0ffee", "hex"); // small Buffers share a pool: only their own bytes count

      // Act
      const back = roundTrip({ digest, raw: new Uint8Array([1]) }) as { digest: Buffer; raw: Uint8Array };

      // Assess
      assert.ok(Buffer.isBuffer(back.digest), "Buffer.isBuffer(back.digest)");
      assert.equal(back.digest.toString("hex"), "c0ffee");
      assert.equal(Object.getPrototypeOf(back.raw), Uint8Array.prototype);
    });

    it("keeps a __proto__ key as own data and pollutes no prototype, also when decoding foreign text", () => {
      // Act
      const back = roundTrip(JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
      const read = deserialize('{"__proto__": {"polluted": true}}') as Record<string, unknown>;

      // Assess
      for (const obj of [back, read]) {
        assert.equal(Object.getPrototypeOf(obj), Object.prototype);
        assert.deepEqual(Object.getOwnPropertyDescriptor(obj, "__proto__")?.value, { polluted: true });
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it(`round-trips a value nested ${MAX_VALUE_DEPTH} levels deep`, () => {
      // Act / Assess
      assert.deepEqual(roundTrip(nested(MAX_VALUE_DEPTH)), nested(MAX_VALUE_DEPTH));
    });

    it("round-trips an invalid Date as an invalid Date", () => {
      // Act
      const back = roundTrip(new Date(Number.NaN));

      // Assess
      assert.ok(back instanceof Date, "back instanceof Date");
      assert.ok(Number.isNaN(back.getTime()), "Number.isNaN(back.getTime())");
    });

    it("reads an object with a null prototype back with a null prototype and the same entries", () => {
      // Act
      const back = roundTrip(Object.assign(Object.create(null) as object, { a: 1 }));

      // Assess
      assert.deepEqual(back, Object.assign(Object.create(null) as object, { a: 1 }));
    });

    it("keeps -0 distinct from 0", () => {
      // Act
      const back = roundTrip(-0);

      // Assess
      assert.ok(Object.is(back, -0), "Object.is(back, -0)");
    });

    it("round-trips an Error's name, message, stack, code and cause", () => {
      // Prepare
      const err = Object.assign(new Error("card declined", { cause: new Error("bad card") }), { code: "E_CARD" });
      err.name = "PaymentError";

      // Act
      const back = roundTrip(err) as Error & { code?: string };

      // Assess
      assert.ok(back instanceof Error, "back instanceof Error");
      assert.equal(back.name, "PaymentError");
      assert.equal(back.message, "card declined");
      assert.equal(back.stack, err.stack);
      assert.equal(back.code, "E_CARD");
      assert.ok(back.cause instanceof Error, "back.cause instanceof Error");
      assert.equal((back.cause as Error).stack, (err.cause as Error).stack);
      assert.equal((back.cause as Error).message, "bad card");
      assert.deepEqual(back, err, "the same own properties, cause as non-enumerable as on the original");
    });
  });

  describe("values that would not come back the same", () => {
    class Money {
      constructor(readonly cents: number) {}
    }
    const cases: [string, () => unknown, RegExp][] = [
      ["a class instance", () => ({ total: new Money(5) }), /instance of class Money at \$\.total/],
      ["a function", () => ({ list: [1, () => 2] }), /function at \$\.list\[1\]/],
      ["a symbol", () => Symbol("s"), /symbol at \$/],
      ["a circular reference", () => {
        const node: { child?: unknown } = {};
        node.child = { parent: node };
        return node;
      }, /circular reference at \$\.child\.parent/],
      ["a class instance inside a Map", () => new Map([["k", new Money(1)]]), /Money at \$<value 0>/],
      ["a subclass of Map (it would come back as a Map)", () => ({ m: new (class Registry extends Map {})() }), /class Registry at \$\.m/],
      ["a value nested 2,000 levels deep", () => ({ tree: nested(2_000) }), /nested more than 128 levels deep at \$\.tree(\[0\]){128}/],
      ["an Error whose field is circular", () => {
        const err = Object.assign(new Error("x"), { self: undefined as unknown });
        err.self = err;
        return err;
      }, /circular reference at \$\.self/],
    ];
    for (const [what, make, message] of cases) {
      it(`refuses ${what} with the path of the offending value and what is being recorded`, () => {
        // Act
        const attempt = () => serialize(make(), 'output of step 2 "charge"');

        // Assess
        assert.throws(attempt, (err: unknown) => {
          assert.ok(err instanceof SerializationError, "err instanceof SerializationError");
          assert.match(err.message, /^Cannot record the output of step 2 "charge": /);
          assert.match(err.message, message);
          return true;
        });
      });
    }

    it("refuses a value over the size limit with PayloadTooLargeError naming it", () => {
      // Prepare
      const big = "x".repeat(MAX_VALUE_BYTES + 1);

      // Act
      const attempt = () => serialize(big, 'output of step 1 "download"');

      // Assess
      assert.throws(attempt, (err: unknown) => {
        assert.ok(err instanceof PayloadTooLargeError, "err instanceof PayloadTooLargeError");
        assert.match(err.message, /step 1 "download"/);
        return true;
      });
    });
  });

  it("reads an absent value as undefined", () => {
    // Act / Assess
    assert.equal(deserialize(undefined), undefined);
  });

  it("reads an Error recorded in the previous format (name, message, stack, code, cause)", () => {
    // Act
    const back = deserialize('{"$cairn":"Error","v":{"name":"PaymentError","message":"declined","code":"E_CARD"}}') as Error & { code: string };

    // Assess
    assert.deepEqual([back instanceof Error, back.name, back.message, back.code], [true, "PaymentError", "declined", "E_CARD"]);
  });

  it("refuses a tag it does not know instead of guessing", () => {
    // Act / Assess
    assert.throws(() => deserialize(JSON.stringify({ $cairn: "Mystery", v: 1 })), SerializationError);
  });

  it("refuses over-deep values with a SerializationError, never a RangeError (toJsonValue, decoding foreign text)", () => {
    // Prepare
    const deepText = "[".repeat(100_000) + "]".repeat(100_000);

    // Act / Assess
    assert.throws(() => toJsonValue(nested(2_000)), SerializationError);
    assert.throws(() => deserialize(deepText), SerializationError);
  });

  it("gives plain JSON data with tags for what JSON has no type for (control answers, CLI)", () => {
    // Act
    const json = toJsonValue({ n: 1n, s: "x" });

    // Assess
    assert.deepEqual(JSON.parse(JSON.stringify(json)), { n: { $cairn: "bigint", v: "1" }, s: "x" });
  });
});

describe("toRecordedError / fromRecordedError", () => {
  let constructed = 0;
  class Declined extends Error {
    constructor(readonly status: number, reason: string) {
      super(`declined: ${reason}`);
      constructed++;
      this.name = "Declined";
    }
  }
  registerErrorClass(Declined, "test.Declined");

  it("keeps a registered class, its name, message, stack, code, cause and own fields, without calling its constructor", () => {
    // Prepare
    const err = Object.assign(new Declined(402, "card"), { code: "E_CARD", retryable: true });
    err.cause = { reason: "limit" };
    const before = constructed;

    // Act
    const back = rethrown(err) as Declined & { code: string; retryable: boolean };

    // Assess
    assert.ok(back instanceof Declined, "back instanceof Declined");
    assert.deepEqual(back, err);
    assert.equal(back.stack, err.stack);
    assert.deepEqual([back.status, back.code, back.retryable], [402, "E_CARD", true]);
    assert.deepEqual(Object.keys(back), Object.keys(err));
    assert.equal(constructed, before, "the constructor did not run");
  });

  it("keeps an Error inside a step output with its class and own fields", () => {
    // Act
    const back = roundTrip({ failure: Object.assign(new Declined(404, "gone"), { code: 7 }) }) as { failure: Declined };

    // Assess
    assert.ok(back.failure instanceof Declined, "back.failure instanceof Declined");
    assert.equal(back.failure.status, 404);
  });

  it("keeps a chain of causes, Error and non-Error", () => {
    // Act
    const back = rethrown(new Error("outer", { cause: new TypeError("inner", { cause: 42 }) })) as Error;

    // Assess
    assert.ok(back.cause instanceof TypeError, "back.cause instanceof TypeError");
    assert.equal((back.cause as Error).cause, 42);
    assert.ok(!Object.keys(back).includes("cause"), "cause stays non-enumerable");
  });

  it("gives built-in Error classes back as themselves, AggregateError with its errors", () => {
    // Prepare
    const errors = [new TypeError("t"), new RangeError("r"), new SyntaxError("s"), new ReferenceError("f"), new EvalError("e"), new URIError("u")];

    // Act
    const back = rethrown(new AggregateError(errors, "all failed")) as AggregateError;

    // Assess
    assert.ok(back instanceof AggregateError, "back instanceof AggregateError");
    assert.deepEqual(back.errors.map((e: Error) => e.constructor), errors.map((e) => e.constructor));
    assert.deepEqual(back, new AggregateError(errors, "all failed"));
  });

  it("gives Cairn's own errors back with their class, code and fields", () => {
    // Prepare
    const err = new NonDeterminismError("wf-1", 3, "expected step charge");

    // Act
    const back = rethrown(err) as NonDeterminismError;

    // Assess
    assert.ok(back instanceof NonDeterminismError, "back instanceof NonDeterminismError");
    assert.deepEqual([back.name, back.code, back.workflowId, back.stepIndex], ["NonDeterminismError", "NON_DETERMINISM", "wf-1", 3]);
    assert.deepEqual(back.toJSON(), err.toJSON());
  });

  it("gives an unregistered class back as an Error with its name, and a subclass as its nearest registered ancestor", () => {
    // Prepare
    class Unknown extends Error {
      override name = "Unknown";
    }
    class Refused extends Declined {}

    // Act
    const back = rethrown(Object.assign(new Unknown("u"), { status: 500 })) as Error & { status: number };
    const sub = rethrown(new Refused(403, "x"));

    // Assess
    assert.equal(Object.getPrototypeOf(back), Error.prototype);
    assert.deepEqual([back.name, back.message, back.status], ["Unknown", "u", 500]);
    assert.ok(sub instanceof Declined, "sub instanceof Declined");
  });

  it("refuses two different classes under one name, and accepts the same class again", () => {
    // Prepare
    class A extends Error {}
    class B extends Error {}
    registerErrorClass(A, "test.Same");

    // Act / Assess
    registerErrorClass(A, "test.Same");
    assert.throws(() => registerErrorClass(B, "test.Same"), ValidationError);
    assert.throws(() => registerErrorClass(Object as never, "test.NotAnError"), ValidationError);
  });

  it("gives a thrown non-Error back as the same value", () => {
    // Prepare
    const thrown: unknown[] = ["THROTTLED", 429, null, undefined, 10n, { reason: "nope", at: new Date(0) }];

    for (const value of thrown) {
      // Act
      const back = rethrown(value);

      // Assess
      assert.deepEqual(back, value);
    }
    assert.deepEqual(toRecordedError("THROTTLED"), { name: "Error", message: "THROTTLED", value: '"THROTTLED"' });
  });

  it("is plain JSON data with name, message, stack and code for display", () => {
    // Prepare
    const err = Object.assign(new Declined(400, "bad"), { code: "E_BAD" });

    // Act
    const recorded = toRecordedError(err);

    // Assess
    assert.deepEqual(JSON.parse(JSON.stringify(recorded)), recorded);
    assert.deepEqual([recorded.name, recorded.message, recorded.stack, recorded.code], ["Declined", "declined: bad", err.stack, "E_BAD"]);
  });

  it("reads records of the old format {name, message, stack}", () => {
    // Act
    const back = fromRecordedError({ name: "RangeError", message: "too far", stack: "RangeError: too far\n    at x" }) as Error;

    // Assess
    assert.ok(back instanceof Error, "back instanceof Error");
    assert.deepEqual([back.name, back.message, back.stack], ["RangeError", "too far", "RangeError: too far\n    at x"]);
  });

  it("records an error with circular, function and class-instance fields, leaving those out and saying so", () => {
    // Prepare
    const err = Object.assign(new Declined(500, "x"), { self: undefined as unknown, retry: () => 1, socket: new (class Socket {})(), kept: [1] });
    err.self = err;
    const hostile = new Proxy({}, { ownKeys: () => { throw new Error("trap"); } });

    // Act
    const recorded = toRecordedError(err);
    const back = fromRecordedError(recorded) as Declined & Record<string, unknown>;

    // Assess
    assert.ok(back instanceof Declined, "back instanceof Declined");
    assert.deepEqual([back.status, back.kept, "self" in back, "retry" in back, "socket" in back], [500, [1], false, false, false]);
    assert.equal(recorded.omitted?.length, 3);
    assert.match(recorded.omitted!.join("\n"), /\$\.self: a circular reference/);
    assert.doesNotThrow(() => toRecordedError(hostile));
    assert.doesNotThrow(() => toRecordedError(nested(2_000)));
  });

  describe("size", () => {
    const cases: [string, () => Error, number | undefined][] = [
      ["a 500 KB message", () => Object.assign(new Declined(413, "x".repeat(500_000)), { code: "E_BIG" }), undefined],
      ["a huge non-string field", () => Object.assign(new Declined(413, "big"), { code: "E_BIG", rows: Array.from({ length: 100_000 }, (_, i) => i) }), undefined],
      ["a small maxBytes", () => Object.assign(new Declined(413, "y".repeat(10_000)), { code: "E_BIG" }), 2_048],
    ];
    for (const [what, make, maxBytes] of cases) {
      it(`records ${what} truncated within the limit, keeping class, name and code`, () => {
        // Prepare
        const err = make();
        const limit = maxBytes ?? MAX_ERROR_BYTES;

        // Act
        const recorded = toRecordedError(err, maxBytes === undefined ? undefined : { maxBytes });
        const back = fromRecordedError(recorded) as Declined & { code: string };

        // Assess
        assert.ok(Buffer.byteLength(JSON.stringify(recorded)) <= limit, "Buffer.byteLength(JSON.stringify(recorded)) <= limit");
        assert.ok(recorded.truncated!.originalBytes > limit, "recorded.truncated!.originalBytes > limit");
        assert.ok(back instanceof Declined, "back instanceof Declined");
        assert.deepEqual([back.name, back.code, recorded.code], ["Declined", "E_BIG", "E_BIG"]);
        assert.ok(back.message.startsWith(err.message.slice(0, 3)), "back.message.startsWith(err.message.slice(0, 3))");
      });
    }

    it("leaves an error within the limit untouched", () => {
      // Act / Assess
      assert.equal(toRecordedError(new Error("small")).truncated, undefined);
      assert.equal(MAX_ERROR_BYTES, 64 * 1024);
    });
  });
});
