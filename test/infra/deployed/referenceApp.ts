import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

/**
 * The reference app as `cdk synth` leaves it in a cloud assembly: the template
 * and, per function, the bundle CloudFormation would deploy and the settings
 * Lambda would run it with. Nothing here imports the infra code: what is read is
 * what would be deployed.
 */

type Json = any;

/** One Lambda function of the template, found through the stack's outputs or its event source. */
export interface DeployedFunction {
  /** "worker", "deadLetterHandler", or the control operation ("start", "status", ...). */
  readonly role: string;
  readonly logicalId: string;
  /** The bundled file Lambda loads (`Handler: index.handler` -> `<asset>/index.mjs`). */
  readonly bundle: string;
  readonly exportName: string;
  readonly timeoutSeconds: number;
  readonly memorySize: number;
  /** `Environment.Variables`, unresolved (`{ Ref }` where the template references a resource). */
  readonly environment: Record<string, unknown>;
  /** Every statement of every IAM policy attached to the function's role. */
  readonly statements: Json[];
  /** The SQS event source mapping that invokes it, if any. */
  readonly eventSource?: { queueLogicalId: string; batchSize: number; maxConcurrency?: number };
}

export interface ReferenceApp {
  readonly outdir: string;
  readonly template: Json;
  readonly functions: Readonly<Record<string, DeployedFunction>>;
  readonly tableLogicalId: string;
  readonly workQueueLogicalId: string;
  readonly deadLetterQueueLogicalId: string;
  /** Resource properties, as in the template. */
  resource(logicalId: string): Json;
}

const STACK = "CairnReferenceStack";

/**
 * Run `cdk synth` as `npm run synth` does (the app command and context of cdk.json,
 * local esbuild, no Docker, offline) into `outdir`, and read what it produced.
 */
export async function synthReferenceApp(root: string, outdir: string): Promise<ReferenceApp> {
  const cdk = path.join(root, "node_modules", ".bin", "cdk");
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cdk, ["synth", "--no-notices", "-q", "--output", outdir, STACK], {
      cwd: root,
      env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    child.stderr.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`cdk synth failed (${signal ?? `exit ${code}`}):\n${output}`)),
    );
  });
  console.log(`cdk synth of the reference app: ${Date.now() - started} ms`);
  return readCloudAssembly(outdir);
}

