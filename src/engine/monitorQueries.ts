// Read-side queries behind the monitor API, shaped as the seed's rows (camelCase, seed key order,
// times as `YYYY-MM-DD HH:mm:ss`). Two queries for a detail page, never one per node.
import type { Knex } from '../infra/db.js';
import { formatTime } from '../infra/time.js';

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

export async function listFlowInstances(knex: Knex, f: FlowInsFilter): Promise<{ total: number; rows: Record<string, unknown>[] }> {
  const base = knex('task_flow_ins as fi').leftJoin('task_flow as f', 'f.flow_id', 'fi.flow_id');
  if (f.flowId) base.where('fi.flow_id', f.flowId);
  if (f.fiId) base.where('fi.fi_id', f.fiId);
  if (f.status) base.where('fi.status', f.status);
  if (f.from) base.where('fi.start_time', '>=', f.from);
  if (f.to) base.where('fi.start_time', '<=', f.to);
  const [{ n }] = await base.clone().count({ n: '*' });
  const rows = await base
    .select('fi.*', 'f.flow_name')
    .orderBy('fi.fi_id', 'desc')
    .limit(f.pageSize)
    .offset((f.page - 1) * f.pageSize);
  return {
    total: Number(n),
    rows: rows.map((r) => ({
      fiId: r.fi_id,
      flowId: r.flow_id,
      flowName: r.flow_name,
      startTime: formatTime(r.start_time),
      endTime: formatTime(r.end_time),
      status: r.status,
      errorMsg: r.error_msg ?? '',
      createTime: formatTime(r.create_time),
      updateTime: formatTime(r.update_time),
      flowVersion: r.flow_version,
      trigger: r.trigger_type,
      scheduledTime: formatTime(r.scheduled_time),
    })),
  };
}

const epochMs = (d: Date | null | undefined): number | null => (d ? d.getTime() : null);

function taskInsRow(r: Record<string, any>) {
  return {
    tiId: r.ti_id,
    taskId: r.task_id,
    status: r.exec_status,
    attempt: r.attempt,
    startTime: formatTime(r.start_time),
    endTime: formatTime(r.end_time),
    errorMsg: r.error_msg ?? '',
    output: r.output,
  };
}

/** The seed's node-instance rows of one flow instance, each listing its task instances; null if none. */
export async function flowInstanceDetail(knex: Knex, fiId: number): Promise<Record<string, unknown>[] | null> {
  const fi = await knex('task_flow_ins').select('fi_id').where('fi_id', fiId).first();
  if (!fi) return null;
  const [nis, tis] = await Promise.all([
    knex('task_node_ins as ni').join('task_node as n', 'n.node_id', 'ni.node_id').select('ni.*', 'n.node_type').where('ni.fi_id', fiId).orderBy('ni.ni_id'),
    knex('task_ins').select('*').where('fi_id', fiId).orderBy('ti_id'),
  ]);
  const byNi = new Map<number, Record<string, unknown>[]>();
  for (const t of tis) {
    const list = byNi.get(t.ni_id) ?? [];
    // Beyond the seed's keys: who ran it, and exact times for the dashboard's timeline.
    list.push({ ...taskInsRow(t), workerId: t.worker_id ?? null, startMs: epochMs(t.start_time), endMs: epochMs(t.end_time) });
    byNi.set(t.ni_id, list);
  }
  return nis.map((r) => ({
    niId: r.ni_id,
    fiId: r.fi_id,
    startTime: formatTime(r.start_time),
    endTime: formatTime(r.end_time),
    status: r.status,
    errorMsg: r.error_msg ?? '',
    createTime: formatTime(r.create_time),
    updateTime: formatTime(r.update_time),
    nodeId: r.node_id,
    nodeType: r.node_type,
    tasks: byNi.get(r.ni_id) ?? [],
    startMs: epochMs(r.start_time),
    endMs: epochMs(r.end_time),
  }));
}

/** The newest instance of each of these flows (the dashboard's "last run"), in one query. */
export async function latestFlowInstances(knex: Knex, flowIds: number[]): Promise<Record<string, unknown>[]> {
  if (!flowIds.length) return [];
  const newest = knex('task_flow_ins').max({ fi_id: 'fi_id' }).whereIn('flow_id', flowIds).groupBy('flow_id');
  const rows = await knex('task_flow_ins').select('fi_id', 'flow_id', 'status', 'start_time', 'end_time').whereIn('fi_id', newest).orderBy('flow_id');
  return rows.map((r) => ({ flowId: r.flow_id, fiId: r.fi_id, status: r.status, startTime: formatTime(r.start_time), endTime: formatTime(r.end_time) }));
}

export async function taskInstance(knex: Knex, tiId: number): Promise<Record<string, unknown> | null> {
  const r = await knex('task_ins as ti').leftJoin('task as t', 't.task_id', 'ti.task_id').select('ti.*', 't.task_name', 't.task_type').where('ti.ti_id', tiId).first();
  if (!r) return null;
  return {
    ...taskInsRow(r),
    niId: r.ni_id,
    fiId: r.fi_id,
    taskName: r.task_name,
    taskType: r.task_type,
    workerId: r.worker_id,
    createTime: formatTime(r.create_time),
    updateTime: formatTime(r.update_time),
  };
}
