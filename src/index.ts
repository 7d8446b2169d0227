export { defineWorkflow, WorkflowRegistry, type WorkflowDefinition, type WorkflowOptions, type StepOptions, type RetryPolicy } from "./workflow.js";
export { WorkflowContext, type ChildWorkflowHandle, type StartChildOptions } from "./engine/WorkflowContext.js";
export {
  WorkflowClient,
  type WorkflowHandle,
  type StartWorkflowOptions,
  type ForkWorkflowOptions,
  type CancelWorkflowOptions,
  type CancelWorkflowResult,
  type GetResultOptions,
  type ListWorkflowsInput,
  type ListWorkflowsOutput,
  type SendOptions,
  type GetEventOptions,
  type ResumeWorkflowOptions,
  type ListQueuedWorkflowsInput,
  type QueueSummary,
} from "./client/WorkflowClient.js";
export type { EnqueueOptions } from "./client/queueOptions.js";
export { defineQueue, MAX_PRIORITY, type QueueDefinition, type QueueOptions } from "./queues/defineQueue.js";
export type { WorkflowStatusInfo, StepInfo } from "./client/status.js";
export { createWorker, type WorkerOptions, type WorkerHandler } from "./worker/createWorker.js";
export { createDeadLetterHandler, type DeadLetterHandlerOptions } from "./worker/createDeadLetterHandler.js";
export { createControlHandler, type ControlHandler, type ControlHandlerOptions } from "./control/createControlHandler.js";
export type { ProcessOutcome } from "./worker/processMessage.js";
export { DynamoWorkflowStore, type DynamoWorkflowStoreOptions } from "./store/DynamoWorkflowStore.js";
export type { WorkflowStore, ListWorkflowsQuery, Page } from "./store/WorkflowStore.js";
export { tableDefinition, TTL_ATTRIBUTE } from "./store/tableSchema.js";
export { SqsWorkQueue, type SqsWorkQueueOptions } from "./queue/SqsWorkQueue.js";
export type { WorkQueue } from "./queue/WorkQueue.js";
export { WorkflowStatus, StepStatus } from "./constants.js";
export { ENV } from "./config.js";
export { createLogger, type Logger } from "./logger.js";
export * from "./errors.js";
export type { RecordedError } from "./serialization.js";
export { registerErrorClass, MAX_ERROR_BYTES, MAX_VALUE_DEPTH, type ErrorClass } from "./serialization.js";
export { LIMITS } from "./limits.js";
