import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";

/** Whether something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("the embedded stack's processes", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`leaves no DynamoDB Local behind when its Node process is ended by ${signal}`, async () => {
      // Prepare: a process holding a DynamoDB Local server.
      const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/holdDynamoLocal.ts"], {
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
        stdio: ["ignore", "pipe", "inherit"],
      });
      const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const match = /port (\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        child.once("exit", (code) => reject(new Error(`fixture exited early (${code})`)));
      });
      assert.equal(await listening(port), true);

      // Act
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, sig) => resolve(sig)));
      child.kill(signal);
      const endedBy = await exited;

      // Assess: the process died of the signal, and the Java server with it.
      assert.equal(endedBy, signal);
      let open = true;
      for (let i = 0; i < 50 && open; i++) {
        open = await listening(port);
        if (open) await sleep(100);
      }
      assert.equal(open, false, `DynamoDB Local still listens on ${port}`);
    });
  }
});
