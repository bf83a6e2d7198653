// PATCH /flow/{flowId} (cron on/off and misfire rule in place) and nextRunTime on flow answers; the
// leader stops and starts firing a cron within seconds of a PATCH.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { freshPrefix } from './helpers/env.js';
import { FAST, retireFlows } from './helpers/processes.js';
import { createFlow, createTask } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { nextRunTime } from '../src/definitions/present.js';

const TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

describe('PATCH /flow/{flowId} and nextRunTime', function () {
  this.timeout(60_000);
  let m: TestMember;
  let echo: number;
  const flows: number[] = [];

  before(async () => {
    m = await startTestMember({ ...FAST, REDIS_PREFIX: freshPrefix(), ROLES: 'web,worker', MEMBER_ID: 'patch-a' });
    echo = await createTask(m.api, 'ECHO', 'tick');
  });
  after(async () => {
    // The member stops even when retiring fails: left running, it would work on the next files' rows.
    try {
      await retireFlows(m.services.knex, flows);
    } finally {
      await m.stop(1000);
    }
  });

  const knex = () => m.services.knex;
  const flow = async (extra: Record<string, unknown>) => {
    const id = await createFlow(m.api, [[echo]], extra);
    flows.push(id);
    return id;
  };
  const cronCount = async (flowId: number) => Number((await knex()('task_flow_ins').where({ flow_id: flowId, trigger_type: 'CRON' }).count({ n: '*' }))[0].n);
  async function expect400(flowId: number, body: unknown, field: string): Promise<string> {
    const r = await m.api('PATCH', `/flow/${flowId}`, body);
    expect(r.status, r.text).to.equal(400);
    expect(r.body).to.deep.include({ code: '400', data: null });
    expect(r.body.message.startsWith(`${field}: `), r.body.message).to.equal(true);
    return r.body.message;
  }

  it('changes cronEnabled and cronMisfire in place: same version, no new nodes, updateUser and updateTime set', async () => {
    const flowId = await flow({ cron: '0 0 1 1 *', cronEnabled: true });
    await knex()('task_flow').where('flow_id', flowId).update({ update_time: new Date(Date.now() - 60_000) });
    const nodesBefore = await knex()('task_node').where('flow_id', flowId).select('node_id');
    const r = await m.api('PATCH', `/flow/${flowId}`, { cronEnabled: false, cronMisfire: 'SKIP' }, { 'X-User': 'alice' });
    expect(r.status, r.text).to.equal(200);
    expect(r.body.data).to.deep.include({ flowId, flowVersion: 1, cron: '0 0 1 1 *', cronEnabled: false, cronMisfire: 'SKIP', nextRunTime: null });
    expect(r.body.data.flowNodes).to.have.length(3);
    const row = await knex()('task_flow').where('flow_id', flowId).first();
    expect(row.flow_version).to.equal(1);
    expect(Boolean(row.cron_enabled)).to.equal(false);
    expect(row.cron_misfire).to.equal('SKIP');
    expect(row.update_user).to.equal('alice');
    expect(Date.now() - new Date(row.update_time).getTime()).to.be.lessThan(10_000);
    expect(await knex()('task_node').where('flow_id', flowId).select('node_id')).to.deep.equal(nodesBefore);

    // flowId repeating the path's is taken; cronMisfire null goes back to the default.
    const back = await m.api('PATCH', `/flow/${flowId}`, { flowId, cronEnabled: true, cronMisfire: null });
    expect(back.status, back.text).to.equal(200);
    expect(back.body.data).to.deep.include({ flowVersion: 1, cronEnabled: true, cronMisfire: 'FIRE_ONCE' });
    expect(back.body.data.nextRunTime).to.match(TIME);
  });

  it('refuses other fields naming them, bad values, enabling a flow with no cron, and unknown flows; nothing changes', async () => {
    const flowId = await flow({ cron: '0 0 1 1 *', cronEnabled: false });
    const before = await knex()('task_flow').where('flow_id', flowId).first();
    const msg = await expect400(flowId, { cronEnabled: true, flowName: 'renamed', flowNodes: [] }, 'flowName, flowNodes');
    expect(msg).to.contain('POST /flow');
    await expect400(flowId, { cron: '* * * * *' }, 'cron');
    await expect400(flowId, { cronEnabled: 'yes' }, 'cronEnabled');
    await expect400(flowId, { cronMisfire: 'LATER' }, 'cronMisfire');
    await expect400(flowId, { flowId: flowId + 1, cronEnabled: true }, 'flowId');
    await expect400(flowId, {}, 'body');
    await expect400(flowId, [1], 'body');
    const noCron = await flow({});
    await expect400(noCron, { cronEnabled: true }, 'cronEnabled');
    expect(await knex()('task_flow').where('flow_id', flowId).first()).to.deep.equal(before);
    // The old way to switch a cron off (re-POSTing only it) points to PATCH.
    const post = await m.api('POST', '/flow', { flowId, cronEnabled: false });
    expect(post.status, post.text).to.equal(400);
    expect(post.body.message).to.equal(`flowName: is required to save a new version; to change only cronEnabled or cronMisfire, send PATCH /flow/${flowId}`);
    const missing = await m.api('PATCH', '/flow/999999999', { cronEnabled: false });
    expect(missing.status, missing.text).to.equal(404);
    const badId = await m.api('PATCH', '/flow/x', { cronEnabled: false });
    expect(badId.status, badId.text).to.equal(400);
  });

  it('answers nextRunTime on GET and the list: the next tick while enabled, null while off, absent without a cron', async () => {
    const on = await flow({ cron: '0 30 4 * * *', cronEnabled: true });
    const off = await flow({ cron: '0 30 4 * * *', cronEnabled: false });
    const none = await flow({});
    const got = (await m.api('GET', `/flow/${on}`)).body.data;
    expect(got.nextRunTime).to.match(TIME);
    expect(got.nextRunTime.slice(11)).to.equal('04:30:00');
    const next = new Date(got.nextRunTime.replace(' ', 'T')).getTime();
    expect(next).to.be.greaterThan(Date.now() - 1000);
    expect(next - Date.now()).to.be.at.most(24 * 3600_000 + 1000);
    expect((await m.api('GET', `/flow/${off}`)).body.data.nextRunTime).to.equal(null);
    expect((await m.api('GET', `/flow/${none}`)).body.data).to.not.have.property('nextRunTime');
    const list = (await m.api('GET', '/flow?pageSize=200')).body.data.list;
    const byId = new Map(list.map((f: any) => [f.flowId, f]));
    expect((byId.get(on) as any).nextRunTime).to.equal(got.nextRunTime);
    expect((byId.get(off) as any).nextRunTime).to.equal(null);
    expect(byId.get(none)).to.not.have.property('nextRunTime');
  });

  it('nextRunTime is the first tick strictly after now, in server time', () => {
    const at = new Date(2031, 4, 6, 7, 8, 9);
    expect(nextRunTime('*/15 * * * *', at)).to.equal('2031-05-06 07:15:00');
    expect(nextRunTime('@daily', at)).to.equal('2031-05-07 00:00:00');
    expect(nextRunTime('0 0 29 2 *', at)).to.equal('2032-02-29 00:00:00');
  });

  it('the leader stops firing within seconds of a pause and starts again after a resume', async () => {
    expect(m.cluster.isLeader()).to.equal(true);
    const flowId = await flow({ cron: '* * * * * *', cronEnabled: true });
    await waitFor('the cron to fire', async () => (await cronCount(flowId)) >= 1, 20_000, 100);
    // The leader's schedule against the flows enabled in the database (other tests' count too). A flow
    // fires as soon as it is scheduled, but counts as scheduled once its catch-up is over: wait for that.
    const enabled = async () => Number((await knex()('task_flow').where('cron_enabled', true).whereNotNull('cron').whereNull('deleted_time').count({ n: '*' }))[0].n);
    const scheduledAsEnabled = async () => m.cluster.stats!().cron.scheduled === (await enabled());
    await waitFor('the leader to count it scheduled', scheduledAsEnabled, 10_000, 100);
    const scheduled = m.cluster.stats!().cron.scheduled;
    const paused = await m.api('PATCH', `/flow/${flowId}`, { cronEnabled: false });
    expect(paused.status, paused.text).to.equal(200);
    expect(await enabled()).to.equal(scheduled - 1);
    await waitFor('the leader to unschedule it', scheduledAsEnabled, 10_000, 100);
    // Unscheduled: no tick fires any more (one already under way may still land, so count after that).
    const settled = await cronCount(flowId);
    const quietUntil = Date.now() + 2_500;
    await waitFor('2.5 s of quiet', async () => Date.now() > quietUntil, 5_000, 100);
    expect(await cronCount(flowId), 'no tick while paused').to.be.at.most(settled + 1);
    const stillPaused = await cronCount(flowId);

    const resumed = await m.api('PATCH', `/flow/${flowId}`, { cronEnabled: true });
    expect(resumed.status, resumed.text).to.equal(200);
    expect(resumed.body.data.flowVersion).to.equal(1);
    await waitFor('a tick after the resume', async () => (await cronCount(flowId)) > stillPaused, 20_000, 100);
    // The resume caught up nothing from the pause: every tick is after the PATCH's update_time.
    const updated = new Date((await knex()('task_flow').where('flow_id', flowId).first()).update_time).getTime();
    const after = await knex()('task_flow_ins').where({ flow_id: flowId, trigger_type: 'CRON' }).where('create_time', '>', new Date(updated));
    for (const r of after) expect(new Date(r.scheduled_time).getTime()).to.be.at.least(Math.floor(updated / 1000) * 1000);
    await m.api('PATCH', `/flow/${flowId}`, { cronEnabled: false });
  });
});
