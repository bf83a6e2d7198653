// Read-side queries behind the monitor API, through the models' relations (a flow instance → its node
// instances → their task instances), shaped as the original API's rows (camelCase, its key order, times
// as `YYYY-MM-DD HH:mm:ss`, our additions after its keys). A detail page is a few queries, never one per
// node.
import type { AnyQueryBuilder } from 'objection';
import type { Knex } from '../infra/db.js';
import { formatTime } from '../infra/time.js';
import { FlowIns, NodeIns, nodeKeyOf, TaskIns } from '../models/index.js';
import { FlowPlans } from './flowPlan.js';
import { flowResultOf, type Preview } from './outputs.js';
import { sendTogether } from './sql/multiStatement.js';
import { DEFAULT_SECRET_HEADERS, redactTaskConfig, type SecretNames } from '../definitions/secrets.js';

export interface FlowInsFilter {
  flowId?: number;
  fiId?: number;
  status?: string;
  /** Start time bounds (inclusive), for the dashboard's instance list. */
  from?: Date;
  to?: Date;
  page: number;
  pageSize: number;
}

type Wire = Record<string, unknown>;

/**
 * Outputs (and filled-in contents) in list and detail answers are previews of at most this many
 * characters, cut by MySQL (the whole text never leaves it), marked `outputTruncated`; GET
 * /monitor/task/{tiId} answers the whole output.
 */
export const OUTPUT_PREVIEW_CHARS = 64 * 1024;
/** All the previews of one detail answer together: a flow instance of many task instances gets shorter ones. */
export const DETAIL_PREVIEW_CHARS = 8 * 1024 * 1024;
const MIN_PREVIEW_CHARS = 1024;

type Previewed = TaskIns & { output_cut?: number | string | null; content_cut?: number | string | null };

/** The task instance columns the monitor answers, with output and rendered_content cut to `chars`. */
function previewColumns(q: AnyQueryBuilder, knex: Knex, chars: number): void {
  q.select(
    'ti_id', 'ni_id', 'fi_id', 'task_id', 'exec_status', 'attempt', 'priority', 'start_time', 'end_time', 'error_msg', 'worker_id', 'rendered_config',
    knex.raw('LEFT(output, ?) AS output', [chars]),
    knex.raw('CHAR_LENGTH(output) > ? AS output_cut', [chars]),
    knex.raw('LEFT(rendered_content, ?) AS rendered_content', [chars]),
    knex.raw('CHAR_LENGTH(rendered_content) > ? AS content_cut', [chars]),
  ).orderBy('ti_id');
}
const cut = (v: unknown): boolean => Number(v) === 1;

/** The preview length for a flow instance's outputs: OUTPUT_PREVIEW_CHARS, less when it has many task instances. */
async function previewChars(knex: Knex, fiId: number): Promise<number> {
  const [{ n }] = (await TaskIns.query(knex).where('fi_id', fiId).count('* as n')) as unknown as [{ n: number }];
  return Math.max(MIN_PREVIEW_CHARS, Math.min(OUTPUT_PREVIEW_CHARS, Math.floor(DETAIL_PREVIEW_CHARS / Math.max(1, Number(n)))));
}
const epochMs = (d: Date | null | undefined): number | null => (d ? d.getTime() : null);

/**
 * Flow instances, newest first. A FAILED one carries `failedNode`, the node it failed at (its latest
 * FAILED node instance). Asked for one instance (`fiId`), its row also carries the start's `input`
 * and, once it succeeded, its `result`: the outputs of the nodes END follows, by node key.
 */
