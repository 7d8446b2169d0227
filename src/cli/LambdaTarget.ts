import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { ControlResponse, OperationName } from "../control/operations.js";
import { clipText } from "../limits.js";
import { CliError, EXIT, UsageError } from "./errors.js";
import { functionEnvVar, outputKey, type FunctionNames } from "./functionNames.js";
import type { Target } from "./target.js";

export interface LambdaTargetOptions {
  /** Function names known up front (--functions, --function-prefix, env). */
  names: FunctionNames;
  /** Looked up on first use when `names` lacks an operation (a CloudFormation stack). */
  lookup?: { describe: string; names: () => Promise<FunctionNames> };
  region?: string;
  client?: LambdaClient;
}

/** Runs operations by invoking the control Lambdas and reading their envelope. */
export class LambdaTarget implements Target {
  readonly description: string;
  readonly mode = "lambda";
  private readonly client: LambdaClient;
  private looked: Promise<FunctionNames> | undefined;

  constructor(private readonly options: LambdaTargetOptions) {
    this.client = options.client ?? new LambdaClient(options.region ? { region: options.region } : {});
    this.description = options.lookup ? `control Lambdas of ${options.lookup.describe}` : "control Lambdas";
  }

  private async functionName(op: OperationName): Promise<string> {
    const known = this.options.names[op];
    if (known) return known;
    if (this.options.lookup) {
      this.looked ??= this.options.lookup.names();
      const found = (await this.looked)[op];
      if (found) return found;
      throw new UsageError(`${this.options.lookup.describe} has no output ${outputKey(op)} naming the ${op} function`, "NO_FUNCTION");
    }
    throw new UsageError(
      `No function for the ${op} operation: pass --stack, --functions or --function-prefix, or set ${functionEnvVar(op)}`,
      "NO_FUNCTION",
    );
  }

  async run(op: OperationName, payload: Record<string, unknown>): Promise<ControlResponse> {
    const functionName = await this.functionName(op);
    let out;
    try {
      out = await this.client.send(new InvokeCommand({ FunctionName: functionName, Payload: new TextEncoder().encode(JSON.stringify(payload)) }));
    } catch (err) {
      const e = err as Error;
      throw new CliError("LAMBDA_INVOKE_FAILED", `Invoking function ${functionName} (${op}) failed: ${e.name}: ${clipText(e.message)}`, EXIT.operation, undefined, {
        cause: err,
      });
    }
    const text = out.Payload ? new TextDecoder().decode(out.Payload) : "";
    if (out.FunctionError) {
      let detail = text;
      try {
        const e = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        detail = `${e.errorType ?? out.FunctionError}: ${e.errorMessage ?? text}`;
      } catch {
        // keep the raw text
      }
      throw new CliError("LAMBDA_FUNCTION_ERROR", `Function ${functionName} (${op}) failed: ${clipText(detail)}`);
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(text);
    } catch {
      envelope = undefined;
    }
    if (!isEnvelope(envelope)) {
      throw new CliError("BAD_RESPONSE", `Function ${functionName} (${op}) did not answer a Cairn envelope: ${text.slice(0, 200) || "(empty)"}`);
    }
    return envelope;
  }

  close(): void {
    this.client.destroy();
  }
}

function isEnvelope(v: unknown): v is ControlResponse {
  if (v === null || typeof v !== "object") return false;
  const o = v as Record<string, unknown>;
  if (o.ok === true) return "result" in o;
  if (o.ok !== false || o.error === null || typeof o.error !== "object") return false;
  const e = o.error as Record<string, unknown>;
  return typeof e.code === "string" && typeof e.message === "string";
}
