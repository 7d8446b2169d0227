import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "aws-lambda";

const RUNTIME = path.join(path.dirname(fileURLToPath(import.meta.url)), "lambdaRuntime.mjs");

export interface FunctionHostOptions {
  name: string;
  /** The bundled file and its export, as the template's `Handler` names them. */
  bundle: string;
  exportName: string;
  /** The whole environment of the function: nothing of the test process leaks in. */
  environment: Record<string, string>;
  timeoutMs: number;
  memorySize: number;
  /** Instances that may run at once (Lambda scales out one instance per concurrent invocation). @default 1 */
  maxInstances?: number;
}

/** A handler error, as Lambda reports it to the caller (`errorType`, `errorMessage`). */
export class FunctionError extends Error {
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    errorMessage: string,
    readonly remoteStack?: string,
  ) {
    super(`${functionName} failed: ${errorType}: ${errorMessage}`);
    this.name = "FunctionError";
  }
}

/** One finished invocation: what went in, what came out. */
export interface Invocation {
  event: unknown;
  startedAt: number;
  endedAt: number;
  response?: unknown;
  error?: Error;
}

interface Instance {
  child: ChildProcess;
  pending?: { id: number; resolve: (value: unknown) => void; reject: (err: Error) => void };
}

/**
 * One deployed function, run as Lambda runs it: each instance is a plain `node`
 * process that loads the bundle once (a cold start) and then serves one
 * invocation at a time; instances are started on demand up to `maxInstances`.
 * An invocation that outlives the function's timeout is failed and its instance
 * killed, as Lambda does.
 */
export class FunctionHost {
  private readonly idle: Instance[] = [];
  private readonly waiting: ((instance: Instance) => void)[] = [];
  private readonly all = new Set<Instance>();
  private starting = 0;
  private nextId = 1;
  private output = "";
  private stopped = false;
  /** Every finished invocation, in the order they ended. */
  readonly history: Invocation[] = [];
  /** How long each cold start took (the runtime's start and the bundle's import), in ms. */
  readonly initMs: number[] = [];

  constructor(private readonly options: FunctionHostOptions) {}

  get name(): string {
    return this.options.name;
  }

  /** Start one instance ahead of the first invocation (a warm function). */
  async warm(): Promise<void> {
    this.release(await this.spawn());
  }

  /** Invoke as Lambda's Invoke API does (RequestResponse); rejects with a FunctionError when the handler throws. */
  async invoke<T = unknown>(event: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
    const timeoutMs = Math.min(options.timeoutMs ?? this.options.timeoutMs, this.options.timeoutMs);
    const instance = await this.acquire();
    const id = this.nextId++;
    const startedAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const response = await new Promise<T>((resolve, reject) => {
        instance.pending = { id, resolve: resolve as (v: unknown) => void, reject };
        timer = setTimeout(() => {
          // Lambda ends the instance of a timed-out invocation.
          reject(new FunctionError(this.name, "Sandbox.Timedout", `Task timed out after ${timeoutMs} ms`));
          this.discard(instance);
        }, timeoutMs);
        instance.child.send({ type: "invoke", id, event, deadline: Date.now() + timeoutMs });
      });
      this.history.push({ event, startedAt, endedAt: Date.now(), response });
      return response;
    } catch (err) {
      this.history.push({ event, startedAt, endedAt: Date.now(), error: err as Error });
      throw err;
    } finally {
      clearTimeout(timer);
      instance.pending = undefined;
      if (this.all.has(instance)) this.release(instance);
      else this.replace();
    }
  }

  /** An SQS event-source handler for EventSourcePoller: each batch is one invocation of this function. */
  readonly sqsHandler = (event: unknown, context: Context) =>
    this.invoke<{ batchItemFailures: { itemIdentifier: string }[] } | null>(event, { timeoutMs: context.getRemainingTimeInMillis() }).then(
      (response) => response ?? undefined,
    );

  /** What the function's instances wrote to stdout and stderr (their logs), last 200 KB. */
  logs(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.all].map((i) => this.kill(i)));
  }

  private async acquire(): Promise<Instance> {
    if (this.stopped) throw new Error(`${this.name} is stopped`);
    const instance = this.idle.pop();
    if (instance) return instance;
    if (this.all.size + this.starting < (this.options.maxInstances ?? 1)) return this.spawn();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(instance: Instance): void {
    const next = this.waiting.shift();
    if (next) next(instance);
    else this.idle.push(instance);
  }

  /** An instance ended (timed out, crashed): start another if invocations wait for one. */
  private replace(): void {
    if (this.stopped || this.waiting.length === 0 || this.all.size + this.starting >= (this.options.maxInstances ?? 1)) return;
    this.spawn().then(
      (instance) => this.release(instance),
      (err: unknown) => this.output += `\n${this.name}: could not start a replacement instance: ${String(err)}\n`,
    );
  }

  private async spawn(): Promise<Instance> {
    this.starting++;
    const started = Date.now();
    try {
      const child = fork(RUNTIME, [this.options.bundle, this.options.exportName, this.name, String(this.options.memorySize)], {
        // Plain node: none of the test runner's flags (--import tsx, --test), and only the function's environment.
        execArgv: [],
        env: this.options.environment,
        stdio: ["ignore", "pipe", "pipe", "ipc"],
        serialization: "json",
      });
      const collect = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-200_000));
      child.stdout!.on("data", collect);
      child.stderr!.on("data", collect);
      const instance: Instance = { child };
      await new Promise<void>((resolve, reject) => {
        const onExit = (code: number | null, signal: string | null) =>
          reject(new Error(`${this.name}: the runtime exited during init (${signal ?? `exit ${code}`}):\n${this.output.slice(-4000)}`));
        child.once("exit", onExit);
        child.once("message", (message: { type: string; error?: { errorType: string; errorMessage: string; stack?: string } }) => {
          child.off("exit", onExit);
          if (message.type === "ready") resolve();
          else reject(new FunctionError(this.name, message.error?.errorType ?? "InitError", message.error?.errorMessage ?? "init failed", message.error?.stack));
        });
      });
      child.on("message", (message: { type: string; id: number; ok: boolean; value?: unknown; error?: { errorType: string; errorMessage: string; stack?: string } }) => {
        const pending = instance.pending;
        if (message.type !== "result" || !pending || pending.id !== message.id) return;
        if (message.ok) pending.resolve(message.value);
        else pending.reject(new FunctionError(this.name, message.error!.errorType, message.error!.errorMessage, message.error!.stack));
      });
      child.on("exit", (code, signal) => {
        this.all.delete(instance);
        const i = this.idle.indexOf(instance);
        if (i >= 0) this.idle.splice(i, 1);
        instance.pending?.reject(new Error(`${this.name}: the runtime exited mid-invocation (${signal ?? `exit ${code}`}):\n${this.output.slice(-4000)}`));
      });
      this.all.add(instance);
      this.initMs.push(Date.now() - started);
      return instance;
    } finally {
      this.starting--;
    }
  }

  private discard(instance: Instance): void {
    this.all.delete(instance);
    void this.kill(instance);
  }

  private async kill(instance: Instance): Promise<void> {
    const child = instance.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }
}
