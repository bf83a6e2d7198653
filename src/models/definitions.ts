// Objection models of the definitions: tasks, flows and their (versioned) nodes. A saved flow version
// never changes: a new save is a new version with new node rows, so `Flow.nodes` is the current
// version's nodes, joined on (flow_id, flow_version).
import type { RelationMappings } from 'objection';
import { BaseModel } from './base.js';

export type TaskType = 'ECHO' | 'WAIT' | 'EXCEPTION' | 'SHELL' | 'HTTP' | 'WORKER';
/** WORKER tasks are run by external workers (src/engine/external/), never by a member's executors. */
export const TASK_TYPES: readonly TaskType[] = ['ECHO', 'WAIT', 'EXCEPTION', 'SHELL', 'HTTP', 'WORKER'];
export type NodeType = 'START' | 'TASK' | 'END' | 'SIGNAL' | 'SUB_FLOW';

export class Task extends BaseModel {
  static tableName = 'task';
  static idColumn = 'task_id';
  /** task_config is JSON text in a TEXT column. */
  static jsonAttributes = ['task_config'];
  task_id!: number;
  task_name!: string;
  task_description!: string | null;
  task_type!: TaskType;
  task_config!: Record<string, unknown> | null;
  task_content!: string | null;
  deleted_time!: Date | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
}

export class Flow extends BaseModel {
  static tableName = 'task_flow';
  static idColumn = 'flow_id';
  static jsonAttributes: string[] = [];
  flow_id!: number;
  flow_name!: string;
  flow_description!: string | null;
  flow_version!: number;
  cron!: string | null;
  cron_enabled!: boolean | number;
  /** FIRE_ONCE | SKIP; NULL = FIRE_ONCE. */
  cron_misfire!: string | null;
  /** Flow control: an instance RUNNING longer than this is FAILED (null: no timeout). */
  timeout_ms!: number | null;
  /** Flow control: most instances RUNNING at once (null: no limit), and what a start beyond does (null = QUEUE). */
  max_active!: number | null;
  overflow!: string | null;
  deleted_time!: Date | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
  nodes?: FlowNode[];

  static relationMappings = (): RelationMappings => ({
    nodes: {
      relation: BaseModel.HasManyRelation,
      modelClass: FlowNode,
      join: { from: ['task_flow.flow_id', 'task_flow.flow_version'], to: ['task_node.flow_id', 'task_node.flow_version'] },
      modify: (q) => q.orderBy('task_node.seq'),
    },
  });
}

export class FlowNode extends BaseModel {
  static tableName = 'task_node';
  static idColumn = 'node_id';
  static jsonAttributes: string[] = [];
  node_id!: number;
  flow_id!: number;
  flow_version!: number;
  seq!: number;
  node_type!: NodeType;
  task_ids!: string | null;
  prev_node!: number | null;
  /** The node ids it follows, "12,13" (graph flows); NULL: it follows prev_node (chain flows). */
  prev_nodes!: string | null;
  /** Its key as the author named it; NULL: the default `n<seq>`. */
  node_key!: string | null;
  completion!: string | null;
  /** Control-flow settings as JSON text (NodeOptions); NULL: none. */
  node_options!: string | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
}

/** task_node.node_options: `when` (TASK); a SIGNAL's timeout; a SUB_FLOW's flow, version and input. */
export interface NodeOptions {
  when?: string;
  /** A path to an array: the node's tasks run once per item. */
  forEach?: string;
  /** How many items run at once (default: all). */
  maxParallel?: number;
  timeoutMs?: number;
  onTimeout?: 'FAIL' | 'SUCCESS';
  flowId?: number;
  flowVersion?: number;
  input?: Record<string, unknown>;
}

/** node_options as stored → NodeOptions ({} for NULL or text that is not a JSON object). */
export function parseNodeOptions(stored: string | null | undefined): NodeOptions {
  if (!stored) return {};
  try {
    const o = JSON.parse(stored);
    return o && typeof o === 'object' && !Array.isArray(o) ? o : {};
  } catch {
    return {};
  }
}

// How task_node's columns are read, in one place (the engine's plans and the API's answers both use it).

/** A TASK node's completion condition: ANY one task (the original API's), ALL, or at least N. */
export type Completion = { kind: 'ANY' } | { kind: 'ALL' } | { kind: 'N'; n: number };

/** task_ids "1,2" → [1, 2]; also prev_nodes. */
export function parseIdList(text: string | null | undefined): number[] {
  if (!text) return [];
  return text.split(',').map((p) => Number(p.trim())).filter((n) => Number.isSafeInteger(n) && n > 0);
}

/** completion as stored ("ANY" | "ALL" | "3", NULL = ANY) → Completion. */
export function parseCompletion(stored: string | null | undefined): Completion {
  if (!stored || stored === 'ANY') return { kind: 'ANY' };
  if (stored === 'ALL') return { kind: 'ALL' };
  const n = Number(stored);
  return Number.isInteger(n) && n > 0 ? { kind: 'N', n } : { kind: 'ANY' };
}

/** Completion → the wire's "ANY" | "ALL" | N (and what is stored, as text). */
export function completionOnWire(c: Completion): 'ANY' | 'ALL' | number {
  return c.kind === 'N' ? c.n : c.kind;
}

/** A node's key: as named, or `n<seq>` (its position in the flow's node list). */
export const nodeKeyOf = (n: { node_key: string | null; seq: number }): string => n.node_key ?? `n${n.seq}`;

/** The node ids a node follows: prev_nodes on a graph flow, else prev_node (none for START). */
export function predecessorsOf(n: { prev_nodes: string | null; prev_node: number | null }): number[] {
  if (n.prev_nodes !== null && n.prev_nodes !== undefined) return parseIdList(n.prev_nodes);
  return n.prev_node ? [Number(n.prev_node)] : [];
}
