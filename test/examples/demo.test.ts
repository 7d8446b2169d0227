import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";

/** Run the quick start's demo as a user does, and read what it prints. */
function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "examples/demo.ts"], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

describe("npm run demo", () => {
  it("runs, cancels, resumes and forks workflows, and cancels and resumes a tree, on the embedded stack and says so", async () => {
    // Act
    const { code, out } = await runDemo();

    // Assess
    assert.equal(code, 0, out);
    assert.match(out, /cancelWorkflow\(order-B, \{ wait: true \}\) returned: CANCELLED/);
    assert.match(out, /1\.5 s later: CANCELLED, still 2 steps: nothing ran after the cancel/);
    assert.match(out, /step bodies that ran for order-B: validate x1, reserve-stock x1, charge-card x2, ship x1, notify-customer x1/);
    assert.match(out, /step bodies that ran for order-A-fork: charge-card x2, ship x1, notify-customer x1/);
    assert.match(out, /SUCCESS \(from order-A\)/);
    assert.match(out, /Forked from:\s+order-A at step 3/);
    assert.match(out, /order-A-fork\s+order-fulfilment\s+SUCCESS/);
    assert.match(out, /cancelWorkflow\(batch-1, \{ wait: true \}\) returned: CANCELLED, idle: true, descendants cancelled: batch-1-C, batch-1-D/);
    assert.match(out, /batch-1-C\s+order-fulfilment\s+CANCELLED/);
    assert.match(out, /result: \{"approvedBy":"alice","shipped":\["trk-C","trk-D"\]\}/);
    assert.match(out, /stage: approved by alice/);
    assert.match(out, /batch-1-D\s+order-fulfilment\s+SUCCESS/);
    assert.match(out, /Done: the embedded stack is stopped/);
  });
});
