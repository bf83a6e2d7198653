// Flow control (issue 18) on two members sharing one database and Redis prefix: priorities, and the
// limits on how much runs at once. Timings come from the task instances' own start and end times.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

interface TiRow {
  ti_id: number;
  fi_id: number | null;
  priority: number;
  exec_status: string;
  start_time: Date | null;
  end_time: Date | null;
}

describe('flow control on two members', function () {
  this.timeout(90_000);
  let a: TestMember;
  let b: TestMember;

  before(async () => {
    const env = { ...isolated(), WORKER_CONCURRENCY: '1', SHELL_TASKS_ENABLED: 'true' };
    a = await startTestMember(env);
    b = await startTestMember(env);
  });
  after(async () => {
    await Promise.all([a?.stop(1000), b?.stop(1000)]);
  });

  const rows = (where: (q: any) => any): Promise<TiRow[]> =>
    where(a.services.knex('task_ins').select('ti_id', 'fi_id', 'priority', 'exec_status', 'start_time', 'end_time')).orderBy('ti_id');

  async function start(flowId: number, body?: unknown): Promise<number> {
    const r = await a.api('POST', `/exec/flow/${flowId}`, body);
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId;
  }

  describe('priority', () => {
    it('a start takes a priority 0-9; anything else, or one on a retry, is a 400 naming the field', async () => {
      const echo = await createTask(a.api, 'ECHO', 'x');
      const flowId = await createFlow(a.api, [[echo]]);
      for (const bad of [10, -1, 1.5, '9', null]) {
        const r = await a.api('POST', `/exec/flow/${flowId}`, { priority: bad });
        expect(r.status, JSON.stringify(bad)).to.equal(400);
        expect(r.body.message).to.match(/^priority: must be an integer 0-9/);
        const t = await a.api('POST', `/exec/task/${echo}`, { priority: bad });
        expect(t.status, JSON.stringify(bad)).to.equal(400);
        expect(t.body.message).to.match(/^priority: must be an integer 0-9/);
      }
      const retry = await a.api('POST', `/exec/flow/${flowId}`, { fiId: 1, niId: 1, priority: 3 });
      expect(retry.status).to.equal(400);
      expect(retry.body.message).to.match(/^priority: a retry keeps/);
    });

    it('every task instance of a flow instance carries its priority (continued steps and retries too); the monitor shows it', async () => {
      // Fails its first run (the file is not there yet), succeeds on the retry.
      const flaky = await createTask(a.api, 'SHELL', `test -f /tmp/tsq-prio-${process.pid} || { touch /tmp/tsq-prio-${process.pid}; exit 1; }`, { maxRetries: 2, retryBackoffMs: 10 });
      const echo = await createTask(a.api, 'ECHO', 'x');
      const flowId = await createFlow(a.api, [[echo], [flaky], [echo]]);
      const fiId = await start(flowId, { priority: 7 });
      expect((await waitForEnd(a.api, fiId)).status).to.equal('SUCCESS');
      const tis = await rows((q) => q.where('fi_id', fiId));
      expect(tis.map((t) => t.priority)).to.deep.equal([7, 7, 7]);
      const detail = (await a.api('POST', `/monitor/flow/detail/${fiId}`)).body.data;
      const shown = detail.flatMap((ni: any) => ni.tasks.map((t: any) => [t.priority, t.attempt]));
      expect(shown).to.deep.include([7, 2]); // the retried one
      expect((await a.api('POST', '/monitor/flow', { fiId })).body.data[0].priority).to.equal(7);
      const single = await a.api('POST', `/exec/task/${echo}`, { priority: 4 });
      expect(single.status).to.equal(200);
      const ti = await waitFor('the single run', async () => {
        const t = (await a.api('GET', `/monitor/task/${single.body.data.tiId}`)).body.data;
        return t.status === 'SUCCESS' ? t : null;
      });
      expect(ti.priority).to.equal(4);
    });

    it('a priority-9 start overtakes a queued backlog of priority 0 (two members, one slot each)', async () => {
      const wait = await createTask(a.api, 'WAIT', null, { waitMs: 150 });
      const flowId = await createFlow(a.api, [[wait]]);
      const backlog: number[] = [];
      for (let i = 0; i < 12; i++) backlog.push(await start(flowId));
      // Both slots busy with the backlog, most of it still queued.
      await waitFor('two backlog runs', async () => (await rows((q) => q.whereIn('fi_id', backlog).where('exec_status', 'RUNNING'))).length >= 1);
      const urgent = await start(flowId, { priority: 9 });
      const queuedThen = (await rows((q) => q.whereIn('fi_id', backlog).where('exec_status', 'PENDING'))).map((t) => t.ti_id);
      expect(queuedThen.length).to.be.at.least(6);
      for (const fiId of [...backlog, urgent]) expect((await waitForEnd(a.api, fiId)).status).to.equal('SUCCESS');
      const [u] = await rows((q) => q.where('fi_id', urgent));
      const later = await rows((q) => q.whereIn('ti_id', queuedThen));
      // Every backlog run still queued when the urgent one was started began after it.
      for (const t of later) expect(t.start_time!.getTime(), `ti ${t.ti_id}`).to.be.at.least(u.start_time!.getTime());
    });
  });
});
