// Flow control of whole flow instances (issue 18), run by the leader:
// - startQueued: a flow with maxActiveInstances and instances QUEUED beyond it gets them started, oldest
//   first, as RUNNING ones end. Under the flow row's lock (FOR UPDATE), the same one a start takes, so a
//   start and this never both take the last place. Started instances get their deadline (timeoutMs) and
//   are advanced like a new start (their START and first TASK nodes).
// - failTimedOut: a RUNNING instance past its deadline (start + the flow's timeoutMs, kept on the row, so
//   a leader change loses none) is FAILED "flow timed out after N ms", its running tasks aborted and its
//   queued ones dropped, exactly as a cancel does (cancelFlow.ts).
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { cancelFlow } from './cancelFlow.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { FlowIns } from '../models/index.js';

const MAX_FLOWS_PER_PASS = 100;
const MAX_TIMEOUTS_PER_PASS = 200;

/** Starts QUEUED instances where their flows have room; returns how many. */
export async function startQueued(s: Services, coord: Coordinator): Promise<number> {
  const { knex } = s;
  const flows = (await knex('task_flow_ins').distinct('flow_id').where('status', 'QUEUED').limit(MAX_FLOWS_PER_PASS)) as { flow_id: number }[];
  let started = 0;
  for (const { flow_id: flowId } of flows) {
    const now = new Date();
    const ids = await knex.transaction(async (trx) => {
      const flow = await trx('task_flow').select('max_active', 'timeout_ms').where('flow_id', flowId).forUpdate().first();
      const [{ n }] = await trx('task_flow_ins').count('* as n').where({ flow_id: flowId, status: 'RUNNING' });
      const room = flow?.max_active == null ? MAX_FLOWS_PER_PASS * 10 : Number(flow.max_active) - Number(n);
      if (room <= 0) return [];
      const queued = (await trx('task_flow_ins').select('fi_id').where({ flow_id: flowId, status: 'QUEUED' }).orderBy('fi_id').limit(room)).map((r: { fi_id: number }) => r.fi_id);
      if (!queued.length) return [];
      await trx('task_flow_ins')
        .whereIn('fi_id', queued)
        .where('status', 'QUEUED')
        .update({
          status: 'RUNNING',
          start_time: now,
          deadline_time: flow?.timeout_ms ? new Date(now.getTime() + Number(flow.timeout_ms)) : null,
          version: knex.raw('version + 1'),
          update_time: now,
        });
      return queued as number[];
    });
    if (!ids.length) continue;
    started += ids.length;
    coord.events.emit('statusChanges', ids.map((fiId) => ({ kind: 'flow', fiId, flowId, status: 'RUNNING' })));
    // Committed RUNNING: should this advance fail, the reconciler advances instances with nothing in flight.
    await coord.advance(ids).catch((e) => s.log.warn({ err: e, fiIds: ids }, 'advancing started QUEUED instances failed; the reconciler does it'));
  }
  if (started) s.log.info({ started }, 'QUEUED flow instances started');
  return started;
}

/** Fails the RUNNING instances past their deadline; returns how many. */
export async function failTimedOut(s: Services, coord: Coordinator): Promise<number> {
  const due = (await FlowIns.query(s.knex)
    .alias('fi')
    .join('task_flow as f', 'f.flow_id', 'fi.flow_id')
    .select('fi.fi_id', 'fi.start_time', 'fi.deadline_time', 'f.timeout_ms')
    .where('fi.status', 'RUNNING')
    .where('fi.deadline_time', '<=', new Date())
    .orderBy('fi.deadline_time')
    .limit(MAX_TIMEOUTS_PER_PASS)) as unknown as { fi_id: number; start_time: Date | null; deadline_time: Date; timeout_ms: number | null }[];
  let failed = 0;
  for (const fi of due) {
    // The flow's timeout (a retry's deadline is a whole timeout after the retry, not after the start).
    const ms = fi.timeout_ms ?? fi.deadline_time.getTime() - (fi.start_time?.getTime() ?? fi.deadline_time.getTime());
    try {
      await cancelFlow(s, coord, fi.fi_id, 'system', { status: 'FAILED', error: `flow timed out after ${ms} ms`, taskError: 'flow timed out' });
      failed += 1;
    } catch (e) {
      // Ended meanwhile, or busy (its lock held): the next pass looks again.
      if (!(e instanceof ConflictError || e instanceof NotFoundError)) throw e;
    }
  }
  return failed;
}
