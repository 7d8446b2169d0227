import { defineQueue, defineWorkflow, type QueueDefinition, type WorkflowDefinition } from "../../src/index.js";

/** How long the sleeper sleeps: long enough that it never wakes during a run. */
export const SLEEP_MS = 3_600_000;
/** A bulky step's output: under the 350 KB value limit, so 19 of them make a 6.5 MB history. */
export const BULKY_OUTPUT_CHARS = 340_000;

interface Gate {
  open(): void;
  opened: boolean;
  promise: Promise<void>;
  reached: Promise<void>;
  enter(): void;
}

/**
 * Counts the starts of every step body of the fuzz workflows (a body that starts
 * twice for one workflow and step is the bug the oracle looks for), and holds a
 * body at a gate so the fuzz can act while a step runs.
 */
export class BodyJournal {
  private readonly starts = new Map<string, number>();
  /** When each body started (epoch ms), to tell which case started it. */
  private readonly times = new Map<string, number[]>();
  /** Duplicates already reported. */
  private readonly reported = new Set<string>();
  /** Bodies that are meant to run again (a failing step re-run by resume). */
  private readonly repeatable = new Set<string>();
  private readonly gates = new Map<string, Gate>();

  async started(workflowId: string, functionId: number, options: { mayRepeat?: boolean } = {}): Promise<void> {
    const key = `${workflowId}#${functionId}`;
    this.starts.set(key, (this.starts.get(key) ?? 0) + 1);
    this.times.set(key, [...(this.times.get(key) ?? []), Date.now()]);
    if (options.mayRepeat) this.repeatable.add(key);
    const gate = this.gates.get(key);
    if (gate && !gate.opened) {
      gate.enter();
      await gate.promise;
    }
  }

  /** Hold the body of `functionId` of `workflowId` at its start until `open()` (or `openAll()`). */
  hold(workflowId: string, functionId: number): { reached: Promise<void>; open: () => void } {
    let open!: () => void;
    let enter!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    const reached = new Promise<void>((resolve) => (enter = resolve));
    const gate: Gate = {
      opened: false,
      promise,
      reached,
      enter,
      open: () => {
        gate.opened = true;
        open();
      },
    };
    this.gates.set(`${workflowId}#${functionId}`, gate);
    return { reached, open: gate.open };
  }

  openAll(): void {
    for (const gate of this.gates.values()) gate.open();
  }

  count(workflowId: string, functionId: number): number {
    return this.starts.get(`${workflowId}#${functionId}`) ?? 0;
  }

  /**
   * Bodies that started more than once although they are not meant to, with their
   * start times; each is returned once (later calls leave out those already returned).
   */
  duplicates(): { workflowId: string; functionId: number; starts: number; times: number[] }[] {
    const out: { workflowId: string; functionId: number; starts: number; times: number[] }[] = [];
    for (const [key, starts] of this.starts) {
      if (starts < 2 || this.repeatable.has(key) || this.reported.has(key)) continue;
      this.reported.add(key);
      const at = key.lastIndexOf("#");
      out.push({ workflowId: key.slice(0, at), functionId: Number(key.slice(at + 1)), starts, times: this.times.get(key) ?? [] });
    }
    return out;
  }
}

/** Names of the fuzz workflows: the control payloads start these (and names that do not exist). */
/** The topics (and event keys) the fuzz's sends and event reads mostly use; snapshots read these mailboxes. */
export const FUZZ_TOPICS = ["decision", "fuzz"] as const;

export const FUZZ_WORKFLOW_NAMES = ["fuzz.steps", "fuzz.fails", "fuzz.sleeper", "fuzz.echo", "fuzz.bulky"] as const;

/** The workflow queues the fuzz's worker admits into: no limits, so whatever is started on them runs at once. */
export const FUZZ_QUEUES: QueueDefinition[] = [defineQueue("fuzz.q"), defineQueue("fuzz.ranked", { priorityEnabled: true, partitioned: true })];
export const FUZZ_QUEUE_NAMES = FUZZ_QUEUES.map((q) => q.name);

/**
 * The workflows the fuzz runs. Their bodies report to the journal; they ignore
 * their input except to echo it (so hostile inputs go through recording and
 * answers), and finish quickly whatever it is, except the sleeper.
 */
export function fuzzWorkflows(journal: BodyJournal): WorkflowDefinition<any, any>[] {
  const steps = defineWorkflow("fuzz.steps", async (ctx, input: unknown) => {
    const echoed = await ctx.step("a", async () => {
      await journal.started(ctx.workflowId, 1);
      return input;
    });
    await ctx.step("b", async () => {
      await journal.started(ctx.workflowId, 2);
      return "b";
    });
    await ctx.step("c", async () => {
      await journal.started(ctx.workflowId, 3);
      return "c";
    });
    await ctx.step("d", async () => {
      await journal.started(ctx.workflowId, 4);
      return "d";
    });
    return echoed;
  });

  const fails = defineWorkflow("fuzz.fails", async (ctx) => {
    await ctx.step("ok", async () => {
      await journal.started(ctx.workflowId, 1);
      return 1;
    });
    // Fails every time: a resume re-runs it, which is allowed.
    return ctx.step("boom", async () => {
      await journal.started(ctx.workflowId, 2, { mayRepeat: true });
      throw new Error("planned failure");
    });
  });

  const sleeper = defineWorkflow("fuzz.sleeper", async (ctx) => {
    await ctx.step("a", async () => {
      await journal.started(ctx.workflowId, 1);
      return "a";
    });
    await ctx.sleep(SLEEP_MS);
    return ctx.step("b", async () => {
      await journal.started(ctx.workflowId, 3);
      return "b";
    });
  });

  const echo = defineWorkflow("fuzz.echo", async (ctx, input: unknown) => {
    await ctx.step("echo", async () => {
      await journal.started(ctx.workflowId, 1);
      return null;
    });
    return input;
  });

  /** `{ steps: n }` (1-19) steps of 340 KB each: histories and answers of several MB. */
  const bulky = defineWorkflow("fuzz.bulky", async (ctx, input: unknown) => {
    const wanted = (input as { steps?: unknown } | null)?.steps;
    const count = typeof wanted === "number" && Number.isInteger(wanted) && wanted >= 1 && wanted <= 19 ? wanted : 1;
    for (let i = 1; i <= count; i++) {
      await ctx.step(`bulk${i}`, async () => {
        await journal.started(ctx.workflowId, i);
        return String(i % 10).repeat(BULKY_OUTPUT_CHARS);
      });
    }
    return count;
  });

  return [steps, fails, sleeper, echo, bulky];
}
