// Missed cron ticks (cronMisfire): ticks that fell while no member led are caught up once (FIRE_ONCE, the
// default) or not at all (SKIP) by the member that leads next; only within the look-back window; and an
// expression stored before ranges were checked cannot take that member down.
// Real members in process, on a database of their own (isolated()) so no other test's flows are picked up.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { FAST } from './helpers/processes.js';
import { createFlow, createTask } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

describe('cron misfire: catch-up of ticks missed while no member led', function () {
  this.timeout(60_000);
  const env = { ...isolated(), ...FAST, ROLES: 'web' };
  let m: TestMember | null = null;
  after(async () => {
    await m?.stop(1000);
  });

  it('the next leader fires ONE catch-up for FIRE_ONCE (the latest missed tick), none for SKIP, none beyond 24 h; a stored killer cron is refused', async () => {
    // Written while a member runs, with cron off; then the member goes and the schedules are switched on
    // "an hour ago" directly in MySQL: nobody led while their ticks fell.
    const first = await startTestMember(env);
    const echo = await createTask(first.api, 'ECHO', 'catch-up');
    // Three ticks ten minutes ago (seconds 10, 20, 30 of that minute), every day, local time as node-cron.
    const base = new Date(Date.now() - 10 * 60_000);
    base.setSeconds(0, 0);
    const daily = `10,20,30 ${base.getMinutes()} ${base.getHours()} * * *`;
    // One tick two days ago, once a year: outside the 24 h window.
    const old = new Date(Date.now() - 2 * 86_400_000);
    const yearly = `0 ${old.getMinutes()} ${old.getHours()} ${old.getDate()} ${old.getMonth() + 1} *`;
    // The first flow's id is the lowest, so the reload meets the refused expression before the others.
    const killer = await createFlow(first.api, [[echo]], { cron: '0 0 * * *', cronEnabled: false });
    const fireOnce = await createFlow(first.api, [[echo]], { cron: daily, cronEnabled: false });
    const skip = await createFlow(first.api, [[echo]], { cron: daily, cronEnabled: false, cronMisfire: 'SKIP' });
    const tooOld = await createFlow(first.api, [[echo]], { cron: yearly, cronEnabled: false });
    await first.stop(1000);

    const anHourAgo = new Date(Date.now() - 3_600_000);
    m = await startTestMember({ ...env, ROLES: 'web,worker' });
    const db = m.services.knex;
    await db('task_flow').whereIn('flow_id', [fireOnce, skip]).update({ cron_enabled: true, update_time: anHourAgo });
    await db('task_flow').where('flow_id', tooOld).update({ cron_enabled: true, update_time: new Date(Date.now() - 3 * 86_400_000) });
    // An expression saved before the API checked ranges: node-cron alone would expand 1e11 seconds.
    await db('task_flow').where('flow_id', killer).update({ cron: '1-99999999999 * * * * *', cron_enabled: true, update_time: anHourAgo });

    // A flow counts as scheduled once its catch-up is over.
    await waitFor('the three good flows to be scheduled', async () => m!.cluster.stats!().cron.scheduled === 3, 20_000, 50);
    const cronRows = async (flowId: number) =>
      (await db('task_flow_ins').select('scheduled_time', 'trigger_type').where('flow_id', flowId)).map((r: any) => [new Date(r.scheduled_time).getTime(), r.trigger_type]);
    expect(await cronRows(fireOnce), 'FIRE_ONCE: one start, for the latest of the three missed ticks').to.deep.equal([[base.getTime() + 30_000, 'CRON']]);
    expect(await cronRows(skip), 'SKIP: nothing for the gap').to.deep.equal([]);
    expect(await cronRows(tooOld), 'a tick older than 24 h is not caught up').to.deep.equal([]);
    expect(await cronRows(killer)).to.deep.equal([]);
    expect(m.cluster.stats!().cron).to.deep.include({ fired: 1, failed: 0 });
    // The member is alive and answers.
    const h = await m.api('GET', '/healthz');
    expect(h.status).to.equal(200);

    // A member that leads again later catches up nothing more: the last cron tick is now the reference.
    await db('task_flow').whereIn('flow_id', [fireOnce, skip, tooOld, killer]).update({ cron_enabled: false });
    await waitFor('unscheduled', async () => m!.cluster.stats!().cron.scheduled === 0, 10_000, 50);
    await db('task_flow').whereIn('flow_id', [fireOnce]).update({ cron_enabled: true });
    await waitFor('scheduled again', async () => m!.cluster.stats!().cron.scheduled === 1, 10_000, 50);
    expect(await cronRows(fireOnce)).to.have.length(1);
    await db('task_flow').where('flow_id', fireOnce).update({ cron_enabled: false });
  });
});
