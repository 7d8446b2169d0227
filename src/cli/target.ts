import { WorkflowClient } from "../client/WorkflowClient.js";
import { ENV } from "../config.js";
import { runOperation, type ControlResponse, type OperationName } from "../control/operations.js";
import { findDevFile, readDevFile } from "./devFile.js";
import { cliLogger } from "./debugLogger.js";
import { ConfigurationError } from "../errors.js";
import { CliError, EXIT, UsageError } from "./errors.js";
import { namesFromEnv, namesFromFunctionsOption, namesFromOutputs, namesFromPrefix, type FunctionNames } from "./functionNames.js";
import { LambdaTarget } from "./LambdaTarget.js";

/** Where the CLI sends an operation: the control Lambdas, or the table and queue directly. */
export interface Target {
  /** Shown in error messages, e.g. "table cairn-workflows". */
  readonly description: string;
  /** Where an operation's detail is logged: the function's log (lambda) or, with CAIRN_DEBUG=1, stderr (direct). */
  readonly mode: "lambda" | "direct";
  run(op: OperationName, payload: Record<string, unknown>): Promise<ControlResponse>;
  close(): void;
}

export interface TargetOptions {
  lambda?: boolean;
  stack?: string;
  functions?: string;
  functionPrefix?: string;
  region?: string;
  devFile?: string;
}

/** Direct mode: the shared control operations on a WorkflowClient. */
export class DirectTarget implements Target {
  readonly mode = "direct";
  private readonly logger = cliLogger();

  constructor(
    private readonly client: WorkflowClient,
    readonly description: string,
  ) {}

  run(op: OperationName, payload: Record<string, unknown>): Promise<ControlResponse> {
    return runOperation(this.client, op, payload, { logger: this.logger });
  }

  close(): void {}
}

/**
 * Targets, in this order:
 * 1. Lambda mode when --lambda, --stack ($CAIRN_STACK), --functions or --function-prefix
 *    is given. Function names come from --functions, then the stack's outputs, then
 *    --function-prefix, then $CAIRN_<OP>_FUNCTION.
 * 2. Direct mode on $CAIRN_TABLE_NAME and $CAIRN_QUEUE_URL (AWS_ENDPOINT_URL* apply).
 * 3. Direct mode on the stack of a running `cairn dev` (.cairn/dev.json here or above).
 */
export async function resolveTarget(options: TargetOptions, env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  const stack = options.stack ?? env.CAIRN_STACK;
  if (options.lambda || stack || options.functions || options.functionPrefix) {
    const explicit = options.functions ? namesFromFunctionsOption(options.functions) : {};
    const fallback: FunctionNames = { ...namesFromEnv(env), ...(options.functionPrefix ? namesFromPrefix(options.functionPrefix) : {}) };
    return new LambdaTarget({
      // --functions wins over the stack's outputs; those win over --function-prefix and env.
      names: stack ? explicit : { ...fallback, ...explicit },
      ...(stack
        ? { lookup: { describe: `stack ${stack}`, names: async () => ({ ...fallback, ...(await stackFunctionNames(stack, options.region)), ...explicit }) } }
        : {}),
      ...(options.region ? { region: options.region } : {}),
    });
  }

  const table = env[ENV.tableName];
  const queue = env[ENV.queueUrl];
  if (table || queue) {
    if (!table || !queue) throw new UsageError(`${table ? ENV.queueUrl : ENV.tableName} is not set (${table ? ENV.tableName : ENV.queueUrl} is)`, "NO_TARGET");
    return new DirectTarget(directClient(env), `table ${table}`);
  }

  const devFile = options.devFile ?? findDevFile();
  if (devFile) {
    const dev = await readDevFile(devFile);
    // The SDK clients read endpoints, region and credentials from process.env.
    Object.assign(process.env, dev.env);
    return new DirectTarget(directClient(process.env), `dev stack (${devFile})`);
  }

  throw new UsageError(
    `No target: set ${ENV.tableName} and ${ENV.queueUrl} (with AWS_ENDPOINT_URL for LocalStack), run \`cairn dev <module>\` in this directory, or pass --stack / --functions for the control Lambdas`,
    "NO_TARGET",
  );
}

/** A client on the environment's table, queue and queues; a variable set wrong is bad usage, named by its code. */
function directClient(env: NodeJS.ProcessEnv): WorkflowClient {
  try {
    return WorkflowClient.fromEnv(env);
  } catch (err) {
    if (err instanceof ConfigurationError) throw new CliError(err.code, err.message, EXIT.usage, undefined, { cause: err });
    throw err;
  }
}

/** The function names a deployed stack exports as outputs (StartFunctionName, ...). */
async function stackFunctionNames(stackName: string, region: string | undefined): Promise<FunctionNames> {
  const { CloudFormationClient, DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
  const cfn = new CloudFormationClient(region ? { region } : {});
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new CliError("STACK_NOT_FOUND", `Stack ${stackName} does not exist`);
    const outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? "", o.OutputValue ?? ""]));
    return namesFromOutputs(outputs);
  } catch (err) {
    if (err instanceof CliError) throw err;
    const e = err as Error;
    const code = /does not exist/.test(e.message) ? "STACK_NOT_FOUND" : "STACK_LOOKUP_FAILED";
    throw new CliError(code, `Cannot read the outputs of stack ${stackName}: ${e.name}: ${e.message}`);
  } finally {
    cfn.destroy();
  }
}
