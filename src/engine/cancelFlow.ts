// Cancel: a RUNNING flow instance becomes CANCELLED with its running node instance; its queued and
// running task instances become CANCELLED too (their version moves, so a runner's late result is
// refused), are dropped from the queue, and runners are told to abort.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { emptyOutcome, type StatusChange } from './advanceMany.js';
import { inTx } from './multiStatement.js';

export async function cancelFlow(s: Services, coord: Coordinator, fiId: number, user = 'system'): Promise<void> {
  const exists = await s.knex('task_flow_ins').select('status', 'flow_id').where('fi_id', fiId).first();
  if (!exists) throw new NotFoundError(`flow instance ${fiId} does not exist`);
  if (exists.status !== 'RUNNING') throw new ConflictError(`flow instance ${fiId} is ${exists.status}: only a RUNNING instance can be cancelled`);

  const lock = await coord.locks.acquire(fiId);
  if (!lock) throw new ConflictError(`flow instance ${fiId} is busy, try again`);
  let cancelled: number[] = [];
  try {
    const now = new Date();
    const stamp = { end_time: now, update_time: now, update_user: user };
    await inTx(s.knex, async (tx) => {
      const [[fi]] = await tx.send([tx.q('task_flow_ins').select('status', 'version').where('fi_id', fiId)]);
      if (fi.status !== 'RUNNING') throw new ConflictError(`flow instance ${fiId} is ${fi.status}: only a RUNNING instance can be cancelled`);
      // The fenced instance update, the node instance, and the open task instances read back, together.
      const [done, , open] = await tx.send([
        tx.q('task_flow_ins')
          .where({ fi_id: fiId, version: fi.version })
          .update({ ...stamp, status: 'CANCELLED', error_msg: `cancelled by ${user}`, version: fi.version + 1 }),
        tx.q('task_node_ins')
          .where({ fi_id: fiId, status: 'RUNNING' })
          .update({ ...stamp, status: 'CANCELLED', error_msg: 'flow cancelled', version: tx.q.raw('version + 1') }),
        tx.q('task_ins').select('ti_id').where('fi_id', fiId).whereIn('exec_status', ['PENDING', 'RUNNING']),
      ]);
      if (done.affectedRows !== 1) throw new ConflictError(`flow instance ${fiId} changed meanwhile, try again`);
      cancelled = (open as { ti_id: number }[]).map((r) => r.ti_id);
      if (cancelled.length) {
        await tx.send([
          tx.q('task_ins')
            .whereIn('ti_id', cancelled)
            .whereIn('exec_status', ['PENDING', 'RUNNING'])
            .update({ ...stamp, exec_status: 'CANCELLED', error_msg: 'flow cancelled', version: tx.q.raw('version + 1') }),
        ]);
      }
    });
  } finally {
    await coord.locks.release(lock);
  }
  const changes: StatusChange[] = [
    { kind: 'flow', fiId, flowId: Number(exists.flow_id), status: 'CANCELLED' },
    ...cancelled.map((tiId): StatusChange => ({ kind: 'task', fiId, flowId: Number(exists.flow_id), tiId, status: 'CANCELLED' })),
  ];
  await coord.afterCommit({ ...emptyOutcome(), cancelled, changes });
}
