import { createRequire } from "node:module";
import { Command, CommanderError, Option } from "commander";
import { GET_EVENT_TIMEOUT_MS } from "../constants.js";
import type { ControlResponse, OperationName } from "../control/operations.js";
import { clipText } from "../limits.js";
import { CliError, debugEnabled, EXIT, UsageError } from "./errors.js";
import { printErr, printOut } from "./output.js";
import { parseJsonArg, parseNonNegativeInt, parsePositiveInt, parseStatus, parseTime } from "./parse.js";
import { renderQueueShow, renderResultOf } from "./render.js";
import { isoTime } from "./table.js";
import { resolveTarget, type Target, type TargetOptions } from "./target.js";

interface CommonOptions extends TargetOptions {
  json?: boolean;
}

/** Waits (result, event) go in slices, since a control function cannot wait for long. */
const WAIT_SLICE_MS = 10_000;

function version(): string {
  const require = createRequire(import.meta.url);
  for (const p of ["../../../package.json", "../../package.json"]) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      // try the next layout (dist/src/cli or src/cli)
    }
  }
  return "0.0.0";
}

/** Options every operation command takes: output format and target. */
function withCommonOptions(cmd: Command): Command {
  return cmd
    .option("--json", "print the operation's result as JSON (for scripts)")
    .option("--lambda", "invoke the control Lambdas (names from --functions, --function-prefix or $CAIRN_<OP>_FUNCTION)")
    .option("--stack <name>", "invoke the control Lambdas named by this CloudFormation stack's outputs (or $CAIRN_STACK)")
    .option("--functions <json|file>", 'function names as JSON ({"start":"fn",...} or {"StartFunctionName":"fn",...}) or a `cdk deploy --outputs-file` file')
    .option("--function-prefix <prefix>", "control functions are named <prefix><operation>, e.g. <prefix>start")
    .option("--region <region>", "AWS region for Lambda mode (default: the SDK's)")
    .addOption(new Option("--dev-file <path>", "the `cairn dev` stack file to use (default: .cairn/dev.json here or above)").hideHelp());
}

/** Where a started, resumed or forked workflow waits: a queue and its place there. */
interface QueueFlags {
  queue?: string;
  priority?: number;
  dedup?: string;
  partition?: string;
}

function withQueueOptions(cmd: Command): Command {
  return cmd
    .option("--queue <name>", "wait in this workflow queue until its limits admit the workflow")
    .option("--priority <n>", "with --queue: its priority there, 1 the highest (queues with priorities)", parsePositiveInt)
    .option("--dedup <id>", "with --queue: a deduplication id; refused (DUPLICATE_WORKFLOW) while a workflow with it waits or runs there")
    .option("--partition <key>", "with --queue: the partition whose limits apply (partitioned queues)");
}

const queuePayload = (o: QueueFlags) => ({ queueName: o.queue, priority: o.priority, deduplicationId: o.dedup, partitionKey: o.partition });

async function withTarget<T>(opts: CommonOptions, fn: (target: Target) => Promise<T>): Promise<T> {
  const target = await resolveTarget(opts);
  try {
    return await fn(target);
  } finally {
    target.close();
  }
}

/** Codes whose cause lies in the target (AWS, configuration) rather than in the command. */
const TARGET_CODES = new Set(["INTERNAL_ERROR", "TABLE_NOT_FOUND", "QUEUE_NOT_FOUND", "THROTTLED", "ACCESS_DENIED", "SERVICE_UNAVAILABLE", "FUNCTION_TIMEOUT"]);

/**
 * The result of a successful answer; a failed one becomes a CliError with the
 * answer's code, message and details (VALIDATION_ERROR exits 2, as bad usage).
 */
function unwrap(response: ControlResponse, target: Target): unknown {
  if (response.ok) return response.result;
  const { code, message, details } = response.error;
  let text = message;
  if (TARGET_CODES.has(code)) {
    const errorId = typeof details?.errorId === "string" ? details.errorId : undefined;
    const where =
      target.mode === "lambda"
        ? errorId
          ? `the function's log has the detail under error id ${errorId}`
          : undefined
        : debugEnabled()
          ? undefined
          : "set CAIRN_DEBUG=1 to see the detail";
    text += ` (target: ${target.description}${where ? `; ${where}` : ""})`;
  }
  throw new CliError(code, text, code === "VALIDATION_ERROR" ? EXIT.usage : EXIT.operation, details);
}

