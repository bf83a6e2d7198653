// Retry: a FAILED or CANCELLED flow instance resumes from one of its node instances. The instance goes
// back to RUNNING (a fenced update: it must still be at the version read), a fresh node instance is made
// for that node, and the flow goes on from there — in one transaction. Tasks are not versioned: a task
// fixed since the failure runs with its new definition.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { advanceMany } from './advanceMany.js';
import { currentInstances, ENDED_OK } from './decide.js';
import { txOn } from './sql/multiStatement.js';
import { ConflictError, NotFoundError, StaleVersionError } from '../errors.js';
import { FlowIns, NodeIns } from '../models/index.js';

export async function retryFlow(s: Services, coord: Coordinator, flowId: number, fiId: number, niId: number, user = 'system'): Promise<number> {
  const fi = await FlowIns.query(s.knex).findById(fiId).select('fi_id', 'flow_id', 'flow_version', 'status', 'version');
  if (!fi || Number(fi.flow_id) !== flowId) throw new NotFoundError(`flow instance ${fiId} of flow ${flowId} does not exist`);
  const ni = await NodeIns.query(s.knex).findById(niId).select('ni_id', 'fi_id', 'node_id');
  if (!ni || Number(ni.fi_id) !== fiId) throw new NotFoundError(`node instance ${niId} is not part of flow instance ${fiId}`);
  if (fi.status !== 'FAILED' && fi.status !== 'CANCELLED') {
    throw new ConflictError(`flow instance ${fiId} is ${fi.status}: only a FAILED or CANCELLED instance can be retried`);
  }
  const plan = await coord.plans.get(fi.flow_id, fi.flow_version);
  const node = plan.byId.get(Number(ni.node_id));
  if (!node) throw new NotFoundError(`node ${ni.node_id} is not part of flow ${flowId} version ${fi.flow_version}`);
  // A node can run again only once everything it follows has succeeded (on a chain: the node before it).
  const latest = await NodeIns.query(s.knex)
    .select('ni_id', 'node_id', 'status', 'error_msg')
    .whereIn('ni_id', NodeIns.query(s.knex).max('ni_id').where('fi_id', fiId).groupBy('node_id'));
  const current = currentInstances(plan, latest);
  const waiting = node.preds.map((p) => plan.byId.get(p)!).filter((p) => !ENDED_OK(current.get(p.nodeId)?.status));
  if (waiting.length) {
    throw new ConflictError(`node "${node.key}" follows ${waiting.map((p) => `"${p.key}"`).join(', ')}, which did not succeed: retry from there`);
  }

  const lock = await coord.locks.acquire(fiId);
  if (!lock) throw new ConflictError(`flow instance ${fiId} is busy, try again`);
  try {
    const now = new Date();
    const out = await s.knex.transaction(async (trx) => {
      // Flow control: a retried instance gets a whole timeoutMs again (its old deadline has passed).
      const flow = await trx('task_flow').select('timeout_ms').where('flow_id', flowId).first();
      const deadline_time = flow?.timeout_ms ? new Date(now.getTime() + Number(flow.timeout_ms)) : null;
      try {
        await fi.patchIfVersion({ status: 'RUNNING', error_msg: null, end_time: null, deadline_time, update_time: now, update_user: user }, trx);
      } catch (e) {
        if (e instanceof StaleVersionError) throw new ConflictError(`flow instance ${fiId} changed meanwhile, try again`);
        throw e;
      }
      return advanceMany(await txOn(trx), coord.plans, [fiId], { user, now, resume: new Map([[fiId, node.nodeId]]), collectChanges: coord.watching });
    });
    out.changes.unshift({ kind: 'flow', fiId, flowId, status: 'RUNNING' });
    await coord.afterCommit(out);
  } finally {
    await coord.locks.release(lock);
  }
  return fiId;
}
