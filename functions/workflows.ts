import { defineQueue, defineWorkflow, type QueueDefinition, type WorkflowDefinition } from "../src/index.js";

/**
 * Example workflows the reference app deploys. Step bodies stand in for calls
 * to real services; the workflow functions themselves only decide what runs
 * next, so they stay deterministic between steps.
 */

export interface OrderInput {
  orderId: string;
  items: { sku: string; quantity: number; unitPrice: number }[];
  /** How long to hold the reservation before charging, in ms. @default 1000 */
  holdMs?: number;
}

export interface OrderOutput {
  orderId: string;
  reservationId: string;
  chargeId: string;
  amount: number;
  trackingNumber: string;
}

/** reserve → (durable sleep) → charge (retried) → ship. */
export const orderWorkflow = defineWorkflow<OrderInput, OrderOutput>("order", async (ctx, input) => {
  const reservation = await ctx.step("reserve", () => ({
    reservationId: `res-${input.orderId}`,
    amount: input.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0),
  }));
  // No Lambda waits here: the next step arrives as a delayed SQS message.
  await ctx.sleep(input.holdMs ?? 1_000);
  const charge = await ctx.step(
    "charge",
    () => ({ chargeId: `ch-${reservation.reservationId}`, amount: reservation.amount }),
    { retries: { maxAttempts: 5, intervalMs: 1_000, backoffRate: 2 } },
  );
  const shipment = await ctx.step("ship", () => ({ trackingNumber: `trk-${input.orderId}` }));
  return { orderId: input.orderId, reservationId: reservation.reservationId, ...charge, ...shipment };
});

export interface FlakyInput {
  /** How long the simulated dependency stays down after the workflow starts, in ms. */
  outageMs: number;
}

/**
 * Calls a dependency that is down for `outageMs`: the step fails and is retried
 * with backoff (each retry is a delayed message, never a sleeping Lambda) until
 * the outage ends. An outage longer than the retries end the workflow in ERROR;
 * `resume` then re-runs the failed step.
 */
export const flakyWorkflow = defineWorkflow<FlakyInput, { recoveredAfterMs: number }>(
  "flaky",
  async (ctx, input) => {
    // Recorded once, so every replay sees the same start time.
    const startedAt = await ctx.step("note-start", () => Date.now());
    return ctx.step("call-dependency", () => {
      const elapsed = Date.now() - startedAt;
      if (elapsed < input.outageMs) throw new Error(`dependency unavailable (${input.outageMs - elapsed} ms of outage left)`);
      return { recoveredAfterMs: elapsed };
    });
  },
  { defaultRetries: { maxAttempts: 4, intervalMs: 500, backoffRate: 2 } },
);

/** The smallest workflow: one step, handy to check a deployment. */
export const greetWorkflow = defineWorkflow<{ name: string }, string>("greet", async (ctx, input) =>
  ctx.step("greet", () => `Hello, ${input.name}!`),
);

export interface OrderBatchInput {
  orders: OrderInput[];
}

/**
 * Runs each order as a child workflow and sums what they charged. `cairn list
 * --parent <id>` lists the children; cancelling the batch cancels them, resuming
 * it resumes them; a child that fails or is cancelled fails the batch.
 */
export const orderBatchWorkflow = defineWorkflow<OrderBatchInput, { orders: number; amount: number }>("orderBatch", async (ctx, input) => {
  const children = [];
  for (const order of input.orders) children.push(await ctx.startWorkflow(orderWorkflow, order));
  let amount = 0;
  // Durable waits: no Lambda waits for a child.
  for (const child of children) amount += (await child.getResult()).amount;
  return { orders: children.length, amount };
});

export interface ApprovalInput {
  /** How long to wait for the decision, in ms. @default one day */
  timeoutMs?: number;
}

export interface ApprovalOutput {
  state: "approved" | "rejected" | "timed out";
  decidedBy?: string;
}

/**
 * Waits durably (no Lambda waits) for a decision sent from outside, on topic
 * "decision": `client.send(id, { approved: true, by: "ada" }, { topic: "decision" })`
 * or `cairn send`. It tells where it is in the event "state":
 * `client.getEvent(id, "state")` or `cairn event <id> state`.
 */
export const approvalWorkflow = defineWorkflow<ApprovalInput | undefined, ApprovalOutput>("approval", async (ctx, input) => {
  await ctx.setEvent("state", "waiting");
  const decision = await ctx.recv<{ approved?: boolean; by?: string }>({ topic: "decision", timeoutMs: input?.timeoutMs ?? 86_400_000 });
  const state = decision === undefined ? "timed out" : decision.approved === true ? "approved" : "rejected";
  await ctx.setEvent("state", state);
  return { state, ...(typeof decision?.by === "string" ? { decidedBy: decision.by } : {}) };
});

export const workflows: WorkflowDefinition<any, any>[] = [orderWorkflow, flakyWorkflow, greetWorkflow, orderBatchWorkflow, approvalWorkflow];

/**
 * A workflow queue for work that calls a partner's rate-limited API: at most 5
 * of its workflows run at once and at most 100 start a minute, however many are
 * started on it (`client.startWorkflow(order, input, { queueName: "partner-api" })`
 * or `cairn start order --queue partner-api`); the rest wait, ENQUEUED, in line.
 */
export const partnerApiQueue = defineQueue("partner-api", { concurrency: 5, rateLimit: { limit: 100, periodMs: 60_000 } });

export const queues: QueueDefinition[] = [partnerApiQueue];
