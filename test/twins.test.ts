// The hot path's batch statements (src/engine/sql/) and their single-row twins in the models
// (src/models/instances.ts) make the same transitions: each pair is run on twin rows, and the rows
// compared column by column (ids and the instants of the run aside).
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask } from './helpers/flows.js';
import { startRuns } from '../src/engine/sql/startRuns.js';
import { finishRunsStatements, writtenOf } from '../src/engine/sql/finishRuns.js';
import { writeTransitions } from '../src/engine/sql/transitionWrites.js';
import { inTx, sendTogether } from '../src/engine/sql/multiStatement.js';
import { FlowIns, NodeIns, TaskIns } from '../src/models/index.js';
import type { FinishedRun, RunResult } from '../src/engine/taskRun.js';

const COMPARED = ['exec_status', 'attempt', 'lost_attempts', 'version', 'worker_id', 'output', 'error_msg', 'task_id'];
const pick = (r: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.map((k) => [k, r[k]]));

describe('batch twins: the hot path and the models make the same rows', () => {
  let m: TestMember;
  let taskId: number;
  before(async () => {
    m = await startTestMember({ ...isolated(), ROLES: 'web' });
    taskId = await createTask(m.api, 'ECHO', 'twin');
  });
  after(async () => { await m.stop(); });

  const knex = () => m.services.knex;
  async function pendingRows(n: number): Promise<number[]> {
    const now = new Date();
    const ids: number[] = [];
    for (let i = 0; i < n; i++) ids.push((await knex()('task_ins').insert({ task_id: taskId, exec_status: 'PENDING', attempt: i, lost_attempts: i % 2, version: 3, create_time: now, update_time: now }))[0]);
    return ids;
  }
  const rows = async (ids: number[]) => (await knex()('task_ins').whereIn('ti_id', ids).orderBy('ti_id')).map((r: Record<string, unknown>) => pick(r, COMPARED));

  it('startRuns ≡ TaskIns#markRunning', async () => {
    const [batch, single] = [await pendingRows(3), await pendingRows(3)];
    const { runs } = await startRuns(knex(), batch, 'twin-worker');
    expect(runs).to.have.length(3);
    for (const id of single) await (await TaskIns.query(knex()).findById(id))!.markRunning('twin-worker', new Date(), knex());
    expect(await rows(single)).to.deep.equal(await rows(batch));
  });

  it('finishRuns ≡ TaskIns.finishRun, for every kind of result, and both refuse a stale run', async () => {
    const [batch, single] = [await pendingRows(4), await pendingRows(4)];
    const { runs } = await startRuns(knex(), batch, 'w');
    const { runs: singleRuns } = await startRuns(knex(), single, 'w');
    const results: RunResult[] = [
      { status: 'SUCCESS', output: 'out', error: null },
      { status: 'FAILED', output: null, error: 'boom' },
      { status: 'RETRY', output: null, error: 'again' },
      { status: 'RETRY', output: null, error: 'handed back', notCounted: true },
    ];
    const endedAt = new Date();
    // The fourth run's row moved on meanwhile (a reaper): both twins refuse its result.
    await knex()('task_ins').whereIn('ti_id', [batch[3], single[3]]).increment('version', 1);
    const items: FinishedRun[] = runs.map((run, i) => ({ run, result: results[i], endedAt }));
    const now = new Date();
    const written = await writtenOf(knex(), items, now, await sendTogether(knex(), finishRunsStatements(items, now)));
    expect(written).to.deep.equal([true, true, true, false]);
    const singleWritten: boolean[] = [];
    for (const [i, run] of singleRuns.entries()) {
      const r = results[i];
      const status = r.status === 'RETRY' ? 'PENDING' : r.status;
      try {
        await TaskIns.finishRun(run.tiId, run.version, { exec_status: status, end_time: endedAt, output: r.output, error_msg: r.error, notCounted: r.notCounted }, now, knex());
        singleWritten.push(true);
      } catch {
        singleWritten.push(false);
      }
    }
    expect(singleWritten).to.deep.equal(written);
    expect(await rows(single)).to.deep.equal(await rows(batch));
  });

  it('transitionWrites ≡ the models\' fenced flow update, node end, cancel and NodeIns.enter', async () => {
    const now = new Date();
    const node = (await knex()('task_node').insert({ flow_id: 1, flow_version: 1, seq: 1, node_type: 'TASK', task_ids: `${taskId},${taskId}`, completion: 'ANY', create_time: now, update_time: now }))[0];
    async function instance(): Promise<{ fiId: number; niId: number; tiIds: number[] }> {
      const fiId = (await knex()('task_flow_ins').insert({ flow_id: 1, flow_version: 1, start_time: now, status: 'RUNNING', version: 4, create_time: now, update_time: now }))[0];
      const niId = (await knex()('task_node_ins').insert({ fi_id: fiId, node_id: node, start_time: now, status: 'RUNNING', version: 0, create_time: now, update_time: now }))[0];
      const tiIds: number[] = [];
      for (const st of ['SUCCESS', 'RUNNING']) tiIds.push((await knex()('task_ins').insert({ fi_id: fiId, ni_id: niId, task_id: taskId, exec_status: st, attempt: 1, version: 2, create_time: now, update_time: now }))[0]);
      return { fiId, niId, tiIds };
    }
    const a = await instance();
    const b = await instance();
    // The batch: fence, end the node, cancel the task it no longer needs, enter the next node.
    await inTx(knex(), (tx) =>
      writeTransitions(tx, {
        fences: [{ fiId: a.fiId, version: 4 }],
        nodeEnds: [{ fiId: a.fiId, niId: a.niId, status: 'SUCCESS', error: null }],
        cancels: [{ fiId: a.fiId, niId: a.niId, tiId: a.tiIds[1], why: 'not needed: node succeeded' }],
        flowEnds: [],
        entered: [{ fiId: a.fiId, nodeId: node, status: 'RUNNING', taskIds: [taskId, taskId] }],
      }, { now, user: 'system', flowStart: new Map() }),
    );
    // The same through the models, one row at a time.
    await m.services.knex.transaction(async (trx) => {
      await FlowIns.patchIfVersion<FlowIns>(b.fiId, 4, { update_time: now, update_user: 'system' }, trx);
      await NodeIns.patchIfVersion<NodeIns>(b.niId, 0, { status: 'SUCCESS', end_time: now, error_msg: null, update_time: now, update_user: 'system' }, trx);
      await (await TaskIns.query(trx).findById(b.tiIds[1]))!.cancel('not needed: node succeeded', 'system', now, trx);
      await NodeIns.enter(b.fiId, node, [taskId, taskId], 'system', now, trx);
    });
    const flow = async (fiId: number) => pick((await knex()('task_flow_ins').where('fi_id', fiId).first())!, ['status', 'version']);
    expect(await flow(b.fiId)).to.deep.equal(await flow(a.fiId));
    const nodes = async (fiId: number) => (await knex()('task_node_ins').where('fi_id', fiId).orderBy('ni_id')).map((r: Record<string, unknown>) => pick(r, ['node_id', 'status', 'version', 'error_msg']));
    expect(await nodes(b.fiId)).to.deep.equal(await nodes(a.fiId));
    const tasks = async (fiId: number) => (await knex()('task_ins').where('fi_id', fiId).orderBy('ti_id')).map((r: Record<string, unknown>) => pick(r, COMPARED));
    expect(await tasks(b.fiId)).to.deep.equal(await tasks(a.fiId));
    expect((await tasks(a.fiId)).length).to.equal(4);
  });
});
