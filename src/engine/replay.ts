import { Invocation } from "./Invocation.js";
import type { InvocationArgs, InvocationResult } from "./types.js";

export type * from "./types.js";

/** Run one invocation of a workflow (see Invocation). */
export function runInvocation(args: InvocationArgs): Promise<InvocationResult> {
  return new Invocation(args).run();
}
