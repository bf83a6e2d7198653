// POST /flow: creates a flow (version 1), or saves a new version of the live flow named by `flowId`:
// flow_version + 1 and a fresh set of task_node rows, inserted as one graph. Old node rows are never
// touched: the instances that ran on them keep pointing at them.
//
// The whole save is one transaction, so bad input (e.g. a task that does not exist) leaves nothing
// behind. Concurrent saves of one flow are serialised by locking its row (SELECT … FOR UPDATE)
// before version + 1 is computed: each gets its own whole version.
//
// flowName and flowNodes are required on every save. flowDescription, cron, cronEnabled and
// cronMisfire left out of the body keep their stored values on a new version (so re-posting the original API's
// body does not turn a schedule off); sent as null they are cleared (cronMisfire null = FIRE_ONCE).
//
// Which node follows which (flowGraph.ts) is stored on each node: `prev_node`, its first predecessor
// (the original API's column), and on a graph flow `prev_nodes`, all of them. The ids are filled in by the
// graph insert itself (Objection's #id / #ref), in an order where every node comes after those it follows.
import type { Knex } from 'knex';
import type { PartialModelObject } from 'objection';
import { InvalidInputError, NotFoundError } from '../errors.js';
import { Flow, FlowNode, Task, type NodeOptions } from '../models/index.js';
import { getFlow } from './getFlow.js';
import { flowGraph } from './flowGraph.js';
import type { SaveFlowInput } from './schemas.js';

type NodeInput = SaveFlowInput['flowNodes'][number];

/**
 * 400 naming the node unless every task the nodes name exists and is live. The rows are share-locked
 * until commit, so a concurrent DELETE /task (which locks the row for update) either waits for this
 * save and then sees the new version using the task, or wins and makes this check fail.
 */
async function checkTasks(trx: Knex.Transaction, nodes: NodeInput[]): Promise<void> {
  const ids = [...new Set(nodes.flatMap((n) => n.taskIds ?? []))];
  // SELECT task_id FROM task WHERE task_id IN (…) AND deleted_time IS NULL LOCK IN SHARE MODE
  const rows = await Task.query(trx).select('task_id').whereIn('task_id', ids).whereNull('deleted_time').forShare();
  const live = new Set(rows.map((r) => Number(r.task_id)));
  nodes.forEach((n, i) => {
    for (const id of n.taskIds ?? []) {
      if (!live.has(id)) throw new InvalidInputError(`flowNodes[${i}].taskIds: task ${id} does not exist`);
    }
  });
}

/**
 * 400 naming the node unless every flow a SUB_FLOW node names is live (and has the version it pins).
 * Checked again when the node starts its child: a flow deleted since fails that node then.
 */
async function checkSubFlows(trx: Knex.Transaction, nodes: NodeInput[]): Promise<void> {
  const ids = [...new Set(nodes.flatMap((n) => (n.nodeType === 'SUB_FLOW' && n.flowId != null ? [n.flowId] : [])))];
  if (!ids.length) return;
  const rows = await Flow.query(trx).select('flow_id', 'flow_version').whereIn('flow_id', ids).whereNull('deleted_time').forShare();
  const version = new Map(rows.map((r) => [Number(r.flow_id), r.flow_version]));
  nodes.forEach((n, i) => {
    if (n.nodeType !== 'SUB_FLOW' || n.flowId == null) return;
    const v = version.get(n.flowId);
    if (v === undefined) throw new InvalidInputError(`flowNodes[${i}].flowId: flow ${n.flowId} does not exist`);
    if (n.flowVersion != null && n.flowVersion > v) throw new InvalidInputError(`flowNodes[${i}].flowVersion: flow ${n.flowId} has no version ${n.flowVersion} (its current version is ${v})`);
  });
}

/** A node's control-flow settings as stored (task_node.node_options), or null when it has none. */
function nodeOptions(n: NodeInput): string | null {
  const o: NodeOptions = {};
  if (n.when != null) o.when = n.when;
  if (n.nodeType === 'TASK' && n.forEach != null) {
    o.forEach = n.forEach;
    if (n.maxParallel != null) o.maxParallel = n.maxParallel;
  }
  if (n.nodeType === 'SIGNAL') {
    if (n.timeoutMs != null) o.timeoutMs = n.timeoutMs;
    if (n.onTimeout != null) o.onTimeout = n.onTimeout;
  }
  if (n.nodeType === 'SUB_FLOW') {
    o.flowId = n.flowId!;
    if (n.flowVersion != null) o.flowVersion = n.flowVersion;
    if (n.input != null) o.input = n.input;
  }
  return Object.keys(o).length ? JSON.stringify(o) : null;
}

