import type { LocalRuntimeOptions } from "../local/startLocalRuntime.js";
import type { FaultInjector } from "./FaultInjector.js";
import { crashingWorker } from "./crashingWorker.js";
import { FaultyQueue } from "./FaultyQueue.js";
import { FaultyStore } from "./FaultyStore.js";

/**
 * The startLocalRuntime options that put the worker under `faults`: its store and
 * queue inject faults, and its handler dies as a whole when a crash is injected.
 * The client keeps the real store and queue.
 */
export function withFaults(
  faults: FaultInjector,
  options: Pick<LocalRuntimeOptions, "wrapStore" | "wrapQueue" | "wrapWorker"> = {},
): Required<Pick<LocalRuntimeOptions, "wrapStore" | "wrapQueue" | "wrapWorker">> {
  return {
    wrapStore: (store) => new FaultyStore(options.wrapStore ? options.wrapStore(store) : store, faults),
    wrapQueue: (queue) => new FaultyQueue(options.wrapQueue ? options.wrapQueue(queue) : queue, faults),
    wrapWorker: (handler) => crashingWorker(options.wrapWorker ? options.wrapWorker(handler) : handler, faults),
  };
}
