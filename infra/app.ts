#!/usr/bin/env node
// The reference app: `cdk synth` / `cdk deploy` (or `cdklocal deploy` against LocalStack).
import { App, RemovalPolicy, Stack, Validations, type StackProps } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import type { Construct } from "constructs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { queues, workflows } from "../functions/workflows.js";
import { CairnWorkflows } from "./CairnWorkflows.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface CairnReferenceStackProps extends StackProps {
  /** @default functions/worker.ts, with the example workflows */
  readonly workerEntry?: string;
}

/** Cairn with the example workflows of functions/workflows.ts. */
export class CairnReferenceStack extends Stack {
  readonly cairn: CairnWorkflows;

  constructor(scope: Construct, id: string, props: CairnReferenceStackProps = {}) {
    super(scope, id, { description: "Cairn: durable workflows on AWS Lambda (reference app)", ...props });
    this.cairn = new CairnWorkflows(this, "Cairn", {
      workerEntry: props.workerEntry ?? path.join(root, "functions", "worker.ts"),
      // The start function refuses names the example worker does not run, and queues it does not admit into.
      ...(props.workerEntry ? {} : { workflowNames: workflows.map((w) => w.name), queues }),
      depsLockFilePath: path.join(root, "package-lock.json"),
      // A reference deployment to try things out: deleting the stack deletes its data.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledgeNagFindings(this.cairn);
  }
}

/**
 * The cdk-nag (AwsSolutions) findings this stack accepts, each with its reason.
 * Keep this list short: fix a finding rather than acknowledge it.
 */
export function acknowledgeNagFindings(cairn: CairnWorkflows): void {
  const functions = [cairn.worker, cairn.deadLetterHandler, cairn.reaper, ...Object.values(cairn.controlFunctions)];
  for (const fn of functions) {
    // AwsSolutions-L1 wants the newest Node.js runtime (nodejs24.x). Cairn pins
    // nodejs22.x on purpose: its bundles target node22, the runtime's AWS SDK
    // it relies on is tested there, and a runtime upgrade is a deliberate,
    // tested change rather than something a CDK upgrade does behind our back.
    Validations.of(fn).acknowledge({
      id: "AwsSolutions-L1",
      reason: "Cairn pins the nodejs22.x runtime (an LTS runtime AWS supports) so runtime upgrades are deliberate and tested; bundles target node22.",
    });
  }
}

/**
 * Build the reference app (tests call this too). The AwsSolutions checks run
 * at every synth: a finding that is neither fixed nor acknowledged fails it.
 */
export function buildApp(app: App = new App(), options: { nag?: boolean } = {}): { app: App; stack: CairnReferenceStack } {
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new CairnReferenceStack(app, "CairnReferenceStack", {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  return { app, stack };
}

// Synthesize only when run as the app (`npx tsx infra/app.ts`), not when a test imports it.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildApp().app.synth();
}
