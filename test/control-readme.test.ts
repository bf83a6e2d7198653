// README's worked examples of control flow, run as written: every `curl` line of the block is sent to a
// member on a fresh database, and the answers the comments promise are checked.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { detail, flowRow, waitForEnd } from './helpers/flows.js';

describe("README: control flow's worked examples", function () {
  this.timeout(60_000);
  let m: TestMember;
  before(async () => { m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '8' }); });
  after(async () => { await m.stop(1000); });

  it('runs as written and answers what the comments say', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const at = readme.indexOf('Worked examples (fresh database; ids as created):');
    const block = readme.slice(readme.indexOf('```sh', at), readme.indexOf('\n```\n', at + 10));
    const calls = block.split('\n').filter((l) => l.startsWith('curl')).map((l) => {
      const path = /localhost:8080(\S+)/.exec(l)![1];
      const body = /-d '(.*?)'(\s|$)/.exec(l)![1];
      return { path, body: JSON.parse(body) };
    });
    expect(calls).to.have.length(17);
    const answers: { path: string; status: number; data: any; message: string }[] = [];
    for (const c of calls) {
      // The signal examples wait for their node (the start has committed it as waiting already).
      const r = await m.api('POST', c.path, c.body);
      answers.push({ path: c.path, status: r.status, data: r.body?.data, message: r.body?.message });
      if (c.path.startsWith('/exec/flow/') && r.status === 200 && c.path !== '/exec/flow/2') await waitForEnd(m.api, r.body.data.fiId);
    }
    const signals = answers.filter((a) => a.path.includes('/signal/'));
    expect(signals.map((a) => a.status)).to.deep.equal([200, 409]);
    expect(signals[0].data.status).to.equal('SUCCESS');
    expect((await waitForEnd(m.api, 1)).result).to.deep.equal({ join: '[reviewed][]' });
    expect((await detail(m.api, 1)).find((n: any) => n.nodeKey === 'auto')).to.include({ status: 'SKIPPED' });
    expect((await waitForEnd(m.api, 2)).result).to.deep.equal({ ship: 'shipped, approved by ada' });
    expect((await waitForEnd(m.api, 3)).result).to.deep.equal({ report: 'child said [][auto]' });
    expect(await flowRow(m.api, 4)).to.include({ parentFiId: 3, status: 'SUCCESS' });
    expect((await waitForEnd(m.api, 5)).result).to.deep.equal({ m: ['#0 a.png resized', '#1 b.png resized', '#2 c.png resized'] });
  });
});
