// A worker runs its flows' next tasks itself: the transaction that records a task's result creates the
// flow's next task instance RUNNING for that worker, which leases it and runs it — no second commit, no
// trip through the queue. A member that starts a flow while it has a free slot (and nothing due in the
// queue) does the same with the flow's first task: the start's transaction creates it RUNNING. What that
// must keep: the concurrency bound, and nothing lost if the worker dies between that commit and the
// lease (the reconciler hands such rows out again, after a grace period).
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, startFlow, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

interface TiRow {
  ti_id: number;
  ni_id: number;
  worker_id: string;
  attempt: number;
  exec_status: string;
  create_time: Date;
  start_time: Date;
  end_time: Date;
}

describe('continuation: a worker runs the next task of the flows it moves on', function () {
  this.timeout(60_000);

  describe('on one member', () => {
    let m: TestMember;
    before(async () => {
      m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '2' });
    });
    after(async () => { await m.stop(1000); });

    const rowsOf = (fiId: number): Promise<TiRow[]> =>
      m.services.knex('task_ins').select('ti_id', 'ni_id', 'worker_id', 'attempt', 'exec_status', 'create_time', 'start_time', 'end_time').where('fi_id', fiId).orderBy('ti_id');

    it('steps after the first are created RUNNING by the worker that finished the step before, and start after it ended', async () => {
      const echo = await createTask(m.api, 'ECHO', 'step');
      const fiId = await startFlow(m.api, await createFlow(m.api, [[echo], [echo], [echo], [echo]]));
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const tis = await rowsOf(fiId);
      expect(tis.map((t) => [t.exec_status, t.attempt, t.worker_id])).to.deep.equal(Array(4).fill(['SUCCESS', 1, m.services.memberId]));
      for (let i = 1; i < tis.length; i++) {
        // Created already RUNNING (never PENDING in between): its start is the instant it was created.
        expect(tis[i].start_time.getTime(), `step ${i + 1}`).to.equal(tis[i].create_time.getTime());
        expect(tis[i].start_time.getTime()).to.be.at.least(tis[i - 1].end_time.getTime());
      }
    });

    it('WORKER_CONCURRENCY still bounds the runs, continued ones included: 2 at a time through nodes of 5 parallel tasks', async () => {
      const wait = await createTask(m.api, 'WAIT', null, { waitMs: 150 });
      const flowId = await createFlow(m.api, [{ taskIds: [wait, wait, wait, wait, wait], completion: 'ALL' }, { taskIds: [wait, wait, wait, wait, wait], completion: 'ALL' }]);
      const fiIds = await Promise.all([startFlow(m.api, flowId), startFlow(m.api, flowId)]);
      for (const fiId of fiIds) expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const tis = (await Promise.all(fiIds.map(rowsOf))).flat();
      expect(tis).to.have.length(20);
      // Most runs overlapping at any instant (end_time is when the executor returned: inside its slot).
      const edges = tis.flatMap((t) => [[t.start_time.getTime(), 1], [t.end_time.getTime(), -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let now = 0;
      let most = 0;
      for (const [, d] of edges) most = Math.max(most, (now += d));
      expect(most).to.equal(2);
      // The second nodes' tasks were partly continued (created RUNNING), partly claimed from the queue.
      const continued = tis.filter((t) => t.start_time.getTime() === t.create_time.getTime());
      expect(continued.length).to.be.within(1, 19);
    });

    it('a flow started here while a slot is free has its first task created RUNNING for this member by the start\'s own transaction', async () => {
      const echo = await createTask(m.api, 'ECHO', 'first');
      const fiId = await startFlow(m.api, await createFlow(m.api, [[echo], [echo]]));
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const [first] = await rowsOf(fiId);
      const fi = await m.services.knex('task_flow_ins').where('fi_id', fiId).first();
      expect([first.exec_status, first.attempt, first.worker_id]).to.deep.equal(['SUCCESS', 1, m.services.memberId]);
      // Never PENDING, never queued: RUNNING from the instant the start wrote it, as the flow began.
      expect(first.start_time.getTime()).to.equal(first.create_time.getTime());
      expect(first.create_time.getTime() - fi.start_time.getTime()).to.be.within(0, 1_000);
    });

    it('with every slot taken, a start\'s first task is queued and waits for a slot: the bound holds', async () => {
      const wait = await createTask(m.api, 'WAIT', null, { waitMs: 400 });
      const echo = await createTask(m.api, 'ECHO', 'later');
      const busy = await createFlow(m.api, [{ taskIds: [wait, wait], completion: 'ALL' }]);
      const busyFi = await startFlow(m.api, busy);
      // Both slots run the first flow's two tasks (one created RUNNING by its start, one claimed).
      await waitFor('both slots taken', async () => (await rowsOf(busyFi)).filter((t) => t.exec_status === 'RUNNING').length === 2 || null);
      const fiId = await startFlow(m.api, await createFlow(m.api, [[echo]]));
      const [queued] = await rowsOf(fiId);
      expect(queued.exec_status).to.equal('PENDING');
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const [ran] = await rowsOf(fiId);
      const busyEnds = (await rowsOf(busyFi)).map((t) => t.end_time.getTime());
      expect(ran.start_time.getTime()).to.be.above(ran.create_time.getTime());
      expect(ran.start_time.getTime()).to.be.at.least(Math.min(...busyEnds));
    });
  });

  describe('a worker that dies between the commit and the lease', () => {
    let m: TestMember;
    before(async () => {
      // No worker here: what the reconciler hands out stays visible in the queue.
      m = await startTestMember({ ...isolated(), ROLES: 'web', RECONCILE_INTERVAL_MS: '600000', ADMIN_TOKEN: 'cont' });
    });
    after(async () => { await m.stop(1000); });

    it('leaves a RUNNING row Redis does not know: left alone while fresh, then set PENDING and queued by the reconciler', async () => {
      const { knex, queue } = m.services;
      const auth = { Authorization: 'Bearer cont' };
      const echo = await createTask(m.api, 'ECHO', 'x');
      const fiId = await startFlow(m.api, await createFlow(m.api, [[echo]]));
      const ti = await waitFor('the first task instance', () => knex('task_ins').where('fi_id', fiId).first());
      // As a continuation left it: RUNNING for a worker that is gone, committed, never leased.
      await queue.remove([ti.ti_id]);
      await knex('task_ins').where('ti_id', ti.ti_id).update({ exec_status: 'RUNNING', attempt: 1, version: 1, worker_id: 'gone', start_time: new Date(), update_time: new Date() });

      const fresh = (await m.api('POST', '/admin/reconcile', undefined, auth)).body.data;
      expect(fresh.released).to.equal(0);
      expect((await knex('task_ins').where('ti_id', ti.ti_id).first()).exec_status).to.equal('RUNNING');

      await knex('task_ins').where('ti_id', ti.ti_id).update({ update_time: new Date(Date.now() - 60_000) });
      const later = (await m.api('POST', '/admin/reconcile', undefined, auth)).body.data;
      expect(later.released).to.equal(1);
      const row = await knex('task_ins').where('ti_id', ti.ti_id).first();
      expect([row.exec_status, row.version]).to.deep.equal(['PENDING', 2]);
      expect([...(await queue.known([ti.ti_id]))]).to.deep.equal([ti.ti_id]);
    });
  });
});
