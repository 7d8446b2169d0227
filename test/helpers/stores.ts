import type { WorkflowStore } from "../../src/store/WorkflowStore.js";

/**
 * A store that answers with `overrides` where given and with `inner` elsewhere:
 * fault injection and spying on the real DynamoDB store, without mocks of AWS.
 * Overrides receive the inner store to delegate to.
 */
export function interceptStore(
  inner: WorkflowStore,
  overrides: { [K in keyof WorkflowStore]?: (inner: WorkflowStore, ...args: Parameters<WorkflowStore[K]>) => ReturnType<WorkflowStore[K]> },
): WorkflowStore {
  return new Proxy(inner, {
    get(target, key, receiver) {
      const override = overrides[key as keyof WorkflowStore] as ((inner: WorkflowStore, ...args: unknown[]) => unknown) | undefined;
      if (override) return (...args: unknown[]) => override(target, ...args);
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
