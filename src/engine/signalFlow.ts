// A signal: a SIGNAL node that waits (RUNNING) succeeds with the payload as its output, and the flow
// goes on from it — in one transaction, under the instance's coordinator lock, the instance's version
// bumped (the fence a coordinator's or a cancel's pass checks). A waiting SIGNAL is only a row: nothing
// runs, polls or holds a lock while it waits; its timeout is the leader's (cluster/dueSignals.ts).
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { advanceMany } from './advanceMany.js';
import { txOn } from './sql/multiStatement.js';
import { ConflictError, NotFoundError, StaleVersionError } from '../errors.js';
import { FlowIns, NodeIns } from '../models/index.js';

/** The payload, as stored (node_ins.output is MEDIUMTEXT; the request body limit comes first). */
export async function signalNode(s: Services, coord: Coordinator, fiId: number, nodeKey: string, payload: unknown, user = 'system'): Promise<number> {
  const fi = await FlowIns.query(s.knex).findById(fiId).select('fi_id', 'flow_id', 'flow_version', 'status');
  if (!fi) throw new NotFoundError(`flow instance ${fiId} does not exist`);
  const plan = await coord.plans.get(fi.flow_id, fi.flow_version);
  const node = plan.byKey.get(nodeKey);
  if (!node) throw new NotFoundError(`flow instance ${fiId} has no node "${nodeKey}"`);
  if (node.type !== 'SIGNAL') throw new ConflictError(`node "${nodeKey}" is a ${node.type} node, not a SIGNAL: it does not wait for a signal`);
  if (fi.status !== 'RUNNING') throw new ConflictError(`flow instance ${fiId} is ${fi.status}: node "${nodeKey}" is not waiting`);

  const lock = await coord.locks.acquire(fiId);
  if (!lock) throw new ConflictError(`flow instance ${fiId} is busy, try again`);
  let niId = 0;
  try {
    const now = new Date();
    const out = await s.knex.transaction(async (trx) => {
      const row = (await FlowIns.query(trx).findById(fiId).select('fi_id', 'status', 'version'))!;
      if (row.status !== 'RUNNING') throw new ConflictError(`flow instance ${fiId} is ${row.status}: node "${nodeKey}" is not waiting`);
      const ni = await NodeIns.query(trx).select('ni_id', 'status', 'version').where({ fi_id: fiId, node_id: node.nodeId }).orderBy('ni_id', 'desc').first();
      if (!ni) throw new ConflictError(`node "${nodeKey}" is not waiting: the flow has not reached it yet`);
      if (ni.status !== 'RUNNING') throw new ConflictError(`node "${nodeKey}" is not waiting: it is ${ni.status}${ni.status === 'SUCCESS' ? ' (signalled already, or timed out)' : ''}`);
      niId = ni.ni_id;
      try {
        await row.patchIfVersion({ update_time: now, update_user: user }, trx);
        await ni.patchIfVersion({ status: 'SUCCESS', output: JSON.stringify(payload ?? null), end_time: now, update_time: now, update_user: user }, trx);
      } catch (e) {
        if (e instanceof StaleVersionError) throw new ConflictError(`flow instance ${fiId} changed meanwhile, try again`);
        throw e;
      }
      return advanceMany(await txOn(trx), coord.plans, [fiId], { user, now, collectChanges: coord.watching });
    });
    out.changes.unshift({ kind: 'node', fiId, flowId: Number(fi.flow_id), niId, status: 'SUCCESS' });
    await coord.afterCommit(out);
  } finally {
    await coord.locks.release(lock);
  }
  return niId;
}
