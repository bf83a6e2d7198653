// The reaper's decision for a run lost with its worker: put back while the worker-lost budget
// (WORKER_LOST_RETRIES) has room, else FAILED "worker lost" — a budget of its own, apart from the
// task's maxRetries. Real MariaDB and Redis; the lost worker is a lease claimed by a member id that never
// comes back.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

describe('reaper', function () {
  this.timeout(30_000);
  let m: TestMember;
  before(async () => {
    // web only: nothing of this member claims the work; its leader duties reap every 100 ms.
    m = await startTestMember({ ...isolated(), ROLES: 'web', WORKER_LOST_RETRIES: '1', REAP_INTERVAL_MS: '100' });
    await waitFor('leadership', async () => m.cluster.isLeader());
  });
  after(async () => { await m.stop(); });

  async function lostRun(taskId: number, attempt: number, lostAttempts = 0): Promise<number> {
    const now = new Date();
    const [tiId] = await m.services.knex('task_ins').insert({ task_id: taskId, exec_status: 'RUNNING', attempt, lost_attempts: lostAttempts, version: 3, worker_id: 'ghost', start_time: now, create_time: now, update_time: now });
    await m.services.queue.enqueue([{ tiId }]);
    const claimed = await m.services.queue.claim('ghost|1', 10, 1); // a 1 ms lease: the ghost never extends it
    expect(claimed.ids).to.include(tiId);
    return tiId;
  }
  const row = (tiId: number) => m.services.knex('task_ins').where('ti_id', tiId).first();

  it('puts a run lost with its worker back while the worker-lost budget has room, then fails it "worker lost"', async () => {
    const once = await createTask(m.api, 'ECHO', 'x'); // maxRetries 0
    const back = await lostRun(once, 1);
    const r = await waitFor('the lost run to be put back', async () => ((await row(back)).exec_status === 'PENDING' ? row(back) : null));
    expect(r).to.include({ attempt: 1, lost_attempts: 1, version: 4 }); // version + 1 fences the ghost's late result
    // …and queued again (MySQL decides first, then the lease is settled and the id requeued). `known`
    // counts an id in flight too, so the wait is for it out of flight and still known: back in the queue.
    await waitFor('the lost run to be queued again', async () => {
      const inFlight = (await m.services.queue.inflight(100)).some((e) => e.tiId === back);
      return !inFlight && (await m.services.queue.known([back])).has(back);
    });

    const spent = await lostRun(once, 2, 1); // it has lost one run already: the budget (1) is used
    const failed = await waitFor('the spent run to fail', async () => ((await row(spent)).exec_status === 'FAILED' ? row(spent) : null));
    expect(failed).to.include({ error_msg: 'worker lost', version: 4, lost_attempts: 2 });
  });

  it('does not eat the task\'s own retries: a task with maxRetries 2 that failed twice still gets its lost run back', async () => {
    const retried = await createTask(m.api, 'ECHO', 'y', { maxRetries: 2 });
    const third = await lostRun(retried, 3); // attempts 1 and 2 failed on their own
    const r = await waitFor('the lost run to be put back', async () => ((await row(third)).exec_status === 'PENDING' ? row(third) : null));
    expect(r).to.include({ attempt: 3, lost_attempts: 1 });
  });

  it('a run that ended before its lease did (its worker died before the ack) is not run again: its lease is dropped', async () => {
    const t = await createTask(m.api, 'ECHO', 'z');
    const tiId = await lostRun(t, 1);
    await m.services.knex('task_ins').where('ti_id', tiId).update({ exec_status: 'SUCCESS', version: 4, end_time: new Date() });
    await waitFor('the lease to be dropped', async () => !(await m.services.queue.known([tiId])).has(tiId));
    expect(await row(tiId)).to.include({ exec_status: 'SUCCESS', attempt: 1, version: 4 });
  });
});