export async function listFlowInstances(knex: Knex, f: FlowInsFilter): Promise<{ total: number; rows: Wire[] }> {
  const filtered = () => {
    const q = FlowIns.query(knex);
    if (f.flowId) q.where('flow_id', f.flowId);
    if (f.fiId) q.where('fi_id', f.fiId);
    if (f.status) q.where('status', f.status);
    if (f.from) q.where('start_time', '>=', f.from);
    if (f.to) q.where('start_time', '<=', f.to);
    return q;
  };
  const total = await filtered().resultSize();
  const rows = await filtered()
    .withGraphFetched('flow(name)')
    .modifiers({ name: (q) => q.select('flow_id', 'flow_name') })
    .orderBy('fi_id', 'desc')
    .limit(f.pageSize)
    .offset((f.page - 1) * f.pageSize);
  const wire = rows.map((r): Wire => ({
    fiId: r.fi_id,
    flowId: r.flow_id,
    flowName: r.flow?.flow_name,
    startTime: formatTime(r.start_time),
    endTime: formatTime(r.end_time),
    status: r.status,
    errorMsg: r.error_msg ?? '',
    createTime: formatTime(r.create_time),
    updateTime: formatTime(r.update_time),
    flowVersion: r.flow_version,
    trigger: r.trigger_type,
    scheduledTime: formatTime(r.scheduled_time),
    ...(r.parent_fi_id ? { parentFiId: r.parent_fi_id } : {}),
    priority: r.priority ?? 0,
  }));
  const failed = await failedNodes(knex, rows.filter((r) => r.status === 'FAILED').map((r) => r.fi_id));
  rows.forEach((r, i) => {
    const node = failed.get(r.fi_id);
    if (node) wire[i].failedNode = node;
  });
  if (f.fiId && rows.length === 1) {
    const r = rows[0];
    const extra: Wire = {};
    if (r.input !== null) extra.input = parseJson(r.input);
    if (r.status === 'SUCCESS') {
      const { result, truncated } = await flowResult(knex, r);
      extra.result = result;
      if (truncated) extra.resultTruncated = true;
    }
    Object.assign(wire[0], extra);
  }
  return { total, rows: wire };
}

/** Per FAILED instance of a page, the node it failed at: one query for the page, whatever its size. */
async function failedNodes(knex: Knex, fiIds: number[]): Promise<Map<number, Wire>> {
  const out = new Map<number, Wire>();
  if (!fiIds.length) return out;
  // SELECT ni_id, fi_id, node_id FROM task_node_ins WHERE fi_id IN (…) AND status = 'FAILED' ORDER BY ni_id; then their nodes
  const nis = await NodeIns.query(knex)
    .select('ni_id', 'fi_id', 'node_id')
    .whereIn('fi_id', fiIds)
    .where('status', 'FAILED')
    .orderBy('ni_id')
    .withGraphFetched('node(key)')
    .modifiers({ key: (q) => q.select('node_id', 'node_key', 'seq') });
  // The latest wins: a retried instance that failed again names where it failed last.
  for (const ni of nis) out.set(ni.fi_id, { niId: ni.ni_id, nodeId: ni.node_id, ...(ni.node ? { nodeKey: nodeKeyOf(ni.node) } : {}) });
  return out;
}

/**
 * The outputs of the nodes END follows (each: its one task's output, or by task id; SKIPPED ones left
 * out), by node key, as previews; `truncated` when one is cut.
 */
async function flowResult(knex: Knex, fi: FlowIns): Promise<{ result: Wire; truncated: boolean }> {
  const plans = new FlowPlans(knex);
  const preview: Preview = { chars: await previewChars(knex, fi.fi_id), truncated: false };
  const result = await flowResultOf((st) => sendTogether(knex, st), (f, v) => plans.get(f, v), fi.fi_id, 0, preview);
  return { result, truncated: preview.truncated };
}

function taskInsRow(t: TaskIns): Wire {
  const o: Wire = {
    tiId: t.ti_id,
    taskId: t.task_id,
    status: t.exec_status,
    attempt: t.attempt,
    startTime: formatTime(t.start_time),
    endTime: formatTime(t.end_time),
    errorMsg: t.error_msg ?? '',
    output: t.output,
    outputTruncated: cut((t as Previewed).output_cut),
  };
  return o;
}

/**
 * What the run used, when the task's templates were filled in (only then: any other row keeps to the
 * original API's keys). Its secrets are shown as "***" like the stored config's: a secret header
 * written as a template is masked in GET /task, and must not come out here filled in.
 */
