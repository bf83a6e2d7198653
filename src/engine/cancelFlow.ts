// Cancel: a RUNNING flow instance becomes CANCELLED with its running node instances; its queued and
// running task instances become CANCELLED too (their version moves, so a runner's late result is
// refused), are dropped from the queue, and runners are told to abort. Every status write is fenced by
// the row's version; the instance's is checked against the version read, so a cancel racing a
// coordinator or a retry loses cleanly (409) instead of overwriting it.
// A QUEUED instance (flow control: waiting for its flow's maxActiveInstances) has nothing running: it is
// simply CANCELLED. A flow timeout (`end`) is the same as a cancel, with FAILED and its own message.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { ConflictError, NotFoundError, StaleVersionError } from '../errors.js';
import { FlowIns, NodeIns, TaskIns } from '../models/index.js';
import { emptyOutcome, type FlowFailure, type StatusChange } from './advanceMany.js';

/** How a flow instance is ended other than by a cancel: a timeout fails it. */
export interface FlowEnd {
  status: 'FAILED';
  error: string;
  /** What its open task instances are told. */
  taskError: string;
}

export async function cancelFlow(s: Services, coord: Coordinator, fiId: number, user = 'system', end?: FlowEnd): Promise<void> {
  const exists = await FlowIns.query(s.knex).findById(fiId).select('status', 'flow_id', 'start_time', 'parent_fi_id');
  if (!exists) throw new NotFoundError(`flow instance ${fiId} does not exist`);
  const endable = end ? ['RUNNING'] : ['RUNNING', 'QUEUED'];
  if (!endable.includes(exists.status)) throw new ConflictError(`flow instance ${fiId} is ${exists.status}: only a RUNNING or QUEUED instance can be cancelled`);
  const status = end?.status ?? 'CANCELLED';
  const error = end?.error ?? `cancelled by ${user}`;

  const lock = await coord.locks.acquire(fiId);
  if (!lock) throw new ConflictError(`flow instance ${fiId} is busy, try again`);
  let cancelled: number[] = [];
  try {
    await s.knex.transaction(async (trx) => {
      const now = new Date();
      const stamp = { end_time: now, update_time: now, update_user: user };
      const fi = (await FlowIns.query(trx).findById(fiId).select('fi_id', 'status', 'version'))!;
      if (!endable.includes(fi.status)) throw new ConflictError(`flow instance ${fiId} is ${fi.status}: only a RUNNING or QUEUED instance can be cancelled`);
      try {
        await fi.patchIfVersion({ ...stamp, status, error_msg: error }, trx);
      } catch (e) {
        if (e instanceof StaleVersionError) throw new ConflictError(`flow instance ${fiId} changed meanwhile, try again`);
        throw e;
      }
      const [nodes, tasks] = await Promise.all([
        NodeIns.query(trx).select('ni_id', 'version').where({ fi_id: fiId, status: 'RUNNING' }),
        TaskIns.query(trx).select('ti_id', 'version').where('fi_id', fiId).whereIn('exec_status', ['PENDING', 'RUNNING']),
      ]);
      const why = end?.taskError ?? 'flow cancelled';
      await NodeIns.patchEachIfVersion<NodeIns>(nodes.map((n) => [n.ni_id, n.version]), { ...stamp, status: 'CANCELLED', error_msg: why }, trx);
      await TaskIns.patchEachIfVersion<TaskIns>(tasks.map((t) => [t.ti_id, t.version]), { ...stamp, exec_status: 'CANCELLED', error_msg: why }, trx);
      cancelled = tasks.map((t) => t.ti_id);
    });
  } finally {
    await coord.locks.release(lock);
  }
  const changes: StatusChange[] = [
    { kind: 'flow', fiId, flowId: Number(exists.flow_id), status },
    ...cancelled.map((tiId): StatusChange => ({ kind: 'task', fiId, flowId: Number(exists.flow_id), tiId, status: 'CANCELLED' })),
  ];
  const failures: FlowFailure[] = [
    { fiId, flowId: Number(exists.flow_id), status, nodeKey: null, error, durationMs: exists.start_time ? Date.now() - new Date(exists.start_time).getTime() : 0 },
  ];
  // A sub-flow's parent learns its child ended (its SUB_FLOW node fails); the instance's own running
  // children are cancelled with it (each in turn wakes this instance, which has ended: nothing to do).
  const children = (await FlowIns.query(s.knex).select('fi_id').where({ parent_fi_id: fiId, status: 'RUNNING' })).map((c) => Number(c.fi_id));
  const finished = new Map<number, 'SUCCESS' | 'FAILED'>(status === 'FAILED' ? [[fiId, 'FAILED']] : []);
  await coord.afterCommit({ ...emptyOutcome(), cancelled, changes, failures, finished, cancelChildren: children, parents: exists.parent_fi_id ? [Number(exists.parent_fi_id)] : [] });
}
