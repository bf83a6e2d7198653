// Retry: a FAILED or CANCELLED flow instance resumes from one of its node instances. The instance
// goes back to RUNNING (on the flow version it was pinned to), a fresh node instance is made for that
// node, and the chain goes on from there. Tasks are not versioned: a task fixed since the failure
// runs with its new definition.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { advanceMany } from './advanceMany.js';
import { inTx } from './multiStatement.js';
import { ConflictError, NotFoundError } from '../errors.js';

export async function retryFlow(s: Services, coord: Coordinator, flowId: number, fiId: number, niId: number, user = 'system'): Promise<number> {
  const fi = await s.knex('task_flow_ins').select('fi_id', 'flow_id', 'flow_version', 'status', 'version').where('fi_id', fiId).first();
  if (!fi || Number(fi.flow_id) !== flowId) throw new NotFoundError(`flow instance ${fiId} of flow ${flowId} does not exist`);
  const ni = await s.knex('task_node_ins').select('ni_id', 'fi_id', 'node_id').where('ni_id', niId).first();
  if (!ni || Number(ni.fi_id) !== fiId) throw new NotFoundError(`node instance ${niId} is not part of flow instance ${fiId}`);
  if (fi.status !== 'FAILED' && fi.status !== 'CANCELLED') {
    throw new ConflictError(`flow instance ${fiId} is ${fi.status}: only a FAILED or CANCELLED instance can be retried`);
  }
  const plan = await coord.plans.get(fi.flow_id, fi.flow_version);
  const node = plan.byId.get(Number(ni.node_id));
  if (!node) throw new NotFoundError(`node ${ni.node_id} is not part of flow ${flowId} version ${fi.flow_version}`);

  const lock = await coord.locks.acquire(fiId);
  if (!lock) throw new ConflictError(`flow instance ${fiId} is busy, try again`);
  try {
    const now = new Date();
    const out = await inTx(s.knex, async (tx) => {
      const [res] = await tx.send([
        tx.q('task_flow_ins')
          .where({ fi_id: fiId, version: fi.version })
          .whereIn('status', ['FAILED', 'CANCELLED'])
          .update({ status: 'RUNNING', error_msg: null, end_time: null, version: fi.version + 1, update_time: now, update_user: user }),
      ]);
      if (res.affectedRows !== 1) throw new ConflictError(`flow instance ${fiId} changed meanwhile, try again`);
      return advanceMany(tx, coord.plans, [fiId], { user, now, resume: new Map([[fiId, node.nodeId]]) });
    });
    out.changes.unshift({ kind: 'flow', fiId, flowId, status: 'RUNNING' });
    await coord.afterCommit(out);
  } finally {
    await coord.locks.release(lock);
  }
  return fiId;
}
