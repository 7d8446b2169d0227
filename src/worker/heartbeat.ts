import type { WorkQueue } from "../queue/WorkQueue.js";

/**
 * While a step runs, keep its message invisible so no second worker starts it:
 * every half visibility timeout, push the timeout out again.
 */
export function startHeartbeat(queue: WorkQueue, receiptHandle: string, visibilityTimeoutSeconds: number | undefined): { stop(): void } {
  if (!visibilityTimeoutSeconds || visibilityTimeoutSeconds <= 0) return { stop: () => undefined };
  const timer = setInterval(
    () => {
      queue.extendVisibility(receiptHandle, visibilityTimeoutSeconds).catch((err: unknown) => {
        console.warn(JSON.stringify({ level: "WARN", message: "heartbeat failed", error: String(err) }));
      });
    },
    Math.max(500, (visibilityTimeoutSeconds * 1000) / 2),
  );
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
