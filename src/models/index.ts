// The six tables as Objection models. None is bound to a pool: every query is given the member's knex
// (src/infra/db.ts) or a transaction (see base.ts).
export { BaseModel, VersionedModel } from './base.js';
export { Task, Flow, FlowNode, TASK_TYPES, parseIdList, parseCompletion, completionOnWire, nodeKeyOf, predecessorsOf, parseNodeOptions, type NodeOptions, type TaskType, type NodeType, type Completion } from './definitions.js';
export { FlowIns, NodeIns, TaskIns, type FlowInsStatus, type NodeInsStatus, type TaskInsStatus, type RunEnd } from './instances.js';
