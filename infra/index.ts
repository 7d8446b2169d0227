export { CairnWorkflows, READ_OPERATIONS, type CairnAlarms } from "./CairnWorkflows.js";
export type { CairnWorkflowsProps } from "./props.js";
export { CAIRN_DEFAULTS, CAIRN_LIMITS } from "./defaults.js";
export { OPERATION_ACCESS, type OperationAccess } from "./access.js";
