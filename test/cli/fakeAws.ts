import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { WorkflowClient } from "../../src/index.js";
import { createControlHandler, type ControlHandler } from "../../src/control/createControlHandler.js";
import type { OperationName } from "../../src/control/operations.js";
import { lambdaContext } from "../../src/local/lambdaContext.js";

/**
 * Local endpoints for the two AWS APIs the CLI's Lambda mode calls: Invoke runs
 * the real control function handler (createControlHandler, with a Lambda Context)
 * that a function name stands for, on a real WorkflowClient against the
 * emulators; DescribeStacks answers one stack's outputs.
 */
export interface FakeAws {
  endpoint: string;
  invocations: string[];
  stop(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export async function startFakeAws(options: {
  client: WorkflowClient;
  /** function name -> operation */
  functions: Record<string, OperationName>;
  stacks: Record<string, Record<string, string>>;
}): Promise<FakeAws> {
  const invocations: string[] = [];
  const handlers: Record<string, ControlHandler> = {};
  const server: Server = createServer((req, res) => {
    void (async () => {
      const text = await body(req);
      const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? "");
      if (req.method === "POST" && invoke) {
        const name = decodeURIComponent(invoke[1]!);
        invocations.push(name);
        const op = options.functions[name];
        if (!op) {
          res.writeHead(404, { "content-type": "application/json", "x-amzn-errortype": "ResourceNotFoundException" });
          res.end(JSON.stringify({ Type: "User", message: `Function not found: ${name}` }));
          return;
        }
        const handler = (handlers[name] ??= createControlHandler(op, { client: options.client }));
        const answer = await handler(JSON.parse(text || "null"), lambdaContext(name, 30_000));
        res.writeHead(200, { "content-type": "application/json", "x-amz-executed-version": "$LATEST" });
        res.end(JSON.stringify(answer));
        return;
      }
      const form = new URLSearchParams(text);
      if (req.method === "POST" && form.get("Action") === "DescribeStacks") {
        const stackName = form.get("StackName") ?? "";
        const outputs = options.stacks[stackName];
        if (!outputs) {
          res.writeHead(400, { "content-type": "text/xml" });
          res.end(
            `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${xmlEscape(stackName)} does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
          );
          return;
        }
        const members = Object.entries(outputs)
          .map(([k, v]) => `<member><OutputKey>${xmlEscape(k)}</OutputKey><OutputValue>${xmlEscape(v)}</OutputValue></member>`)
          .join("");
        res.writeHead(200, { "content-type": "text/xml" });
        res.end(
          `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>` +
            `<StackName>${xmlEscape(stackName)}</StackName><StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/${xmlEscape(stackName)}/1</StackId>` +
            `<CreationTime>2024-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs>` +
            `</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeStacksResponse>`,
        );
        return;
      }
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: `fake AWS cannot answer ${req.method} ${req.url}` }));
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    invocations,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
