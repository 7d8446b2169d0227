import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ValidationError } from "../../src/errors.js";
import { serialize } from "../../src/serialization.js";
import { checkJsonDepth, checkTimeoutMs, checkWorkflowId, clip, LIMITS } from "../../src/limits.js";
import { decodePageToken, encodePageToken, isAfterStep, queryFingerprint } from "../../src/store/pageToken.js";

const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe("limits", () => {
  describe("clip", () => {
    it("echoes a short value as JSON and cuts a long one, saying how long it was", () => {
      assert.equal(clip("abc"), '"abc"');
      assert.equal(clip(42), "42");
      const long = clip("x".repeat(1_048_576));
      assert.ok(long.length < 150, long);
      assert.match(long, /^"x{99}… \(1048576 chars\)$/);
    });
  });

  describe("checkJsonDepth", () => {
    it(`accepts ${LIMITS.valueDepth} levels and refuses one more, as the serializer does, without recursion`, () => {
      checkJsonDepth(nested(LIMITS.valueDepth), "input");
      // The serializer draws the line at the same place.
      assert.doesNotThrow(() => serialize(nested(LIMITS.valueDepth), "x"));
      assert.throws(() => serialize(nested(LIMITS.valueDepth + 1), "x"));
      checkJsonDepth("flat", "input");
      checkJsonDepth(null, "input");
      assert.throws(() => checkJsonDepth(nested(LIMITS.valueDepth + 1), "input"), ValidationError);
      assert.throws(() => checkJsonDepth(nested(1_000_000), "input"), /nested more than 128 levels deep/);
    });
  });

  describe("checkWorkflowId and checkTimeoutMs", () => {
    it("refuse bad values with a short message naming the field", () => {
      assert.throws(
        () => checkWorkflowId("w".repeat(1_000_000)),
        (err: unknown) => err instanceof ValidationError && err.message.length < 200 && (err as ValidationError & { field?: string }).field === "workflowId",
      );
      for (const bad of [-1, Number.NaN, Infinity, "5", null, LIMITS.timeoutMsMax + 1]) assert.throws(() => checkTimeoutMs(bad), ValidationError, String(bad));
      checkTimeoutMs(undefined);
      checkTimeoutMs(0);
    });
  });

  describe("page tokens", () => {
    it("give back their position only to the query they were made for", () => {
      const mine = queryFingerprint(["steps", "w-1"]);
      const token = encodePageToken(mine, { after: 7 });
      assert.deepEqual(decodePageToken(token, mine, isAfterStep), { after: 7 });
      assert.equal(decodePageToken(undefined, mine, isAfterStep), undefined);
      for (const [what, bad, fingerprint] of [
        ["another query's", token, queryFingerprint(["steps", "w-2"])],
        ["a forged position", encodePageToken(mine, { after: { S: "x" } }), mine],
        ["a forged key", Buffer.from('{"pk":"x"}').toString("base64url"), mine],
        ["not base64url", "a b c", mine],
        ["too long", "A".repeat(LIMITS.nextTokenChars + 1), mine],
      ] as const) {
        assert.throws(() => decodePageToken(bad, fingerprint, isAfterStep), /nextToken does not belong to this query/, what);
      }
    });
  });
});
