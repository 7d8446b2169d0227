import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_SQS_DELAY_SECONDS } from "../../src/constants.js";
import { MalformedMessageError } from "../../src/errors.js";
import { decodeMessage, delaySecondsFor, encodeMessage } from "../../src/queue/messages.js";

/** The longest error message decodeMessage may produce, whatever the body: echoed parts are clipped. */
const MAX_ERROR_MESSAGE = 400;

describe("work messages", () => {
  describe("encodeMessage / decodeMessage", () => {
    it("round-trips a message with and without notBefore", () => {
      // Prepare
      const plain = { workflowId: "order-1", step: 3, generation: 2 };
      const delayed = { ...plain, notBefore: 1_700_000_000_123 };

      // Act
      const back = [plain, delayed].map((m) => decodeMessage(encodeMessage(m)));

      // Assess
      assert.deepEqual(back, [plain, delayed]);
      assert.ok(!("notBefore" in back[0]!), "no notBefore key appears from nowhere");
    });

    it("round-trips the op hint and the claim a message supersedes", () => {
      // Prepare
      const message = {
        workflowId: "a-Z_0.9:@=+-",
        step: 7,
        generation: 0,
        op: { kind: "step" as const, name: "n".repeat(256) },
        supersedes: "s".repeat(128),
      };

      // Act
      const back = decodeMessage(encodeMessage(message));

      // Assess
      assert.deepEqual(back, message);
    });

    it("accepts the largest safe step and generation and the longest workflow id", () => {
      // Prepare
      const message = { workflowId: "w".repeat(200), step: Number.MAX_SAFE_INTEGER, generation: Number.MAX_SAFE_INTEGER, notBefore: 0 };

      // Act / Assess
      assert.deepEqual(decodeMessage(encodeMessage(message)), message);
    });

    it("marks its messages so foreign ones are told apart", () => {
      // Act
      const body = JSON.parse(encodeMessage({ workflowId: "w", step: 1, generation: 0 })) as Record<string, unknown>;

      // Assess
      assert.equal(body.kind, "cairn.step");
      assert.equal(body.v, 1);
    });

    const valid = { kind: "cairn.step", v: 1, workflowId: "w", step: 1, generation: 0 };
    const withValid = (fields: Record<string, unknown>) => JSON.stringify({ ...valid, ...fields });
    const malformed: [string, string, RegExp][] = [
      ["a body that is not JSON", "hello", /not JSON/],
      ["an empty body", "", /not JSON/],
      ["JSON without Cairn's kind", JSON.stringify({ workflowId: "w", step: 1, generation: 0 }), /no kind/],
      ["JSON null", "null", /no kind/],
      ["a JSON array", JSON.stringify([valid]), /no kind/],
      ["a JSON string", JSON.stringify(JSON.stringify(valid)), /no kind/],
      ["an unknown version", withValid({ v: 2 }), /version 2/],
      ["an empty workflowId", withValid({ workflowId: "" }), /workflowId/],
      ["a numeric workflowId", withValid({ workflowId: 42 }), /workflowId/],
      ["a 3,000-character workflowId (over DynamoDB's key limit)", withValid({ workflowId: "w".repeat(3_000) }), /workflowId/],
      ["a 201-character workflowId", withValid({ workflowId: "w".repeat(201) }), /workflowId/],
      ["a workflowId with a space", withValid({ workflowId: "has space" }), /workflowId/],
      ["a workflowId with a slash", withValid({ workflowId: "a/b" }), /workflowId/],
      ["a workflowId with a '#'", withValid({ workflowId: "a#STEP" }), /workflowId/],
      ["a workflowId outside ASCII", withValid({ workflowId: "émoji" }), /workflowId/],
      ["step 0", withValid({ step: 0 }), /invalid step 0/],
      ["a fractional step", withValid({ step: 1.5 }), /invalid step/],
      ["a string step", withValid({ step: "1" }), /invalid step/],
      ["step 2^53 (DynamoDB's SDK refuses it)", withValid({ step: 2 ** 53 }), /invalid step/],
      ["step 2^53 + 1 written out", '{"kind":"cairn.step","v":1,"workflowId":"w","step":9007199254740993,"generation":0}', /invalid step/],
      ["step 1e300", withValid({ step: 1e300 }), /invalid step/],
      ["a negative generation", withValid({ generation: -1 }), /invalid generation/],
      ["generation 2^53", withValid({ generation: 2 ** 53 }), /invalid generation/],
      ["a null generation", withValid({ generation: null }), /invalid generation/],
      ["a string notBefore", withValid({ notBefore: "soon" }), /notBefore/],
      ["a null notBefore", withValid({ notBefore: null }), /notBefore/],
      ["a fractional notBefore", withValid({ notBefore: 1.5 }), /notBefore/],
      ["notBefore 1e300", withValid({ notBefore: 1e300 }), /notBefore/],
      ["notBefore 2^53", withValid({ notBefore: 2 ** 53 }), /notBefore/],
      ["a negative notBefore", withValid({ notBefore: -1 }), /notBefore/],
      ['"op": null', withValid({ op: null }), /invalid op/],
      ["an op that is an array", withValid({ op: ["step", "a"] }), /invalid op/],
      ["an op that is a string", withValid({ op: "step" }), /invalid op/],
      ["an op of an unknown kind", withValid({ op: { kind: "child", name: "a" } }), /invalid op/],
      ["an op without a name", withValid({ op: { kind: "step" } }), /invalid op/],
      ["an op with an empty name", withValid({ op: { kind: "step", name: "" } }), /invalid op/],
      ["an op whose name is over 256 characters", withValid({ op: { kind: "step", name: "n".repeat(257) } }), /invalid op/],
      ["an empty supersedes", withValid({ supersedes: "" }), /supersedes/],
      ["a supersedes over 128 characters", withValid({ supersedes: "s".repeat(129) }), /supersedes/],
      ["a numeric supersedes", withValid({ supersedes: 7 }), /supersedes/],
      ["a null supersedes", withValid({ supersedes: null }), /supersedes/],
    ];
    for (const [what, body, message] of malformed) {
      it(`refuses ${what} with MalformedMessageError`, () => {
        // Act / Assess
        assert.throws(
          () => decodeMessage(body),
          (err: unknown) => {
            assert.ok(err instanceof MalformedMessageError, `${String(err)}`);
            assert.match(err.message, message);
            assert.ok(err.message.length <= MAX_ERROR_MESSAGE, `message of ${err.message.length} characters`);
            return true;
          },
        );
      });
    }

    const hostile: [string, string][] = [
      ["a 200 KB body that is not JSON", "x".repeat(200_000)],
      ["a 200 KB foreign JSON body", JSON.stringify({ payload: "y".repeat(200_000) })],
      ["a 200 KB version", withValid({ v: "2".repeat(200_000) })],
      ["a 200 KB step", withValid({ step: "3".repeat(200_000) })],
      ["a 200 KB generation", withValid({ generation: ["g".repeat(200_000)] })],
      ["a 200 KB workflowId", withValid({ workflowId: "w".repeat(200_000) })],
      ["a 200 KB op", withValid({ op: { kind: "step", name: "n".repeat(200_000) } })],
      ["a body of control characters and lone surrogates", "\u0000\u001b[31m\ud800" + "\n".repeat(5_000)],
    ];
    for (const [what, body] of hostile) {
      it(`keeps its error message short for ${what}`, () => {
        assert.throws(
          () => decodeMessage(body),
          (err: unknown) => err instanceof MalformedMessageError && err.message.length <= MAX_ERROR_MESSAGE && !err.message.includes("\n"),
        );
      });
    }

    it("ignores fields it does not know", () => {
      // Act
      const message = decodeMessage(JSON.stringify({ ...valid, traceId: "abc", extra: { deep: [1, 2, 3] } }));

      // Assess
      assert.deepEqual(message, { workflowId: "w", step: 1, generation: 0 });
    });

    it("ignores a __proto__ key without taking anything from it", () => {
      // Prepare: JSON.parse makes "__proto__" an own key, which a careless spread would copy.
      const body = `{"kind":"cairn.step","v":1,"workflowId":"w","step":1,"generation":0,"__proto__":{"notBefore":5,"polluted":true}}`;

      // Act
      const message = decodeMessage(body);

      // Assess
      assert.deepEqual(message, { workflowId: "w", step: 1, generation: 0 });
      assert.equal(Object.getPrototypeOf(message), Object.prototype);
      assert.equal(({} as { polluted?: boolean }).polluted, undefined);
    });
  });


  describe("delaySecondsFor", () => {
    const now = 1_000_000;
    const at = (notBefore?: number) => ({ workflowId: "w", step: 1, generation: 0, ...(notBefore !== undefined ? { notBefore } : {}) });

    it("sends a message without notBefore at once", () => {
      assert.equal(delaySecondsFor(at(), now), 0);
    });

    it("sends a message whose time has passed at once", () => {
      assert.equal(delaySecondsFor(at(now - 5_000), now), 0);
    });

    it("rounds a delay up to whole seconds, so it never surfaces early", () => {
      assert.equal(delaySecondsFor(at(now + 1), now), 1);
      assert.equal(delaySecondsFor(at(now + 1_000), now), 1);
      assert.equal(delaySecondsFor(at(now + 1_001), now), 2);
    });

    it("caps the delay at SQS's 15-minute maximum (longer waits are chained)", () => {
      assert.equal(delaySecondsFor(at(now + 3_600_000), now), MAX_SQS_DELAY_SECONDS);
      assert.equal(MAX_SQS_DELAY_SECONDS, 900);
    });

    it("never answers a delay SQS would refuse, whatever notBefore holds", () => {
      for (const notBefore of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e300, -1e300]) {
        const seconds = delaySecondsFor(at(notBefore), now);
        assert.ok(Number.isInteger(seconds) && seconds >= 0 && seconds <= MAX_SQS_DELAY_SECONDS, `${notBefore} -> ${seconds}`);
      }
    });
  });
});