async function show(op: OperationName, opts: CommonOptions, result: unknown): Promise<void> {
  await printOut(opts.json ? JSON.stringify(result, null, 2) : renderResultOf(op, result as Record<string, unknown>));
}

/** An operation's payload without the options that were not given, so the operation sees them absent. */
function given(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/** Run one operation against the resolved target and print its result. */
async function operation(op: OperationName, opts: CommonOptions, payload: Record<string, unknown>): Promise<void> {
  const result = await withTarget(opts, async (target) => unwrap(await target.run(op, payload), target));
  await show(op, opts, result);
}

/** `steps`: every page (a page stops before Lambda's answer limit). */
async function allSteps(target: Target, workflowId: string): Promise<ControlResponse> {
  const steps: unknown[] = [];
  let nextToken: string | undefined;
  do {
    const response = await target.run("steps", { workflowId, ...(nextToken ? { nextToken } : {}) });
    if (!response.ok) return response;
    const page = response.result as { steps?: unknown[]; nextToken?: string };
    steps.push(...(page.steps ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return { ok: true, result: { steps } };
}

/**
 * Run a waiting operation for up to `timeoutMs` (forever when undefined), one
 * slice per call, until an answer is not `unfinished` (the end of a slice).
 */
async function waitInSlices(
  target: Target,
  op: OperationName,
  payload: Record<string, unknown>,
  timeoutMs: number | undefined,
  unfinished: (response: ControlResponse) => boolean,
): Promise<ControlResponse> {
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  for (;;) {
    const slice = Math.max(0, Math.min(deadline - Date.now(), WAIT_SLICE_MS));
    const response = await target.run(op, { ...payload, timeoutMs: slice });
    if (!unfinished(response) || Date.now() >= deadline) return response;
  }
}

/** `result`: wait up to `timeoutMs` (forever when undefined). */
async function waitForResult(target: Target, workflowId: string, timeoutMs: number | undefined): Promise<ControlResponse> {
  const response = await waitInSlices(target, "result", { workflowId }, timeoutMs, (r) => !r.ok && r.error.code === "RESULT_TIMEOUT");
  if (response.ok || response.error.code !== "RESULT_TIMEOUT") return response;
  // The last slice's timeout is not the one the user asked for.
  const status = response.error.details?.status;
  return {
    ok: false,
    error: {
      ...response.error,
      message: `Workflow "${workflowId}" did not finish within ${timeoutMs} ms${typeof status === "string" ? ` (status ${status})` : ""}`,
      details: { ...response.error.details, timeoutMs },
    },
  };
}

export function buildProgram(): Command {
  const program = new Command("cairn")
    .description("Start, inspect and steer Cairn workflows; `cairn dev` runs them locally")
    .version(version())
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    // commander echoes a bad argument in full: keep its messages to a readable size.
    .configureOutput({ outputError: (text, write) => write(clipText(text, 500)) });
  program.configureHelp({ sortSubcommands: false });
  program.addHelpText(
    "after",
    `
Targets (in this order):
  --stack <name>, --functions <json|file>, --function-prefix <p>, --lambda
      invoke the control Lambdas (--lambda: names from $CAIRN_<OP>_FUNCTION)
  $CAIRN_TABLE_NAME + $CAIRN_QUEUE_URL
      use the table and queue directly (AWS_ENDPOINT_URL* apply, e.g. LocalStack;
      $CAIRN_QUEUES, the queues' definitions as JSON, for their options and limits)
  .cairn/dev.json (here or in a parent directory)
      the stack of a running \`cairn dev\`

Exit codes: 0 ok, 1 the operation failed (its error code is printed), 2 bad usage
(VALIDATION_ERROR included). CAIRN_DEBUG=1 prints an error's details and stack.`,
  );

  withQueueOptions(
    withCommonOptions(program.command("start").description("start a workflow").argument("<workflowName>", "the registered workflow's name"))
      .option("--input <json>", "the workflow's input as JSON", parseJsonArg)
      .option("--id <workflowId>", "workflow id (idempotency key; default: a random UUID)")
      .option("--app-version <version>", "application version to record"),
  ).action(async (workflowName: string, opts: CommonOptions & QueueFlags & { input?: unknown; id?: string; appVersion?: string }) => {
    await operation("start", opts, given({ workflowName, input: opts.input, workflowId: opts.id, applicationVersion: opts.appVersion, ...queuePayload(opts) }));
  });

  withCommonOptions(program.command("status").description("show a workflow's status").argument("<workflowId>")).action(
    async (workflowId: string, opts: CommonOptions) => operation("status", opts, { workflowId }),
  );

  withCommonOptions(program.command("result").description("wait for a workflow to finish and print its output").argument("<workflowId>"))
    .option("--timeout <ms>", "give up after this many milliseconds (default: wait until it finishes)", parseNonNegativeInt)
    .action(async (workflowId: string, opts: CommonOptions & { timeout?: number }) => {
      const result = await withTarget(opts, async (target) => unwrap(await waitForResult(target, workflowId, opts.timeout), target));
      await show("result", opts, result);
    });

  withCommonOptions(program.command("list").description("list workflows, oldest first"))
    .option("--name <workflowName>", "only workflows with this name")
    .option("--status <status>", "only workflows with this status", parseStatus)
    .option("--since <time>", "created at or after (ISO 8601 or epoch ms)", parseTime)
    .option("--until <time>", "created at or before (ISO 8601 or epoch ms)", parseTime)
    .option("--limit <n>", "at most this many", parsePositiveInt)
    .option("--next-token <token>", "continue a previous listing")
    .option("--desc", "newest first")
    .option("--parent <workflowId>", "only the child workflows this workflow started")
    .action(
      async (
        opts: CommonOptions & { name?: string; status?: string; since?: number; until?: number; limit?: number; nextToken?: string; desc?: boolean; parent?: string },
      ) => {
        if (opts.since !== undefined && opts.until !== undefined && opts.since > opts.until) {
          throw new UsageError(`--since (${isoTime(opts.since)}) is after --until (${isoTime(opts.until)})`);
        }
        await operation(
          "list",
          opts,
          given({
            name: opts.name,
            status: opts.status,
            startTime: opts.since,
            endTime: opts.until,
            limit: opts.limit,
            nextToken: opts.nextToken,
            sortDesc: opts.desc ? true : undefined,
            parentWorkflowId: opts.parent,
          }),
        );
      },
    );

  withCommonOptions(program.command("steps").description("list a workflow's steps").argument("<workflowId>")).action(
    async (workflowId: string, opts: CommonOptions) => {
      const result = await withTarget(opts, async (target) => unwrap(await allSteps(target, workflowId), target));
      await show("steps", opts, result);
    },
  );

  withCommonOptions(program.command("cancel").description("cancel a workflow (a running step finishes; nothing after it runs)").argument("<workflowId>"))
    .option("--wait", "return only once no step of it is running")
    .option("--timeout <ms>", "with --wait: give up after this many milliseconds", parseNonNegativeInt)
    .action(async (workflowId: string, opts: CommonOptions & { wait?: boolean; timeout?: number }) => {
      await operation("cancel", opts, given({ workflowId, wait: opts.wait ? true : undefined, timeoutMs: opts.timeout }));
    });

  withQueueOptions(
    withCommonOptions(
      program
        .command("resume")
        .description("restart a cancelled or failed workflow after its last recorded step (a queued one: at once, or through --queue)")
        .argument("<workflowId>"),
    ),
  ).action(async (workflowId: string, opts: CommonOptions & QueueFlags) => operation("resume", opts, given({ workflowId, ...queuePayload(opts) })));

  withQueueOptions(
    withCommonOptions(program.command("fork").description("start a copy of a workflow that reuses its steps before --step").argument("<workflowId>"))
      .requiredOption("--step <n>", "the step the new workflow starts at (1 = from the beginning)", parsePositiveInt)
      .option("--id <newWorkflowId>", "the new workflow's id (default: a random UUID)")
      .option("--app-version <version>", "application version of the new workflow"),
  ).action(async (workflowId: string, opts: CommonOptions & QueueFlags & { step: number; id?: string; appVersion?: string }) => {
    await operation("fork", opts, given({ workflowId, startStep: opts.step, newWorkflowId: opts.id, applicationVersion: opts.appVersion, ...queuePayload(opts) }));
  });

  withCommonOptions(program.command("send").description("send a message to a workflow (it receives it with ctx.recv)").argument("<workflowId>"))
    .requiredOption("--message <json>", "the message as JSON", parseJsonArg)
    .option("--topic <topic>", "the topic to send it on (default: the default topic)")
    .option("--idempotency-key <key>", "deliver the message once, however often it is sent with this key")
    .action(async (workflowId: string, opts: CommonOptions & { message: unknown; topic?: string; idempotencyKey?: string }) => {
      await operation("send", opts, given({ workflowId, message: opts.message, topic: opts.topic, idempotencyKey: opts.idempotencyKey }));
    });

  withCommonOptions(
    program.command("event").description("print the latest value of a workflow's event (ctx.setEvent)").argument("<workflowId>").argument("<key>"),
  )
    .option("--timeout <ms>", "wait this long for the event to be set", parseNonNegativeInt, GET_EVENT_TIMEOUT_MS)
    .action(async (workflowId: string, key: string, opts: CommonOptions & { timeout: number }) => {
      const unset = (r: ControlResponse) => r.ok && (r.result as { set?: unknown }).set === false;
      const result = await withTarget(opts, async (target) => unwrap(await waitInSlices(target, "event", { workflowId, key }, opts.timeout, unset), target));
      await show("event", opts, result);
    });

  const queue = program.command("queue").description("show workflow queues: their limits and use, and the workflows waiting and running on them");
  withCommonOptions(queue.command("list").description("list queues (each partition of a partitioned one) with their use").argument("[queueName]", "only this queue")).action(
    async (queueName: string | undefined, opts: CommonOptions) => operation("queues", opts, given({ queueName })),
  );
  withCommonOptions(
    queue
      .command("show")
      .description("show a queue's use, then its workflows: those waiting, in admission order, then those running")
      .argument("<queueName>"),
  )
    .option("--status <status>", "only the waiting (ENQUEUED) or the running (PENDING) workflows", parseStatus)
    .option("--limit <n>", "at most this many workflows", parsePositiveInt)
    .option("--next-token <token>", "continue a previous listing")
    .action(async (queueName: string, opts: CommonOptions & { status?: string; limit?: number; nextToken?: string }) => {
      const result = await withTarget(opts, async (target) => {
        const { queues } = unwrap(await target.run("queues", { queueName }), target) as { queues: unknown[] };
        const page = unwrap(await target.run("queued", given({ queueName, status: opts.status, limit: opts.limit, nextToken: opts.nextToken })), target) as {
          workflows: Record<string, unknown>[];
        };
        // A first page holds the head of each line: number the waiting workflows of each partition.
        return { queues, ...page, workflows: opts.nextToken === undefined ? withPositions(page.workflows) : page.workflows };
      });
      await printOut(opts.json ? JSON.stringify(result, null, 2) : renderQueueShow(result));
    });

  program
    .command("dev")
    .description("run the workflows a module exports on an embedded local stack (DynamoDB Local + SQS emulator)")
    .argument("<workflowModule>", "a .ts or .js module exporting workflow definitions")
    .option("--dev-file <path>", "where to write the stack's settings for other commands", ".cairn/dev.json")
    .option("--poll <ms>", "how often to check workflows for progress", parsePositiveInt, 500)
    .option("--json", "print the settings and progress as JSON lines")
    .action(async (workflowModule: string, opts: { devFile: string; poll: number; json?: boolean }) => {
      const { runDev } = await import("./dev.js");
      await runDev({ modulePath: workflowModule, devFile: opts.devFile, pollMs: opts.poll, json: opts.json ?? false });
    });

  return program;
}

/**
 * The place of each waiting (ENQUEUED) workflow in its line, given workflows in
 * admission order from the head of every line (a listing's first page): how many
 * of its partition wait before it, as `queuePosition`.
 */
function withPositions(workflows: Record<string, unknown>[]): Record<string, unknown>[] {
  const ahead = new Map<unknown, number>();
  return workflows.map((w) => {
    if (w.status !== "ENQUEUED" || w.queuePosition !== undefined) return w;
    const position = ahead.get(w.partitionKey) ?? 0;
    ahead.set(w.partitionKey, position + 1);
    return { ...w, queuePosition: position };
  });
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage; // commander printed the message
    if (err instanceof CliError) {
      await printErr(`cairn: ${err.code}: ${err.message}`);
      if (debugEnabled()) {
        if (err.details) await printErr(`details: ${JSON.stringify(err.details)}`);
        if (err.cause instanceof Error) await printErr(`caused by: ${String(err.cause.stack ?? err.cause)}`);
      }
      return err.exitCode;
    }
    const e = err as Error;
    await printErr(`cairn: INTERNAL_ERROR: ${e?.name ?? "Error"}: ${clipText(String(e?.message ?? err))}`);
    if (debugEnabled()) await printErr(String(e?.stack));
    return EXIT.operation;
  }
}