export function readCloudAssembly(outdir: string): ReferenceApp {
  const template = JSON.parse(readFileSync(path.join(outdir, `${STACK}.template.json`), "utf8")) as Json;
  const resources = template.Resources as Record<string, Json>;
  const outputRef = (name: string): string => {
    const ref = template.Outputs?.[name]?.Value?.Ref;
    if (typeof ref !== "string") throw new Error(`the template has no output ${name} naming a resource`);
    return ref;
  };
  const tableLogicalId = outputRef("TableName");
  const workQueueLogicalId = outputRef("QueueUrl");
  const deadLetterQueueLogicalId = outputRef("DeadLetterQueueUrl");

  const mappings = Object.values(resources).filter((r) => r.Type === "AWS::Lambda::EventSourceMapping");
  const mappingOf = (functionId: string) => mappings.find((m) => m.Properties.FunctionName?.Ref === functionId);
  const mappedFrom = (queueId: string): string => {
    const m = mappings.find((x) => x.Properties.EventSourceArn?.["Fn::GetAtt"]?.[0] === queueId);
    if (!m) throw new Error(`no event source mapping reads ${queueId}`);
    return m.Properties.FunctionName.Ref as string;
  };

  const ids: Record<string, string> = {
    worker: outputRef("WorkerFunctionName"),
    deadLetterHandler: mappedFrom(deadLetterQueueLogicalId),
  };
  for (const name of Object.keys(template.Outputs ?? {})) {
    const match = /^([A-Z][a-z]+)FunctionName$/.exec(name);
    if (match && name !== "WorkerFunctionName") ids[match[1]!.toLowerCase()] = outputRef(name);
  }
  if (ids.worker !== mappedFrom(workQueueLogicalId)) throw new Error("the work queue does not invoke the function named WorkerFunctionName");

  const functions: Record<string, DeployedFunction> = {};
  for (const [role, logicalId] of Object.entries(ids)) {
    const fn = resources[logicalId];
    if (fn?.Type !== "AWS::Lambda::Function") throw new Error(`${logicalId} (${role}) is not a Lambda function`);
    const assetPath = fn.Metadata?.["aws:asset:path"];
    if (typeof assetPath !== "string") throw new Error(`${logicalId} has no asset path: was bundling skipped?`);
    const [moduleName, exportName] = splitHandler(fn.Properties.Handler as string);
    const bundle = [".mjs", ".js", ".cjs"].map((ext) => path.join(outdir, assetPath, moduleName + ext)).find(existsSync);
    if (!bundle) throw new Error(`no ${moduleName}.mjs/.js/.cjs in the asset of ${logicalId} (${assetPath})`);
    const roleId = fn.Properties.Role?.["Fn::GetAtt"]?.[0];
    const statements = Object.values(resources)
      .filter((r) => r.Type === "AWS::IAM::Policy" && r.Properties.Roles.some((ref: Json) => ref.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[]);
    const mapping = mappingOf(logicalId);
    functions[role] = {
      role,
      logicalId,
      bundle,
      exportName,
      timeoutSeconds: fn.Properties.Timeout ?? 3,
      memorySize: fn.Properties.MemorySize ?? 128,
      environment: fn.Properties.Environment?.Variables ?? {},
      statements,
      ...(mapping
        ? {
            eventSource: {
              queueLogicalId: mapping.Properties.EventSourceArn["Fn::GetAtt"][0] as string,
              batchSize: mapping.Properties.BatchSize ?? 10,
              ...(mapping.Properties.ScalingConfig?.MaximumConcurrency !== undefined
                ? { maxConcurrency: mapping.Properties.ScalingConfig.MaximumConcurrency as number }
                : {}),
            },
          }
        : {}),
    };
  }
  return {
    outdir,
    template,
    functions,
    tableLogicalId,
    workQueueLogicalId,
    deadLetterQueueLogicalId,
    resource: (logicalId) => {
      const r = resources[logicalId];
      if (!r) throw new Error(`no resource ${logicalId} in the template`);
      return r.Properties;
    },
  };
}

/** `index.handler` -> ["index", "handler"] (the module path may contain dots and slashes). */
function splitHandler(handler: string): [string, string] {
  const dot = handler.lastIndexOf(".");
  if (dot <= 0) throw new Error(`handler "${handler}" is not <module>.<export>`);
  return [handler.slice(0, dot), handler.slice(dot + 1)];
}

/**
 * The function's environment as Lambda would see it once deployed: every
 * `{ Ref }` replaced by the physical name given for that resource. Anything else
 * the test does not know how to resolve fails loudly rather than being dropped.
 */
export function resolveEnvironment(fn: DeployedFunction, physical: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(fn.environment)) {
    if (typeof value === "string") env[key] = value;
    else if (value && typeof value === "object" && typeof (value as { Ref?: unknown }).Ref === "string" && physical[(value as { Ref: string }).Ref]) {
      env[key] = physical[(value as { Ref: string }).Ref]!;
    } else {
      throw new Error(`${fn.role}: cannot resolve environment variable ${key} = ${JSON.stringify(value)}`);
    }
  }
  return env;
}

/** The bare module specifiers a bundle loads at run time (`from "x"`, `import "x"`, `import("x")`, `require("x")`). */
export function importsOf(bundle: string): string[] {
  const code = readFileSync(bundle, "utf8");
  const found = new Set<string>();
  // What a bare specifier looks like (`node:fs`, `fs`, `@scope/pkg/sub`): minified code has
  // strings such as `from"+x+"` that the pattern below would otherwise pick up.
  const specifier = /^(?:node:[\w/]+|(?:@[a-z0-9][\w.~-]*\/)?[a-z0-9][\w.~-]*(?:\/[\w.~/-]+)?)$/;
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"'./][^"']*)["']/g)) {
    if (specifier.test(m[1]!)) found.add(m[1]!);
  }
  return [...found].sort();
}
