import { setTimeout as sleep } from "node:timers/promises";
import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from "../../src/local/index.js";
import type { WorkflowDefinition } from "../../src/index.js";

/** The embedded stack with settings that keep tests quick (short timeouts and polls). */
export function startTestRuntime(
  workflows: WorkflowDefinition<any, any>[],
  options: Partial<LocalRuntimeOptions> = {},
): Promise<LocalRuntime> {
  return startLocalRuntime({
    workflows,
    visibilityTimeoutSeconds: 5,
    functionTimeoutMs: 4_000,
    maxReceiveCount: 4,
    maxConcurrency: 4,
    ...options,
  });
}

/** Poll until `check` returns a value other than undefined/false, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(50);
  }
}

/** Counts how often each step body of each workflow ran, and lets tests hold a step open. */
export class StepProbe {
  private readonly runs = new Map<string, number>();
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void; entered: () => void; reached: Promise<void> }>();

  /** Call at the start of a step body. Waits while a gate for this key is closed. */
  async ran(workflowId: string, step: string): Promise<void> {
    const key = `${workflowId}/${step}`;
    this.runs.set(key, (this.runs.get(key) ?? 0) + 1);
    const gate = this.gates.get(key);
    if (gate) {
      gate.entered();
      await gate.promise;
    }
  }

  count(workflowId: string, step: string): number {
    return this.runs.get(`${workflowId}/${step}`) ?? 0;
  }

  /** Close a gate: the step body will wait in `ran` until `open()`; `reached` resolves when it gets there. */
  hold(workflowId: string, step: string): { open: () => void; reached: Promise<void> } {
    let open!: () => void;
    let entered!: () => void;
    const promise = new Promise<void>((r) => (open = r));
    const reached = new Promise<void>((r) => (entered = r));
    const gate = { promise, open, entered, reached };
    this.gates.set(`${workflowId}/${step}`, gate);
    return { open, reached };
  }
}
