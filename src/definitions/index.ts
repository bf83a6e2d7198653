// The definitions of tasks and flows: what the API routes and the engine call.
export { saveTask, checkTaskConfig } from './saveTask.js';
export { getTask, findLiveTask } from './getTask.js';
export { listTasks, type Page } from './listTasks.js';
export { deleteTask, flowsUsingTask } from './deleteTask.js';
export { saveFlow } from './saveFlow.js';
export { getFlow, findLiveFlow, flowNodes, nodeTasks } from './getFlow.js';
export { listFlows } from './listFlows.js';
export { deleteFlow } from './deleteFlow.js';
export { patchFlow, patchFlowBody, checkPatchFields, PATCHABLE_FLOW_FIELDS } from './patchFlow.js';
export { type TaskRow, type FlowRow, type NodeRow } from './present.js';
export { saveTaskBody, saveFlowBody, pageQuery, flowVersionQuery, MAX_PAGE_SIZE, type CompletionInput } from './schemas.js';
export { taskConfigSchemas, readTaskConfig, runPolicy, backoffMs, type TaskConfig } from './taskConfig.js';
export { redactTaskConfig, restoreMasked, DEFAULT_SECRET_HEADERS, type SecretNames } from './secrets.js';
