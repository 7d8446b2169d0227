import { defineWorkflow } from "../src/index.js";

/** How often each step body really ran, by "workflowId/step": the demo shows that replays skip them. */
export const bodyRuns = new Map<string, number>();

function ran(workflowId: string, step: string): void {
  const key = `${workflowId}/${step}`;
  bodyRuns.set(key, (bodyRuns.get(key) ?? 0) + 1);
}

const work = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A six-step order: every step is a durable checkpoint; the sleep holds no Lambda. */
export const orderFulfilment = defineWorkflow("order-fulfilment", async (ctx, order: { orderId: string; amount: number }) => {
  const id = ctx.workflowId;
  const check = await ctx.step("validate", async () => {
    ran(id, "validate");
    await work(150);
    return { valid: order.amount > 0 };
  });
  if (!check.valid) throw new Error(`Order ${order.orderId} has no amount`);
  const reservation = await ctx.step("reserve-stock", async () => {
    ran(id, "reserve-stock");
    await work(300);
    return { reservationId: `rsv-${order.orderId}` };
  });
  const payment = await ctx.step(
    "charge-card",
    async () => {
      ran(id, "charge-card");
      await work(300);
      // The payment provider fails the first attempt of every order: retries absorb it.
      if ((bodyRunsOf(id, "charge-card") ?? 0) === 1) throw new Error("payment provider timed out");
      return { chargeId: `ch-${order.orderId}`, amount: order.amount };
    },
    { retries: { maxAttempts: 3, intervalMs: 500, backoffRate: 2 } },
  );
  await ctx.sleep(1_000);
  const shipment = await ctx.step("ship", async () => {
    ran(id, "ship");
    await work(300);
    return { trackingNumber: `trk-${order.orderId}`, shippedAt: new Date() };
  });
  await ctx.step("notify-customer", async () => {
    ran(id, "notify-customer");
    await work(100);
  });
  return { orderId: order.orderId, reservation, payment, shipment };
});

function bodyRunsOf(workflowId: string, step: string): number | undefined {
  return bodyRuns.get(`${workflowId}/${step}`);
}

/**
 * A batch of orders: one child workflow per order, then a human approval that
 * arrives as a message (`cairn send` or client.send), then the children's results.
 * Cancelling the batch cancels its children; resuming it brings them back.
 */
export const orderBatch = defineWorkflow("order-batch", async (ctx, orders: { orderId: string; amount: number }[]) => {
  const children = [];
  for (const order of orders) children.push(await ctx.startWorkflow(orderFulfilment, order, { workflowId: `${ctx.workflowId}-${order.orderId}` }));
  await ctx.setEvent("stage", "awaiting approval");
  const approval = await ctx.recv<{ by: string }>({ topic: "approval" });
  await ctx.setEvent("stage", `approved by ${approval?.by}`);
  const shipped: string[] = [];
  for (const child of children) shipped.push((await child.getResult()).shipment.trackingNumber);
  return { approvedBy: approval?.by, shipped };
});