function rendered(t: TaskIns, secrets: SecretNames): Wire {
  const o: Wire = {};
  if (t.rendered_content !== null) o.renderedContent = t.rendered_content;
  if (cut((t as Previewed).content_cut)) o.renderedContentTruncated = true;
  if (t.rendered_config !== null) o.renderedConfig = redactTaskConfig(parseJson(t.rendered_config), secrets);
  return o;
}

/**
 * The original API's node-instance rows of one flow instance, each listing its task instances; null if
 * none. `secrets`: the secret header names (HTTP_TASK_SECRET_HEADERS with the built-in ones).
 */
export async function flowInstanceDetail(knex: Knex, fiId: number, secrets: SecretNames = DEFAULT_SECRET_HEADERS): Promise<Wire[] | null> {
  const chars = await previewChars(knex, fiId);
  const fi = await FlowIns.query(knex)
    .findById(fiId)
    .modifyGraph('nodeInstances.taskInstances', (q) => previewColumns(q, knex, chars))
    .withGraphFetched('nodeInstances.[node(type), taskInstances]')
    .modifiers({ type: (q) => q.select('node_id', 'node_type', 'node_key', 'seq') });
  if (!fi) return null;
  return (fi.nodeInstances ?? []).map((ni) => ({
    niId: ni.ni_id,
    fiId: ni.fi_id,
    startTime: formatTime(ni.start_time),
    endTime: formatTime(ni.end_time),
    status: ni.status,
    errorMsg: ni.error_msg ?? '',
    createTime: formatTime(ni.create_time),
    updateTime: formatTime(ni.update_time),
    nodeId: ni.node_id,
    nodeType: ni.node?.node_type ?? null,
    // Beyond the original API's keys: the node's key (as templates and the flow's definition name it),
    // what a SUB_FLOW, SIGNAL or forEach node holds, who ran each task, exact times for the dashboard's
    // timeline, what it ran.
    nodeKey: ni.node ? nodeKeyOf(ni.node) : null,
    ...(ni.child_fi_id ? { childFiId: ni.child_fi_id } : {}),
    ...(ni.output != null ? { output: parseJson(ni.output) } : {}),
    ...(ni.item_count != null ? { itemCount: ni.item_count } : {}),
    tasks: (ni.taskInstances ?? []).map((t) => ({ ...taskInsRow(t), workerId: t.worker_id ?? null, priority: t.priority ?? 0, startMs: epochMs(t.start_time), endMs: epochMs(t.end_time), ...rendered(t, secrets), ...(t.item_index != null ? { itemIndex: t.item_index } : {}) })),
    startMs: epochMs(ni.start_time),
    endMs: epochMs(ni.end_time),
  }));
}

/** The newest instance of each of these flows (the dashboard's "last run"), in one query. */
export async function latestFlowInstances(knex: Knex, flowIds: number[]): Promise<Wire[]> {
  if (!flowIds.length) return [];
  const newest = FlowIns.query(knex).max('fi_id').whereIn('flow_id', flowIds).groupBy('flow_id');
  const rows = await FlowIns.query(knex).select('fi_id', 'flow_id', 'status', 'start_time', 'end_time').whereIn('fi_id', newest).orderBy('flow_id');
  return rows.map((r) => ({ flowId: r.flow_id, fiId: r.fi_id, status: r.status, startTime: formatTime(r.start_time), endTime: formatTime(r.end_time) }));
}

export async function taskInstance(knex: Knex, tiId: number, secrets: SecretNames = DEFAULT_SECRET_HEADERS): Promise<Wire | null> {
  const t = await TaskIns.query(knex)
    .findById(tiId)
    .withGraphFetched('task(name)')
    .modifiers({ name: (q) => q.select('task_id', 'task_name', 'task_type') });
  if (!t) return null;
  return {
    ...taskInsRow(t),
    niId: t.ni_id,
    fiId: t.fi_id,
    taskName: t.task?.task_name,
    taskType: t.task?.task_type,
    workerId: t.worker_id,
    priority: t.priority ?? 0,
    createTime: formatTime(t.create_time),
    updateTime: formatTime(t.update_time),
    ...rendered(t, secrets),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
