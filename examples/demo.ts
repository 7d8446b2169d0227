// `npm run demo`: the embedded stack (DynamoDB Local + an SQS emulator), one order
// workflow run to the end, one cancelled mid-way and resumed, and one forked from
// step 3 of the first: each printed as the table of its steps. Then a batch with
// one child workflow per order, cancelled and resumed as a tree, and approved by a message.
import { renderList, renderSteps, renderStatus } from "../src/cli/render.js";
import { statusToJson, stepToJson } from "../src/control/operations.js";
import type { WorkflowClient } from "../src/index.js";
import { startLocalRuntime } from "../src/local/index.js";
import { bodyRuns, orderBatch, orderFulfilment } from "./orders.js";

const say = (text: string) => console.log(`\n== ${text}`);

async function showSteps(client: WorkflowClient, workflowId: string): Promise<void> {
  console.log(renderSteps({ steps: (await client.listWorkflowSteps(workflowId)).map(stepToJson) }));
}

function showBodyRuns(workflowId: string): void {
  const runs = [...bodyRuns].filter(([k]) => k.startsWith(`${workflowId}/`)).map(([k, n]) => `${k.slice(workflowId.length + 1)} x${n}`);
  console.log(`step bodies that ran for ${workflowId}: ${runs.length ? runs.join(", ") : "none"}`);
}

async function main(): Promise<void> {
  say("Starting the embedded stack (DynamoDB Local + SQS emulator)...");
  const rt = await startLocalRuntime({ workflows: [orderFulfilment, orderBatch] });
  const { client } = rt;
  try {
    console.log(`table ${rt.tableName} on ${rt.endpoints.dynamodb}, queue ${rt.queueUrl}`);

    say("1. order-A runs to the end (charge-card fails once and is retried)");
    const a = await client.startWorkflow(orderFulfilment, { orderId: "A", amount: 42 }, { workflowId: "order-A" });
    const result = await a.getResult({ timeoutMs: 60_000 });
    console.log("result:", JSON.stringify(result));
    await showSteps(client, "order-A");

    say("2. order-B is cancelled while step 2 (reserve-stock) runs");
    await client.startWorkflow(orderFulfilment, { orderId: "B", amount: 7 }, { workflowId: "order-B" });
    while (!(await client.getWorkflowStatus("order-B")).runningStep?.name.startsWith("reserve")) await new Promise((r) => setTimeout(r, 20));
    const cancelled = await client.cancelWorkflow("order-B", { wait: true });
    console.log(`cancelWorkflow(order-B, { wait: true }) returned: ${cancelled.status}; the running step finished and was recorded:`);
    await showSteps(client, "order-B");
    await new Promise((r) => setTimeout(r, 1_500));
    console.log(`1.5 s later: ${(await client.getWorkflowStatus("order-B")).status}, still ${(await client.listWorkflowSteps("order-B")).length} steps: nothing ran after the cancel`);

    say("3. order-B is resumed: it continues at step 3, steps 1-2 are not run again");
    await client.resumeWorkflow("order-B");
    await client.retrieveWorkflow("order-B").getResult({ timeoutMs: 60_000 });
    await showSteps(client, "order-B");
    showBodyRuns("order-B");

    say("4. order-A is forked from step 3: steps 1-2 reuse A's results, 3 onward run anew");
    const fork = await client.forkWorkflow("order-A", 3, { workflowId: "order-A-fork", applicationVersion: "v2" });
    await fork.getResult({ timeoutMs: 60_000 });
    await showSteps(client, "order-A-fork");
    showBodyRuns("order-A-fork");
    console.log(renderStatus(statusToJson(await client.getWorkflowStatus("order-A-fork"))));

    say("5. batch-1 starts one child workflow per order, and is cancelled while they run: the cancel takes the tree");
    await client.startWorkflow(orderBatch, [{ orderId: "C", amount: 5 }, { orderId: "D", amount: 9 }], { workflowId: "batch-1" });
    while (!(await client.getWorkflowStatus("batch-1-D").catch(() => undefined))?.runningStep) await new Promise((r) => setTimeout(r, 20));
    const tree = await client.cancelWorkflow("batch-1", { wait: true });
    console.log(`cancelWorkflow(batch-1, { wait: true }) returned: ${tree.status}, idle: ${tree.idle}, descendants cancelled: ${tree.cancelledDescendants?.join(", ")}`);
    const showTree = async () => {
      const members = [await client.getWorkflowStatus("batch-1"), ...(await client.listWorkflows({ parentWorkflowId: "batch-1" })).workflows];
      console.log(renderList({ workflows: members.map(statusToJson) }));
    };
    await showTree();

    say("6. batch-1 is resumed (its children with it), and approved by a message sent twice with one idempotency key");
    await client.resumeWorkflow("batch-1");
    console.log(`stage: ${String(await client.getEvent("batch-1", "stage", { timeoutMs: 30_000 }))}`);
    for (let i = 0; i < 2; i++) await client.send("batch-1", { by: "alice" }, { topic: "approval", idempotencyKey: "approve-batch-1" });
    console.log("result:", JSON.stringify(await client.retrieveWorkflow("batch-1").getResult({ timeoutMs: 60_000 })));
    console.log(`stage: ${String(await client.getEvent("batch-1", "stage", { timeoutMs: 0 }))}`);
    await showTree();
    showBodyRuns("batch-1-C");

    say("7. All workflows");
    console.log(renderList({ workflows: (await client.listWorkflows()).workflows.map(statusToJson) }));
  } finally {
    await rt.stop();
  }
  say("Done: the embedded stack is stopped.");
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
