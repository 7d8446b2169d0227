import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { namesFromEnv, namesFromFunctionsOption, namesFromOutputs, namesFromPrefix } from "../../src/cli/functionNames.js";
import { parseTime } from "../../src/cli/parse.js";
import { formatFields, formatTable } from "../../src/cli/table.js";

describe("CLI formatting and parsing", () => {
  describe("formatTable", () => {
    it("pads columns to their widest cell and cuts long cells with an ellipsis, except in the id column", () => {
      const text = formatTable(["Id", "Value"], [["a", "x".repeat(10)], ["long-id-1", "multi\nline"]], { maxCellWidth: 6 });
      assert.equal(text, ["ID         VALUE", "a          xxxxx…", "long-id-1  multi…"].join("\n"));
    });
  });

  describe("formatFields", () => {
    it("aligns values and leaves out undefined ones", () => {
      assert.equal(formatFields([["Name", "greet"], ["Error", undefined], ["Workflow ID", "w1"]]), "Name:         greet\nWorkflow ID:  w1");
    });
  });

  describe("parseTime", () => {
    it("takes ISO 8601 times and epoch milliseconds, and refuses anything else", () => {
      assert.equal(parseTime("2024-05-01T12:00:00Z"), Date.UTC(2024, 4, 1, 12));
      assert.equal(parseTime("1714564800000"), 1714564800000);
      assert.throws(() => parseTime("yesterday"), /ISO 8601/);
    });
  });

  describe("function names", () => {
    it("reads stack outputs, also as CDK names them inside a construct", () => {
      assert.deepEqual(namesFromOutputs({ StartFunctionName: "fn-start", CairnStatusFunctionNameA1B2C3: "fn-status", TableName: "t" }), {
        start: "fn-start",
        status: "fn-status",
      });
    });

    it("knows the send and event functions by their outputs, environment variables and prefix", () => {
      assert.deepEqual(namesFromOutputs({ SendFunctionName: "fn-send", CairnEventFunctionNameA1B2C3: "fn-event" }), { send: "fn-send", event: "fn-event" });
      assert.deepEqual(namesFromEnv({ CAIRN_SEND_FUNCTION: "fn-send", CAIRN_EVENT_FUNCTION: "fn-event" }), { send: "fn-send", event: "fn-event" });
      assert.equal(namesFromPrefix("cairn-").event, "cairn-event");
    });

    it("reads a `cdk deploy --outputs-file` file", () => {
      const dir = mkdtempSync(path.join(tmpdir(), "cairn-names-"));
      try {
        const file = path.join(dir, "outputs.json");
        writeFileSync(file, JSON.stringify({ CairnStack: { ListFunctionName: "fn-list", QueueUrl: "q" } }));
        assert.deepEqual(namesFromFunctionsOption(file), { list: "fn-list" });
        assert.deepEqual(namesFromFunctionsOption('{"steps":"fn-steps"}'), { steps: "fn-steps" });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
