import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { WorkflowClient } from "../client/WorkflowClient.js";
import type { StepInfo, WorkflowStatusInfo } from "../client/status.js";
import { FINISHED_STATUSES } from "../constants.js";
import { ENV } from "../config.js";
import { encodeQueues } from "../queues/queuesEnv.js";
import { statusToJson, stepToJson } from "../control/operations.js";
import { startLocalRuntime, type LocalRuntime } from "../local/startLocalRuntime.js";
import { removeDevFile, writeDevFile } from "./devFile.js";
import { CliError } from "./errors.js";
import { loadWorkflows } from "./loadWorkflows.js";
import { printErr, printOut } from "./output.js";
import { compactJson, isoTime } from "./table.js";

export interface DevOptions {
  modulePath: string;
  devFile: string;
  pollMs: number;
  json: boolean;
}

/**
 * `cairn dev`: the embedded stack running the module's workflows, its settings
 * printed and written for other terminals, progress shown until SIGINT/SIGTERM.
 */
export async function runDev(options: DevOptions): Promise<void> {
  const { workflows, queues } = await loadWorkflows(options.modulePath);
  let rt: LocalRuntime;
  try {
    rt = await startLocalRuntime({ workflows, queues });
  } catch (err) {
    throw new CliError("DEV_STACK_FAILED", `Cannot start the embedded stack: ${(err as Error).message}`);
  }
  const devFile = path.resolve(options.devFile);
  const names = workflows.map((w) => w.name);
  const queueNames = queues.map((q) => q.name);
  // Other commands' clients know the queues too (their limits, and which names exist).
  const env = { ...rt.env, ...(queues.length > 0 ? { [ENV.queues]: encodeQueues(queues) } : {}) };
  try {
    await writeDevFile(devFile, { pid: process.pid, startedAt: new Date().toISOString(), workflows: names, queues: queueNames, env });
  } catch (err) {
    await rt.stop();
    throw new CliError("DEV_FILE_FAILED", `Cannot write ${devFile}: ${(err as Error).message}`);
  }

  if (options.json) {
    await printOut(JSON.stringify({ event: "ready", workflows: names, queues: queueNames, devFile, env }));
  } else {
    await printOut(
      [
        `Cairn dev stack running workflows: ${names.join(", ")}`,
        ...(queueNames.length > 0 ? [`Admitting into queues: ${queueNames.join(", ")}`] : []),
        "",
        "Environment for other terminals (cairn commands in this directory pick it up from",
        `${path.relative(process.cwd(), devFile) || devFile} automatically):`,
        ...Object.entries(env).map(([k, v]) => `  export ${k}=${shellQuote(v)}`),
        "",
        "Watching workflows; press Ctrl+C to stop.",
      ].join("\n"),
    );
  }

  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second signal: leave now (the exit hook still kills DynamoDB Local).
        process.exit(130);
      }
      stopping = true;
      void printErr(`Received ${signal}, stopping the dev stack...`);
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });

  const watcher = new ProgressWatcher(rt.client, options.json);
  const watching = (async () => {
    while (!stopping) {
      await watcher.poll();
      await Promise.race([sleep(options.pollMs), stopped]);
    }
  })();

  await stopped;
  await watching;
  await rt.stop();
  await removeDevFile(devFile, process.pid);
  await printErr("Dev stack stopped.");
}

function shellQuote(v: string): string {
  return /^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** Prints a line per workflow status change and per newly recorded step. */
class ProgressWatcher {
  private readonly workflows = new Map<string, { status: string; updatedAt: number }>();
  private readonly stepsShown = new Set<string>();
  private failing = false;

  constructor(
    private readonly client: WorkflowClient,
    private readonly json: boolean,
  ) {}

  async poll(): Promise<void> {
    try {
      for await (const wf of this.client.iterateWorkflows()) {
        const seen = this.workflows.get(wf.workflowId);
        if (seen && seen.updatedAt === wf.updatedAt && seen.status === wf.status && FINISHED_STATUSES.includes(wf.status)) continue;
        for (const step of await this.client.listWorkflowSteps(wf.workflowId)) await this.showStep(wf, step);
        if (!seen || seen.status !== wf.status) await this.showStatus(wf);
        this.workflows.set(wf.workflowId, { status: wf.status, updatedAt: wf.updatedAt });
      }
      this.failing = false;
    } catch (err) {
      if (!this.failing) await printErr(`Cannot read workflow progress: ${(err as Error).message}`);
      this.failing = true;
    }
  }

  private async showStatus(wf: WorkflowStatusInfo): Promise<void> {
    if (this.json) return printOut(JSON.stringify({ event: "status", workflow: statusToJson(wf) }));
    let detail = "";
    if (wf.error) detail = `  ${wf.error.name}: ${wf.error.message}`;
    else if (wf.status === "SUCCESS" && wf.output !== undefined) detail = `  output ${clip(compactJson(statusToJson(wf).output))}`;
    else if (wf.forkedFrom && wf.status === "ENQUEUED") detail = `  (forked from ${wf.forkedFrom.workflowId} at step ${wf.forkedFrom.startStep})`;
    await printOut(`${isoTime(wf.updatedAt)}  ${wf.workflowId}  ${wf.name}  ${wf.status}${detail}`);
  }

  private async showStep(wf: WorkflowStatusInfo, step: StepInfo): Promise<void> {
    // Each (step, status, attempt) once: a running step, then its outcome; a re-run after resume shows again.
    const key = `${wf.workflowId}\u0000${step.functionId}\u0000${step.status}\u0000${step.attempts}\u0000${step.startedAt}`;
    if (this.stepsShown.has(key)) return;
    this.stepsShown.add(key);
    if (this.json) return printOut(JSON.stringify({ event: "step", workflowId: wf.workflowId, step: stepToJson(step) }));
    const what = step.status === "PENDING" ? "running" : step.status;
    const attempt = step.attempts > 1 || step.status === "PENDING" ? ` (attempt ${step.attempts})` : "";
    const detail = step.error ? `  ${step.error.name}: ${step.error.message}` : step.copiedFrom ? `  (copied from ${step.copiedFrom})` : "";
    const time = isoTime(step.completedAt ?? step.startedAt);
    await printOut(`${time}  ${wf.workflowId}  step ${step.functionId} ${step.name} [${step.kind}]  ${what}${attempt}${detail}`);
  }
}

function clip(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
