// The Python example worker (examples/python/worker.py, standard library only) against a real member:
// it takes WORKER tasks of a flow, its output feeds the next node, and a failure it raises is retried.
// Skipped, with a message, where python3 is not installed.
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, waitForEnd } from './helpers/flows.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const python = spawnSync('python3', ['--version']).status === 0;

describe('the Python example worker', function () {
  this.timeout(60_000);
  let m: TestMember;
  let child: ChildProcess | null = null;
  before(async function () {
    if (!python) {
      console.log('    (skipped: python3 is not installed, so examples/python/worker.py cannot run here)');
      this.skip();
    }
    m = await startTestMember({ ...isolated(), ROLES: 'web' });
  });
  after(async () => {
    child?.kill('SIGKILL');
    await m?.stop(100);
  });

  it('works a flow of WORKER tasks: input, content and output through the protocol', async () => {
    const queue = 'py';
    const a = await createTask(m.api, 'WORKER', 'for ${input.who}', { queue, input: { who: '${input.who}', n: [1, 2] } });
    const b = await createTask(m.api, 'WORKER', null, { queue, input: { prev: '${nodes.a.output.input.who}' }, maxRetries: 1, retryBackoffMs: 0 });
    const c = await createTask(m.api, 'WORKER', null, { queue, input: { fail: 'on purpose' }, maxRetries: 1, retryBackoffMs: 0 });
    const flow = await m.api('POST', '/flow', { flowName: 'py', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'a', taskIds: String(a) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(b) }, { nodeType: 'END' }] });
    const fiId = (await m.api('POST', `/exec/flow/${flow.body.data.flowId}`, { input: { who: 'Grace' } })).body.data.fiId;
    const failing = (await m.api('POST', `/exec/task/${c}`)).body.data.tiId;
    let out = '';
    child = spawn('python3', ['examples/python/worker.py', '--url', m.url!, '--queue', queue, '--worker-id', 'py-1', '--wait-ms', '2000', '--max-tasks', '4'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child!.on('exit', r));
    expect((await waitForEnd(m.api, fiId, 30_000)).status, out).to.equal('SUCCESS');
    const rows = await m.services.knex('task_ins').where('fi_id', fiId).orderBy('ti_id');
    expect(JSON.parse(rows[0].output)).to.deep.equal({ python: true, input: { who: 'Grace', n: [1, 2] }, content: 'for Grace', attempt: 1 });
    expect(JSON.parse(rows[1].output).input).to.deep.equal({ prev: 'Grace' });
    expect(rows.map((r: any) => r.worker_id)).to.deep.equal(['py-1', 'py-1']);
    expect(await exited, out).to.equal(0); // four tasks: a, b, and c twice (retried once, then FAILED)
    const [f] = await m.services.knex('task_ins').where('ti_id', failing);
    expect(f).to.include({ exec_status: 'FAILED', attempt: 2, error_msg: 'asked to fail: on purpose' });
  });
});
