// The reaper's decision for a run lost with its worker: put back while the task has attempts left
// (its maxRetries + 1, plus WORKER_LOST_RETRIES), else FAILED "worker lost". Real MariaDB and Redis;
// the lost worker is a lease claimed by a member id that never comes back.
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
  });
  after(async () => { await m.stop(); });

  async function lostRun(taskId: number, attempt: number): Promise<number> {
    const now = new Date();
    const [tiId] = await m.services.knex('task_ins').insert({ task_id: taskId, exec_status: 'RUNNING', attempt, version: 3, worker_id: 'ghost', start_time: now, create_time: now, update_time: now });
    await m.services.queue.enqueue([{ tiId }]);
    const claimed = await m.services.queue.claim('ghost', 10, 1); // a 1 ms lease: the ghost never extends it
    expect(claimed.ids).to.include(tiId);
    return tiId;
  }

  it('puts a run lost with its worker back while attempts are left, then fails it "worker lost"', async () => {
    const once = await createTask(m.api, 'ECHO', 'x'); // maxRetries 0: 1 attempt, + 1 lost allowed
    const back = await lostRun(once, 1);
    const row = await waitFor('the lost run to be put back', async () => {
      const r = await m.services.knex('task_ins').where('ti_id', back).first();
      return r.exec_status === 'PENDING' ? r : null;
    });
    expect(row).to.include({ attempt: 1, version: 4 }); // version + 1 fences the ghost's late result
    // …and queued again (the reaper writes the row first, then enqueues).
    await waitFor('the lost run to be queued again', async () => (await m.services.queue.known([back])).has(back));

    const spent = await lostRun(once, 2);
    const failed = await waitFor('the spent run to fail', async () => {
      const r = await m.services.knex('task_ins').where('ti_id', spent).first();
      return r.exec_status === 'FAILED' ? r : null;
    });
    expect(failed).to.include({ error_msg: 'worker lost', version: 4 });

    const retried = await createTask(m.api, 'ECHO', 'y', { maxRetries: 2 }); // 3 attempts, + 1 lost
    const third = await lostRun(retried, 3);
    await waitFor('a run with retries left to be put back', async () => (await m.services.knex('task_ins').where('ti_id', third).first()).exec_status === 'PENDING');
  });
});
