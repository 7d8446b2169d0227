import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_VALUE_BYTES } from "../../src/constants.js";
import { PayloadTooLargeError, SerializationError } from "../../src/errors.js";
import { deserialize, fromRecordedError, serialize, toJsonValue, toRecordedError } from "../../src/serialization.js";

const roundTrip = (value: unknown): unknown => deserialize(serialize(value, "test value"));

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

    it("round-trips an invalid Date as an invalid Date", () => {
      // Act
      const back = roundTrip(new Date(Number.NaN));

      // Assess
      assert.ok(back instanceof Date);
      assert.ok(Number.isNaN(back.getTime()));
    });

    it("reads an object with a null prototype back as a plain object with the same entries", () => {
      // Act
      const back = roundTrip(Object.assign(Object.create(null) as object, { a: 1 }));

      // Assess
      assert.deepEqual(back, { a: 1 });
    });

    it("keeps -0 distinct from 0", () => {
      // Act
      const back = roundTrip(-0);

      // Assess
      assert.ok(Object.is(back, -0));
    });

    it("round-trips an Error's name, message, stack, code and cause", () => {
      // Prepare
      const err = Object.assign(new Error("card declined", { cause: new Error("bad card") }), { code: "E_CARD" });
      err.name = "PaymentError";

      // Act
      const back = roundTrip(err) as Error & { code?: string };

      // Assess
      assert.ok(back instanceof Error);
      assert.equal(back.name, "PaymentError");
      assert.equal(back.message, "card declined");
      assert.equal(back.stack, err.stack);
      assert.equal(back.code, "E_CARD");
      assert.ok(back.cause instanceof Error);
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
    ];
    for (const [what, make, message] of cases) {
      it(`refuses ${what} with the path of the offending value and what is being recorded`, () => {
        // Act
        const attempt = () => serialize(make(), 'output of step 2 "charge"');

        // Assess
        assert.throws(attempt, (err: unknown) => {
          assert.ok(err instanceof SerializationError);
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
        assert.ok(err instanceof PayloadTooLargeError);
        assert.match(err.message, /step 1 "download"/);
        return true;
      });
    });
  });

  it("reads an absent value as undefined", () => {
    // Act / Assess
    assert.equal(deserialize(undefined), undefined);
  });

  it("refuses a tag it does not know instead of guessing", () => {
    // Act / Assess
    assert.throws(() => deserialize(JSON.stringify({ $cairn: "Mystery", v: 1 })), SerializationError);
  });

  it("gives plain JSON data with tags for what JSON has no type for (control answers, CLI)", () => {
    // Act
    const json = toJsonValue({ n: 1n, s: "x" });

    // Assess
    assert.deepEqual(JSON.parse(JSON.stringify(json)), { n: { $cairn: "bigint", v: "1" }, s: "x" });
  });
});

describe("toRecordedError / fromRecordedError", () => {
  it("keeps an error's name, message and stack", () => {
    // Prepare
    const err = new RangeError("too far");

    // Act
    const recorded = toRecordedError(err);
    const rebuilt = fromRecordedError(recorded);

    // Assess
    assert.deepEqual(recorded, { name: "RangeError", message: "too far", stack: err.stack });
    assert.ok(rebuilt instanceof Error);
    assert.equal(rebuilt.name, "RangeError");
    assert.equal(rebuilt.message, "too far");
    assert.equal(rebuilt.stack, err.stack);
  });

  it("records a thrown non-Error readably", () => {
    // Act / Assess
    assert.deepEqual(toRecordedError("plain string"), { name: "Error", message: "plain string" });
    assert.deepEqual(toRecordedError({ reason: "nope" }), { name: "Error", message: '{"reason":"nope"}' });
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    assert.equal(toRecordedError(cyclic).message, "[object Object]");
  });
});
