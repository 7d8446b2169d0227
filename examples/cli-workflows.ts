/**
 * Small workflows to try the `cairn` CLI with (and that its tests run):
 *
 *   cairn dev examples/cli-workflows.ts
 *   cairn start greet --input '{"name":"Ada"}'
 *   cairn start countdown --input '{"steps":5,"stepMs":1000}'
 *   cairn start countdown --queue tasks && cairn queue show tasks
 */
import { setTimeout as sleep } from "node:timers/promises";
import { defineQueue, defineWorkflow } from "../src/index.js";

/** A workflow queue: two of its workflows run at once, the others wait in line (`cairn dev` admits into it). */
export const tasks = defineQueue("tasks", { concurrency: 2 });

/** Three quick steps. */
export const greet = defineWorkflow("greet", async (ctx, input: { name: string }) => {
  const greeting = await ctx.step("compose", () => `Hello, ${input.name}!`);
  const loud = await ctx.step("shout", () => greeting.toUpperCase());
  const length = await ctx.step("measure", () => loud.length);
  return { greeting: loud, length };
});

/** `steps` steps of `stepMs` each: long enough to cancel, resume and fork. */
export const countdown = defineWorkflow("countdown", async (ctx, input?: { steps?: number; stepMs?: number }) => {
  const steps = input?.steps ?? 3;
  let done = 0;
  for (let i = steps; i >= 1; i--) {
    done = await ctx.step(`tick-${i}`, async () => {
      await sleep(input?.stepMs ?? 200);
      return done + 1;
    });
  }
  return { ticks: done };
});

/** Fails in its second step. */
export const failing = defineWorkflow("failing", async (ctx, input?: { reason?: string }) => {
  await ctx.step("prepare", () => "ready");
  await ctx.step("explode", () => {
    throw new Error(input?.reason ?? "boom");
  });
  return "unreachable";
});