/** The node rows of one version, as one graph to insert: each refers to the nodes it follows. */
function nodeGraph(flowId: number | null, version: number, nodes: NodeInput[], user: string, now: Date): PartialModelObject<FlowNode>[] {
  const shape = flowGraph(nodes);
  if (!shape.ok) throw new InvalidInputError(`flowNodes[${shape.issues[0].index}].${shape.issues[0].field}: ${shape.issues[0].message}`);
  const { graph, preds } = shape.value;
  const ref = (i: number) => `#ref{node${i}.node_id}`;
  return nodes.map((n, seq) => {
    const isTask = n.nodeType === 'TASK';
    return {
      '#id': `node${seq}`,
      ...(flowId !== null ? { flow_id: flowId, flow_version: version } : {}),
      seq,
      node_type: n.nodeType,
      task_ids: isTask ? n.taskIds!.join(',') : null,
      prev_node: preds[seq].length ? ref(preds[seq][0]) : null,
      prev_nodes: graph ? preds[seq].map(ref).join(',') : null,
      node_key: n.nodeKey ?? null,
      // A forEach node's runs must all succeed unless it says otherwise.
      completion: isTask ? String(n.completion ?? (n.forEach != null ? 'ALL' : 'ANY')) : null,
      node_options: nodeOptions(n),
      create_time: now,
      create_user: user,
      update_time: now,
      update_user: user,
    } as PartialModelObject<FlowNode>;
  });
}

/** cronEnabled needs a cron expression to run on: checked on the values the flow will have. */
function checkCron(cron: string | null, cronEnabled: boolean): void {
  if (cronEnabled && !cron) throw new InvalidInputError('cronEnabled: is true but the flow has no cron expression; send cron, or cronEnabled false');
}

export async function saveFlow(knex: Knex, input: SaveFlowInput, user: string): Promise<Record<string, unknown>> {
  return knex.transaction(async (trx) => {
    const now = new Date();
    let flowId: number;
    if (input.flowId != null) {
      // SELECT flow_version, cron, cron_enabled FROM task_flow WHERE flow_id = ? AND deleted_time IS NULL FOR UPDATE
      const stored = await Flow.query(trx).select('flow_version', 'cron', 'cron_enabled').findById(input.flowId).whereNull('deleted_time').forUpdate();
      if (!stored) throw new NotFoundError(`flow ${input.flowId} does not exist; omit flowId to create a new flow`);
      flowId = input.flowId;
      const cron = input.cron !== undefined ? input.cron : stored.cron;
      const cronEnabled = input.cronEnabled !== undefined ? Boolean(input.cronEnabled) : Boolean(stored.cron_enabled);
      checkCron(cron, cronEnabled);
      await checkTasks(trx, input.flowNodes);
      await checkSubFlows(trx, input.flowNodes);
      const version = stored.flow_version + 1;
      const changes: PartialModelObject<Flow> = { flow_name: input.flowName, flow_version: version, cron, cron_enabled: cronEnabled, update_time: now, update_user: user };
      if (input.flowDescription !== undefined) changes.flow_description = input.flowDescription;
      if (input.cronMisfire !== undefined) changes.cron_misfire = input.cronMisfire;
      if (input.timeoutMs !== undefined) changes.timeout_ms = input.timeoutMs;
      if (input.maxActiveInstances !== undefined) changes.max_active = input.maxActiveInstances;
      if (input.overflow !== undefined) changes.overflow = input.overflow;
      // UPDATE task_flow SET flow_version = ?, … WHERE flow_id = ?; then the new version's nodes, one graph
      await Flow.query(trx).findById(flowId).patch(changes);
      await FlowNode.query(trx).insertGraph(nodeGraph(flowId, version, input.flowNodes, user, now), { allowRefs: true });
    } else {
      const cron = input.cron ?? null;
      const cronEnabled = Boolean(input.cronEnabled);
      checkCron(cron, cronEnabled);
      await checkTasks(trx, input.flowNodes);
      await checkSubFlows(trx, input.flowNodes);
      // The flow (version 1) with its nodes, one graph: INSERT INTO task_flow …, then INSERT INTO task_node … per node
      const flow = await Flow.query(trx).insertGraph(
        {
          flow_name: input.flowName,
          flow_description: input.flowDescription ?? null,
          flow_version: 1,
          cron,
          cron_enabled: cronEnabled,
          cron_misfire: input.cronMisfire ?? null,
          timeout_ms: input.timeoutMs ?? null,
          max_active: input.maxActiveInstances ?? null,
          overflow: input.overflow ?? null,
          create_time: now,
          create_user: user,
          update_time: now,
          update_user: user,
          nodes: nodeGraph(null, 1, input.flowNodes, user, now),
        } as PartialModelObject<Flow>,
        { allowRefs: true },
      );
      flowId = flow.flow_id;
    }
    return getFlow(trx, flowId);
  });
}
