export { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from "./startLocalRuntime.js";
export { startDynamoLocal, freePort, type DynamoLocal, type DynamoLocalOptions } from "./dynamoLocal.js";
export { EventSourcePoller, type EventSourcePollerOptions, type SqsHandler } from "./EventSourcePoller.js";
