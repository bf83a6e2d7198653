// 10,000 instances waiting on a SIGNAL cost nothing while they wait (issue 19): once they wait, nothing
// writes to them — no advance, no version bump, not even the reconciler's pass over them — the leader's
// timeout scan reads through its index and finds nothing, and a signal still moves any of them on.
// (Speed is not asserted; the times are printed.)
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

const N = 10_000;

describe('control flow: 10,000 instances waiting on a signal', function () {
  this.timeout(180_000);
  let m: TestMember;
  before(async () => { m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '8' }); });
  after(async () => { await m.stop(1000); });

  it('add no writes while they wait; the timeout scan uses its index; a signal still works', async () => {
    const r = await m.api('POST', '/flow', { flowName: 'waiters', flowNodes: [{ nodeType: 'START' }, { nodeType: 'SIGNAL', nodeKey: 'go', timeoutMs: 3_600_000 }, { nodeType: 'END' }] });
    expect(r.status, r.text).to.equal(200);
    const flowId = r.body.data.flowId;
    const t0 = Date.now();
    let next = 0;
    const ids: number[] = [];
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < N) {
        next++;
        const s = await m.api('POST', `/exec/flow/${flowId}`);
        expect(s.status, s.text).to.equal(200);
        ids.push(s.body.data.fiId);
      }
    }));
    console.log(`      started ${N} waiting instances in ${Date.now() - t0} ms`);
    const knex = m.services.knex;
    const waiting = await knex('task_node_ins').where({ status: 'RUNNING' }).whereNotNull('due_time').count('* as n').first();
    expect(Number(waiting!.n)).to.equal(N);

    // Past the reconciler's grace, a pass and a few timer scans: nothing written to the waiting instances.
    const stamp = await knex('task_flow_ins').where('flow_id', flowId).max('update_time as t').first();
    const sum = async () => Number((await knex('task_flow_ins').where('flow_id', flowId).sum('version as v').first())!.v);
    const versions = await sum();
    await new Promise((res) => setTimeout(res, 3_500));
    const t1 = performance.now();
    const report = await m.cluster.reconcileNow();
    console.log(`      a reconcile pass over them: ${Math.round(performance.now() - t1)} ms, advanced ${report.advanced}`);
    expect(report.advanced).to.equal(0);
    await new Promise((res) => setTimeout(res, 1_500)); // a timer scan or two
    expect(await sum()).to.equal(versions);
    expect((await knex('task_flow_ins').where('flow_id', flowId).max('update_time as t').first())!.t).to.deep.equal(stamp!.t);

    // The leader's scan reads the (status, due_time) index and nothing else.
    const [plan] = await knex.raw("EXPLAIN SELECT fi_id FROM task_node_ins WHERE status = 'RUNNING' AND due_time <= NOW(3) ORDER BY due_time LIMIT 1000");
    expect(plan[0].key).to.equal('idx_node_ins_due');

    const one = ids[ids.length - 1];
    expect((await m.api('POST', `/exec/flow-ins/${one}/signal/go`, { payload: 1 })).status).to.equal(200);
    expect((await waitForEnd(m.api, one)).status).to.equal('SUCCESS');
    await waitFor('the others still waiting', async () => Number((await knex('task_flow_ins').where({ flow_id: flowId, status: 'RUNNING' }).count('* as n').first())!.n) === N - 1, 5_000);
  });
});
