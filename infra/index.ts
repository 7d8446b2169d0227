export { CairnWorkflows, READ_OPERATIONS, type CairnAlarms } from "./CairnWorkflows.js";
export type { CairnWorkflowsProps } from "./props.js";
export { CAIRN_DEFAULTS, CAIRN_LIMITS } from "./defaults.js";
export { EVENT_SOURCE_ACTIONS, FUNCTION_ACCESS, type CairnFunction, type FunctionAccess, type QueueAction, type TableAction } from "./access.js";
