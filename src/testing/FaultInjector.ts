import { AsyncLocalStorage } from "node:async_hooks";
import { SimulatedCrash, type CrashPoint, type FaultPoint } from "./faults.js";
import { unitHash } from "./random.js";

/** Where the injector is asked whether to inject. */
export interface FaultSite {
  point: FaultPoint;
  /** The store or queue operation (e.g. "recordStep", "send"). */
  operation: string;
  workflowId?: string;
  step?: number;
}

export interface FaultRule {
  point: FaultPoint;
  /** Chance per opportunity, 0..1. @default 1 */
  probability?: number;
  /** Stop after this many injections. @default unlimited */
  times?: number;
  /** Only this workflow (or those the predicate accepts). @default every workflow */
  workflowId?: string | ((workflowId: string) => boolean);
  /** Only this step. @default every step */
  step?: number;
  /** Only these operations (store or queue method names). @default every operation */
  operations?: readonly string[];
}

export interface FaultInjectorOptions {
  /** Decisions depend only on the seed and the site, so a run can be reproduced. @default 1 */
  seed?: number;
  rules?: readonly FaultRule[];
  /** @default true */
  enabled?: boolean;
}

/** One handler invocation under the injector: a crash kills it (and every later call it makes). */
export class Invocation {
  dead = false;
  cause: SimulatedCrash | undefined;
  readonly death: Promise<never>;
  private reject!: (err: SimulatedCrash) => void;

  constructor(readonly id: number) {
    this.death = new Promise<never>((_, reject) => (this.reject = reject));
    this.death.catch(() => undefined);
  }

  kill(cause: SimulatedCrash): void {
    if (this.dead) return;
    this.dead = true;
    this.cause = cause;
    this.reject(cause);
  }
}

/** A record of an injected fault. */
export interface InjectedFault extends FaultSite {
  at: number;
}

/**
 * Decides, deterministically from a seed, where to inject crashes and transient
 * errors. FaultyStore, FaultyQueue and crashingWorker ask it at each fault point;
 * switch it off (`enabled = false` or `disable()`) to let the system heal.
 *
 * A decision depends on (seed, rule, site, how often that site was seen), not
 * on the interleaving of concurrent workers, so a seed replays the same faults.
 */
export class FaultInjector {
  enabled: boolean;
  readonly seed: number;
  readonly log: InjectedFault[] = [];
  private rules: FaultRule[];
  private readonly fired = new Map<number, number>();
  private readonly seen = new Map<string, number>();
  private readonly invocations = new AsyncLocalStorage<Invocation>();
  private nextInvocation = 1;

  constructor(options: FaultInjectorOptions = {}) {
    this.seed = options.seed ?? 1;
    this.rules = [...(options.rules ?? [])];
    this.enabled = options.enabled ?? true;
  }

  addRule(rule: FaultRule): this {
    this.rules.push(rule);
    return this;
  }

  /** Replace every rule (counters of old rules are dropped). */
  setRules(rules: readonly FaultRule[]): this {
    this.rules = [...rules];
    this.fired.clear();
    return this;
  }

  disable(): void {
    this.enabled = false;
  }

  enable(): void {
    this.enabled = true;
  }

  /** Faults injected so far, by point. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of this.log) out[f.point] = (out[f.point] ?? 0) + 1;
    return out;
  }

  /** Faults injected so far at `point`. */
  count(point: string): number {
    return this.log.filter((f) => f.point === point).length;
  }

  get total(): number {
    return this.log.length;
  }

  /** Should a fault be injected at this site? Records it if so. */
  shouldInject(site: FaultSite): boolean {
    if (!this.enabled) return false;
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      if (!matches(rule, site)) continue;
      const fired = this.fired.get(i) ?? 0;
      if (rule.times !== undefined && fired >= rule.times) continue;
      const key = `${i}|${site.point}|${site.operation}|${site.workflowId ?? ""}|${site.step ?? ""}`;
      const n = this.seen.get(key) ?? 0;
      this.seen.set(key, n + 1);
      const p = rule.probability ?? 1;
      if (p >= 1 || unitHash(this.seed, `${key}|${n}`) < p) {
        this.fired.set(i, fired + 1);
        this.log.push({ ...site, at: Date.now() });
        return true;
      }
    }
    return false;
  }

  /** Run `fn` as one invocation: crashes inside it kill the invocation. */
  runInvocation<T>(fn: (invocation: Invocation) => Promise<T>): Promise<T> {
    const invocation = new Invocation(this.nextInvocation++);
    return this.invocations.run(invocation, () => fn(invocation));
  }

  /** The invocation the caller runs in, if any. */
  currentInvocation(): Invocation | undefined {
    return this.invocations.getStore();
  }

  /** Throw if the calling invocation already crashed: a dead process makes no more calls. */
  assertAlive(operation: string): void {
    const inv = this.currentInvocation();
    if (inv?.dead) throw new SimulatedCrash("afterDeath", `invocation ${inv.id} crashed earlier; ${operation} never happens`);
  }

  /** Crash the calling invocation at `site` (the returned error is for the caller to throw). */
  crash(site: FaultSite & { point: CrashPoint }): SimulatedCrash {
    const where = site.workflowId ? ` (workflow ${site.workflowId}${site.step !== undefined ? `, step ${site.step}` : ""})` : "";
    const err = new SimulatedCrash(site.point, `simulated crash at ${site.point} in ${site.operation}${where}`);
    this.currentInvocation()?.kill(err);
    return err;
  }
}

function matches(rule: FaultRule, site: FaultSite): boolean {
  if (rule.point !== site.point) return false;
  if (rule.step !== undefined && rule.step !== site.step) return false;
  if (rule.operations && !rule.operations.includes(site.operation)) return false;
  if (rule.workflowId !== undefined) {
    if (site.workflowId === undefined) return false;
    if (typeof rule.workflowId === "string" ? rule.workflowId !== site.workflowId : !rule.workflowId(site.workflowId)) return false;
  }
  return true;
}
