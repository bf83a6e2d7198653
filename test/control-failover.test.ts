// Control flow across a member's death (issue 19): instances waiting on SIGNAL nodes (with and without
// a timeout) and on sub-flows whose children are mid-task when the leading member is SIGKILLed. The wait
// is only rows in MySQL, so the survivor takes the signals, times the timeouts out as the new leader,
// reaps the children's lost runs, and every instance completes. Real processes (helpers/processes.ts).
import { expect } from 'chai';
import type { Knex } from 'knex';
import { freshPrefix } from './helpers/env.js';
import { Processes, retireFlows, testDb } from './helpers/processes.js';
import { createTask } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import type { Api } from './helpers/member.js';

describe('control flow: a member SIGKILLed while instances wait on signals and sub-flows (real processes)', function () {
  this.timeout(90_000);
  let knex: Knex;
  let procs: Processes;
  const flows: number[] = [];
  before(() => { knex = testDb(); });
  after(async () => { await knex.destroy(); });
  beforeEach(() => { procs = new Processes(freshPrefix()); });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(procs.dump());
    await procs.killAll();
    await retireFlows(knex, flows);
  });

  const save = async (api: Api, flowNodes: unknown[]) => {
    const r = await api('POST', '/flow', { flowName: 'failover control', flowNodes });
    expect(r.status, r.text).to.equal(200);
    flows.push(r.body.data.flowId);
    return r.body.data.flowId as number;
  };
  const start = async (api: Api, flowId: number) => {
    const r = await api('POST', `/exec/flow/${flowId}`, { input: {} });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };

  it('every waiting instance completes on the survivor', async () => {
    const a = await procs.start({ id: 'cf-a', roles: 'web,worker' });
    const b = await procs.start({ id: 'cf-b', roles: 'web,worker' });
    expect(await procs.leader()).to.equal('cf-a');
    const START = { nodeType: 'START' };
    const END = { nodeType: 'END' };
    const use = await createTask(a.api, 'ECHO', 'by ${nodes.approve.output.by}');
    const wait = await createTask(a.api, 'WAIT', null, { waitMs: 2500 });
    const after = await createTask(a.api, 'ECHO', 'child: ${nodes.sub.output.w}');
    const signalled = await save(a.api, [START, { nodeType: 'SIGNAL', nodeKey: 'approve' }, { nodeType: 'TASK', nodeKey: 'use', taskIds: String(use) }, END]);
    const timed = await save(a.api, [START, { nodeType: 'SIGNAL', nodeKey: 'approve', timeoutMs: 4000, onTimeout: 'SUCCESS' }, END]);
    const child = await save(a.api, [START, { nodeType: 'TASK', nodeKey: 'w', taskIds: String(wait) }, END]);
    const parent = await save(a.api, [START, { nodeType: 'SUB_FLOW', nodeKey: 'sub', flowId: child }, { nodeType: 'TASK', nodeKey: 'after', taskIds: String(after) }, END]);

    const sig: number[] = [];
    const tim: number[] = [];
    const par: number[] = [];
    for (let i = 0; i < 8; i++) sig.push(await start(a.api, signalled));
    for (let i = 0; i < 4; i++) tim.push(await start(a.api, timed));
    for (let i = 0; i < 6; i++) par.push(await start(a.api, parent));
    // Every SIGNAL waits, every child runs its WAIT task; then the leader dies.
    await waitFor('signals waiting and children running', async () => {
      const waiting = await knex('task_node_ins as ni').join('task_node as n', 'n.node_id', 'ni.node_id').where('n.node_type', 'SIGNAL').where('ni.status', 'RUNNING').whereIn('ni.fi_id', [...sig, ...tim]).count('* as n').first();
      const kids = await knex('task_flow_ins as c').join('task_ins as ti', 'ti.fi_id', 'c.fi_id').whereIn('c.parent_fi_id', par).where('ti.exec_status', 'RUNNING').count('* as n').first();
      return Number(waiting!.n) === 12 && Number(kids!.n) === 6;
    }, 20_000, 100);
    a.kill('SIGKILL');
    await a.exited;

    // The survivor answers the signals (the wait was a row, nobody held it).
    for (const fiId of sig) {
      const r = await b.api('POST', `/exec/flow-ins/${fiId}/signal/approve`, { payload: { by: `p${fiId}` } });
      expect(r.status, r.text).to.equal(200);
    }
    await waitFor('every instance to end', async () => {
      const open = await knex('task_flow_ins').whereIn('fi_id', [...sig, ...tim, ...par]).where('status', 'RUNNING').count('* as n').first();
      return Number(open!.n) === 0;
    }, 45_000, 200);
    const rows = await knex('task_flow_ins').select('fi_id', 'status', 'error_msg').whereIn('fi_id', [...sig, ...tim, ...par]);
    expect(rows.filter((r: any) => r.status !== 'SUCCESS')).to.deep.equal([]);
    expect(await procs.leader()).to.equal('cf-b');
    for (const fiId of sig) {
      const [ti] = await knex('task_ins as ti').join('task_node_ins as ni', 'ni.ni_id', 'ti.ni_id').where('ti.fi_id', fiId).select('ti.output');
      expect(ti.output).to.equal(`by p${fiId}`);
    }
    for (const fiId of par) {
      const outs = await knex('task_ins').where('fi_id', fiId).select('output');
      expect(outs.map((o: any) => o.output)).to.deep.equal(['child: waited 2500 ms']);
    }
    // One child per parent, however the death fell.
    const kids = await knex('task_flow_ins').whereIn('parent_fi_id', par).select('parent_fi_id', 'status');
    expect(kids).to.have.length(6);
    expect(kids.every((k: any) => k.status === 'SUCCESS')).to.equal(true);
  });
});
