import http from "node:http";
import type { AddressInfo } from "node:net";

type Json = any;

/** One AWS API request a function made. */
export interface RecordedCall {
  service: "dynamodb" | "sqs";
  /** The API operation (`Query`, `TransactWriteItems`, `SendMessageBatch`, ...). */
  operation: string;
  request: Json;
}

/** What IAM checks for one call: an action on a resource. */
export interface Permission {
  action: string;
  resource: { kind: "table"; table: string } | { kind: "index"; table: string; index: string } | { kind: "queue"; queueUrl: string };
}

/**
 * A recording proxy in front of the emulators, one per function: the function's
 * AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS point here, every request
 * is noted (operation and body) and passed on unchanged to DynamoDB Local or
 * the SQS emulator. Both speak AWS JSON 1.0, which names the operation in the
 * `X-Amz-Target` header.
 */
export class ApiRecorder {
  readonly calls: RecordedCall[] = [];

  private constructor(
    readonly name: string,
    private readonly server: http.Server,
  ) {}

  static async start(name: string, targets: { dynamodb: string; sqs: string }): Promise<ApiRecorder> {
    const upstream = { dynamodb: new URL(targets.dynamodb), sqs: new URL(targets.sqs) };
    let recorder: ApiRecorder;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const target = String(req.headers["x-amz-target"] ?? "");
        const [prefix, operation] = target.split(".");
        const service = prefix === "DynamoDB_20120810" ? "dynamodb" : prefix === "AmazonSQS" ? "sqs" : undefined;
        if (!service || !operation) {
          res.writeHead(400, { "content-type": "text/plain" }).end(`recording proxy: unknown X-Amz-Target "${target}"`);
          return;
        }
        let request: Json;
        try {
          request = JSON.parse(body.toString("utf8") || "{}");
        } catch {
          request = {};
        }
        recorder.calls.push({ service, operation, request });
        const to = upstream[service];
        const forward = http.request(
          { hostname: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on("error", (err) => {
          if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
          res.end(`recording proxy: ${String(err)}`);
        });
        forward.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    recorder = new ApiRecorder(name, server);
    return recorder;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Every permission the recorded calls needed, each once. */
  permissions(): Permission[] {
    const seen = new Map<string, Permission>();
    for (const call of this.calls) for (const p of permissionsOf(call)) seen.set(JSON.stringify(p), p);
    return [...seen.values()];
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The IAM action(s) and resource(s) a call is authorized against (Service
 * Authorization Reference): DynamoDB authorizes each item of a transaction as
 * PutItem/UpdateItem/DeleteItem/ConditionCheckItem/GetItem, a query of an index
 * on the index's ARN; SQS authorizes its batch calls as the single-message action.
 */
export function permissionsOf(call: RecordedCall): Permission[] {
  const r = call.request;
  if (call.service === "sqs") {
    const action = `sqs:${call.operation.replace(/Batch$/, "")}`;
    return [{ action, resource: { kind: "queue", queueUrl: String(r.QueueUrl) } }];
  }
  const table = (name: unknown, index?: unknown): Permission["resource"] =>
    index ? { kind: "index", table: String(name), index: String(index) } : { kind: "table", table: String(name) };
  switch (call.operation) {
    case "TransactWriteItems":
      return (r.TransactItems as Json[]).map((item) => {
        const [kind, body] = Object.entries(item)[0] as [string, Json];
        const action = { Put: "PutItem", Update: "UpdateItem", Delete: "DeleteItem", ConditionCheck: "ConditionCheckItem" }[kind];
        return { action: `dynamodb:${action ?? kind}`, resource: table(body.TableName) };
      });
    case "TransactGetItems":
      return (r.TransactItems as Json[]).map((item) => ({ action: "dynamodb:GetItem", resource: table(item.Get.TableName) }));
    case "BatchGetItem":
    case "BatchWriteItem":
      return Object.keys(r.RequestItems).map((name) => ({ action: `dynamodb:${call.operation}`, resource: table(name) }));
    default:
      return [{ action: `dynamodb:${call.operation}`, resource: table(r.TableName, r.IndexName) }];
  }
}

/** A template `Resource` entry as a comparable string: `<logicalId>` for `Fn::GetAtt [id, Arn]`, with any suffix joined on. */
export function resourceKey(resource: Json): string {
  if (typeof resource === "string") return resource;
  if (resource?.["Fn::GetAtt"]?.[1] === "Arn") return String(resource["Fn::GetAtt"][0]);
  if (resource?.["Fn::Join"]) return (resource["Fn::Join"][1] as Json[]).map(resourceKey).join(resource["Fn::Join"][0]);
  return JSON.stringify(resource);
}

const glob = (pattern: string) => new RegExp(`^${pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i");

/** Whether the statements allow `action` on the resource keyed `key` (no Deny or conditions are used by Cairn; both are refused). */
export function allows(statements: Json[], action: string, key: string): boolean {
  return statements.some((s) => {
    if (s.Effect !== "Allow" || s.Condition || s.NotAction || s.NotResource) return false;
    const actions: string[] = [s.Action].flat();
    const resources: string[] = [s.Resource].flat().map(resourceKey);
    return actions.some((a) => glob(a).test(action)) && resources.some((r) => glob(r).test(key));
  });
}
