import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_SQS_DELAY_SECONDS } from "../../src/constants.js";
import { MalformedMessageError } from "../../src/errors.js";
import { decodeMessage, delaySecondsFor, encodeMessage } from "../../src/queue/messages.js";

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

    it("marks its messages so foreign ones are told apart", () => {
      // Act
      const body = JSON.parse(encodeMessage({ workflowId: "w", step: 1, generation: 0 })) as Record<string, unknown>;

      // Assess
      assert.equal(body.kind, "cairn.step");
      assert.equal(body.v, 1);
    });

    const valid = { kind: "cairn.step", v: 1, workflowId: "w", step: 1, generation: 0 };
    const malformed: [string, string, RegExp][] = [
      ["a body that is not JSON", "hello", /not JSON/],
      ["JSON without Cairn's kind", JSON.stringify({ workflowId: "w", step: 1, generation: 0 }), /no kind/],
      ["JSON null", "null", /no kind/],
      ["an unknown version", JSON.stringify({ ...valid, v: 2 }), /version 2/],
      ["an empty workflowId", JSON.stringify({ ...valid, workflowId: "" }), /workflowId/],
      ["step 0", JSON.stringify({ ...valid, step: 0 }), /invalid step 0/],
      ["a fractional step", JSON.stringify({ ...valid, step: 1.5 }), /invalid step/],
      ["a negative generation", JSON.stringify({ ...valid, generation: -1 }), /invalid generation/],
      ["a string notBefore", JSON.stringify({ ...valid, notBefore: "soon" }), /notBefore/],
    ];
    for (const [what, body, message] of malformed) {
      it(`refuses ${what} with MalformedMessageError`, () => {
        // Act / Assess
        assert.throws(
          () => decodeMessage(body),
          (err: unknown) => err instanceof MalformedMessageError && message.test(err.message),
        );
      });
    }

    it("ignores fields it does not know", () => {
      // Act
      const message = decodeMessage(JSON.stringify({ ...valid, traceId: "abc" }));

      // Assess
      assert.deepEqual(message, { workflowId: "w", step: 1, generation: 0 });
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
  });
});
