// A stand-in for one instance of Lambda's Node.js runtime, run with plain `node`
// (no tsx, no loader): it imports one bundled handler from a cloud assembly, as
// Lambda does with `Handler: <module>.<export>`, then runs the invocations its
// parent sends over IPC, one at a time as a Lambda instance does, each with a
// Context whose deadline the parent sets. Results and errors go back as JSON,
// as Lambda serializes them.
//
//   node lambdaRuntime.mjs <bundle file> <export name> <function name> <memory MB>
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";

const [file, exportName, functionName, memory] = process.argv.slice(2);

function describe(err) {
  if (err instanceof Error) return { errorType: err.name, errorMessage: err.message, stack: err.stack };
  return { errorType: typeof err, errorMessage: String(err) };
}

function context(deadline, requestId) {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:000000000000:function:${functionName}`,
    memoryLimitInMB: memory,
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

let handler;
try {
  const mod = await import(pathToFileURL(file).href);
  handler = mod[exportName];
  if (typeof handler !== "function") throw new TypeError(`${file} has no exported function "${exportName}"`);
} catch (err) {
  // Lambda reports this as Runtime.ImportModuleError / an init failure.
  process.send({ type: "initError", error: describe(err) }, () => process.exit(1));
}

if (handler) {
  process.on("message", async (message) => {
    if (message?.type !== "invoke") return;
    const requestId = randomUUID();
    let reply;
    try {
      const value = await handler(message.event, context(message.deadline, requestId));
      reply = { type: "result", id: message.id, ok: true, value: value === undefined ? null : value };
    } catch (err) {
      reply = { type: "result", id: message.id, ok: false, error: describe(err) };
    }
    process.send(reply);
  });
  // The parent's IPC channel keeps this process alive; it ends when the parent disconnects.
  process.on("disconnect", () => process.exit(0));
  process.send({ type: "ready" });
}
