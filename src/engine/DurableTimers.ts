/**
 * The sleeps a workflow has started and whose timers have not fired yet.
 *
 * Durable timers are concurrent: a sleep suspends the workflow only when the
 * code awaits it before it is due. For every run to take the same path, a timer
 * must fire at the same place in the workflow's history on every run. That place
 * is derived from recorded times only: a timer fires just before the first
 * operation, after the sleep, whose recorded `startedAt` (the moment its
 * invocation decided to run it) is at or past the timer's `wakeAt`. Timers due
 * together fire in (wakeAt, functionId) order, each followed by the workflow
 * code running until it blocks again.
 */
export interface DurableTimer {
  functionId: number;
  wakeAt: number;
  fire(): void;
}

const fireOrder = (a: DurableTimer, b: DurableTimer): number => a.wakeAt - b.wakeAt || a.functionId - b.functionId;

export class DurableTimers {
  /** Kept in fire order. */
  private readonly pending: DurableTimer[] = [];

  start(timer: DurableTimer): void {
    this.pending.push(timer);
    this.pending.sort(fireOrder);
  }

  /** Removes and returns the timers due at `at`, in the order they fire. */
  takeDue(at: number): DurableTimer[] {
    const count = this.pending.findIndex((t) => t.wakeAt > at);
    return this.pending.splice(0, count === -1 ? this.pending.length : count);
  }

  /** Removes and returns the timer that fires first, if any is pending. */
  takeNext(): DurableTimer | undefined {
    return this.pending.shift();
  }

  /** When the earliest pending timer fires, if any is pending. */
  nextWake(): number | undefined {
    return this.pending[0]?.wakeAt;
  }
}
