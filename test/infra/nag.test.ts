import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { App, Validations } from "aws-cdk-lib";
import { Annotations, Match } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import { buildApp, type CairnReferenceStack } from "../../infra/app.js";

/**
 * cdk-nag 3 reports through CDK's policy-validation plugins, and findings are
 * acknowledged with `Validations.of(construct).acknowledge({ id, reason })`
 * (v2's NagSuppressions). Bundling is skipped: the checks read the template only.
 */

let outdir: string;
let app: App;
let stack: CairnReferenceStack;

before(() => {
  outdir = mkdtempSync(path.join(tmpdir(), "cairn-nag-"));
  app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
  ({ stack } = buildApp(app, { nag: false }));
});

after(() => rmSync(outdir, { recursive: true, force: true }));

/** Every acknowledgment recorded under `scope`: rule id, reason, construct path. */
function acknowledgments(scope: IConstruct): { id: string; reason: string; path: string }[] {
  return scope.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
        // CDK files rule ids without a known namespace as annotations ("Annotation::AwsSolutions-L1").
        id: id.replace(/^annotation::/i, ""),
        reason,
        path: c.node.path,
      }))),
  );
}

describe("the reference stack under cdk-nag's AwsSolutions checks", () => {
  it("has no finding left, error or warning (the admission schedule's rule and its queue grant included)", () => {
    assert.ok(stack.cairn.admissionRule, "the reference stack schedules admission passes");
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(", ")}`);
    assert.deepEqual(findings, []);
    assert.equal(report.success, true);
  });

  it("acknowledges only AwsSolutions-L1 (the pinned nodejs22.x runtime), on the fifteen functions, each with a reason", () => {
    const acks = acknowledgments(stack);
    assert.deepEqual([...new Set(acks.map((a) => a.id))], ["AwsSolutions-L1"]);
    const functions = [stack.cairn.worker, stack.cairn.deadLetterHandler, stack.cairn.reaper, ...Object.values(stack.cairn.controlFunctions)];
    assert.deepEqual(acks.map((a) => a.path).sort(), functions.map((f) => f.node.path).sort());
    assert.equal(functions.length, 15);
    for (const op of ["send", "event", "queues", "queued"] as const) assert.ok(functions.includes(stack.cairn.controlFunctions[op]), `the ${op} function is checked`);
    for (const a of acks) assert.match(a.reason, /nodejs22\.x.{20,}/, `${a.path} gives a reason`);
  });

  it("synthesizes with the checks installed as a validation plugin, and leaves no CDK warning or error", () => {
    const checked = new App({ outdir: mkdtempSync(path.join(tmpdir(), "cairn-nag-")), context: { "aws:cdk:bundling-stacks": [] } });
    const { stack: checkedStack } = buildApp(checked);
    try {
      assert.doesNotThrow(() => checked.synth());
      const annotations = Annotations.fromStack(checkedStack);
      assert.deepEqual(annotations.findError("*", Match.anyValue()).map((m) => `${m.id}: ${String(m.entry.data)}`), []);
      assert.deepEqual(annotations.findWarning("*", Match.anyValue()).map((m) => `${m.id}: ${String(m.entry.data)}`), []);
    } finally {
      rmSync(checked.outdir, { recursive: true, force: true });
    }
  });
});
