// Read-side queries behind the monitor API, through the models' relations (a flow instance → its node
// instances → their task instances), shaped as the original API's rows (camelCase, its key order, times
// as `YYYY-MM-DD HH:mm:ss`, our additions after its keys). A detail page is a few queries, never one per
// node.
import type { AnyQueryBuilder } from 'objection';
import type { Knex } from '../infra/db.js';
import { formatTime } from '../infra/time.js';
import { FlowIns, FlowNode, NodeIns, nodeKeyOf, TaskIns } from '../models/index.js';
import { planOf } from './flowPlan.js';
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
 * Flow instances, newest first. Asked for one instance (`fiId`), its row also carries the start's
 * `input` and, once it succeeded, its `result`: the outputs of the nodes END follows, by node key.
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
  const wire = rows.map((r) => ({
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
    priority: r.priority ?? 0,
  }));
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

/**
 * The outputs of the nodes END follows (each: its one task's output, or by task id), by node key, as
 * previews; `truncated` when one is cut.
 */
async function flowResult(knex: Knex, fi: FlowIns): Promise<{ result: Wire; truncated: boolean }> {
  const nodes = await FlowNode.query(knex).where({ flow_id: fi.flow_id, flow_version: fi.flow_version }).orderBy('seq');
  const plan = planOf(fi.flow_id, fi.flow_version, nodes);
  const last = plan.end.preds.map((id) => plan.byId.get(id)!);
  const latest = NodeIns.query(knex).max('ni_id').where('fi_id', fi.fi_id).whereIn('node_id', last.map((n) => n.nodeId)).groupBy('node_id');
  const chars = await previewChars(knex, fi.fi_id);
  const nis = await NodeIns.query(knex).whereIn('ni_id', latest).withGraphFetched('taskInstances').modifyGraph('taskInstances', (q) => previewColumns(q, knex, chars));
  const out: Wire = {};
  let truncated = false;
  for (const n of last) {
    const ni = nis.find((x) => x.node_id === n.nodeId);
    const done = ((ni?.taskInstances ?? []) as Previewed[]).filter((t) => t.exec_status === 'SUCCESS');
    truncated ||= done.some((t) => cut(t.output_cut));
    out[n.key] = n.taskIds.length === 1 ? (done[0]?.output ?? null) : Object.fromEntries(done.map((t) => [String(t.task_id), t.output]));
  }
  return { result: out, truncated };
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
    // who ran each task, exact times for the dashboard's timeline, what it ran.
    nodeKey: ni.node ? nodeKeyOf(ni.node) : null,
    tasks: (ni.taskInstances ?? []).map((t) => ({ ...taskInsRow(t), workerId: t.worker_id ?? null, priority: t.priority ?? 0, startMs: epochMs(t.start_time), endMs: epochMs(t.end_time), ...rendered(t, secrets) })),
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
