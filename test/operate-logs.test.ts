// Logs that tell the story at the default level (issue 22): at info, one line per flow instance that
// did not succeed (failed at a node, or cancelled), the start-up steps, the progress of a shutdown that
// waits for running tasks, and with LOG_REQUESTS=true one line per request (never a body or a secret).
// An in-process member whose log lines the test reads.
import { expect } from 'chai';
import type { DestinationStream } from 'pino';
import { loadConfig } from '../config/index.js';
import { startMember } from '../src/member.js';
import { createLogger } from '../src/infra/logger.js';
import { DRAIN_PROGRESS_MS } from '../src/engine/worker.js';
import { baseEnv, isolated } from './helpers/env.js';
import { apiClient, type Api } from './helpers/member.js';
import { createFlow, createTask, startFlow, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

type Line = Record<string, any>;

async function startLogged(env: Record<string, string>): Promise<{ m: Awaited<ReturnType<typeof startMember>>; api: Api; lines: Line[] }> {
  const lines: Line[] = [];
  const sink: DestinationStream = { write: (s: string) => void lines.push(JSON.parse(s)) };
  const config = loadConfig(baseEnv({ ...isolated(), LOG_LEVEL: 'info', ...env }));
  const m = await startMember(config, createLogger(config.logLevel, {}, config.httpTaskSecretHeaders, sink));
  return { m, api: apiClient(m.url!), lines };
}

describe('operate: logs at the default level', function () {
  this.timeout(60_000);

  it('LOG_FORMAT is json (the default) or pretty, LOG_REQUESTS true or false; anything else is a configuration error naming it', () => {
    const env = (e: Record<string, string>) => loadConfig(baseEnv(e));
    expect(env({})).to.deep.include({ logFormat: 'json', logRequests: false });
    expect(env({ LOG_FORMAT: 'Pretty', LOG_REQUESTS: 'true' })).to.deep.include({ logFormat: 'pretty', logRequests: true });
    expect(() => env({ LOG_FORMAT: 'xml' })).to.throw(/^LOG_FORMAT must be json or pretty, got "xml"$/);
    expect(() => env({ LOG_REQUESTS: 'maybe' })).to.throw(/^LOG_REQUESTS must be true or false/);
  });

  describe('a member with the web and worker roles, LOG_REQUESTS=true', () => {
    let m: Awaited<ReturnType<typeof startMember>>;
    let api: Api;
    let lines: Line[];
    const SECRET = 'a-long-secret-for-the-log-test';
    const auth = { Authorization: `Bearer ${SECRET}` };
    before(async () => {
      ({ m, api, lines } = await startLogged({ ROLES: 'web,worker', LOG_REQUESTS: 'true', API_TOKENS: `ops:${SECRET}` }));
    });
    after(async () => { await m?.stop(1000); });
    const authed: Api = (method, path, body, headers = {}) => api(method, path, body, { ...auth, ...headers });

    it('says the start-up steps: joined the cluster (roles), the worker, the listening address, the leadership', async () => {
      const msgs = lines.map((l) => l.msg);
      expect(lines.find((l) => l.msg === 'joined the cluster')).to.deep.include({ roles: ['web', 'worker'] });
      expect(lines.find((l) => l.msg === 'web role listening')).to.include.keys('address', 'port', 'roles');
      expect(msgs).to.include('worker role started');
      await waitFor('the leadership line', async () => lines.some((l) => l.msg === 'elected leader'));
      expect(lines.every((l) => l.level >= 30), 'nothing below info').to.equal(true);
    });

    it('one info line for a flow instance that failed: fiId, flowId, status, the failing node\'s key, the error, the duration', async () => {
      const echo = await createTask(authed, 'ECHO', 'fine');
      const boom = await createTask(authed, 'EXCEPTION', 'the card was declined');
      const r = await authed('POST', '/flow', {
        flowName: 'fails at charge',
        flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(echo) }, { nodeType: 'TASK', taskIds: String(boom), nodeKey: 'charge' }, { nodeType: 'END' }],
      });
      expect(r.status, r.text).to.equal(200);
      const flowId = r.body.data.flowId;
      const fiId = await startFlow(authed, flowId);
      expect((await waitForEnd(authed, fiId)).status).to.equal('FAILED');
      const line = await waitFor('the failure line', async () => lines.find((l) => l.msg === 'flow instance did not succeed' && l.fiId === fiId));
      expect(line).to.deep.include({ level: 30, fiId, flowId, status: 'FAILED', nodeKey: 'charge', error: 'the card was declined' });
      expect(line.durationMs).to.be.a('number').and.at.least(0);
      // A flow that succeeds says nothing at info.
      const ok = await startFlow(authed, await createFlow(authed, [[echo]]));
      expect((await waitForEnd(authed, ok)).status).to.equal('SUCCESS');
      expect(lines.filter((l) => l.fiId === ok && l.msg === 'flow instance did not succeed')).to.have.length(0);
    });

    it('one info line for a cancelled instance, saying who cancelled it', async () => {
      const slow = await createTask(authed, 'WAIT', null, { waitMs: 30_000 });
      const flowId = await createFlow(authed, [[slow]]);
      const fiId = await startFlow(authed, flowId);
      expect((await authed('POST', `/exec/flow-ins/${fiId}/cancel`)).status).to.equal(200);
      const line = await waitFor('the cancel line', async () => lines.find((l) => l.msg === 'flow instance did not succeed' && l.fiId === fiId));
      expect(line).to.deep.include({ fiId, flowId, status: 'CANCELLED', nodeKey: null, error: 'cancelled by ops' });
    });

    it('LOG_REQUESTS=true: one line per request with method, path, status, ms and the token\'s name, never the body or the secret', async () => {
      const n = lines.length;
      await authed('POST', '/task?note=x', { taskName: 'logged', taskType: 'ECHO', taskContent: 'body-text-never-logged' });
      await api('GET', '/task/1');
      const http = lines.slice(n).filter((l) => l.msg === 'http');
      expect(http).to.have.length(2);
      expect(http[0]).to.deep.include({ level: 30, method: 'POST', path: '/task', status: 200, token: 'ops' });
      expect(http[0].ms).to.be.a('number');
      expect(http[1]).to.deep.include({ method: 'GET', path: '/task/1', status: 401, token: null });
      const text = JSON.stringify(lines);
      expect(text).not.to.include('body-text-never-logged');
      expect(text).not.to.include(SECRET);
    });
  });

  it('a shutdown that waits for running tasks says what it waits for every few seconds, then that it handed them back', async function () {
    this.timeout(60_000);
    const { m, api, lines } = await startLogged({ ROLES: 'web,worker' });
    let stopped = false;
    try {
      const slow = await createTask(api, 'WAIT', null, { waitMs: 60_000 });
      const fiId = await startFlow(api, await createFlow(api, [[slow]]));
      const tiId = await waitFor('the WAIT to run', async () => {
        const row = await m.services.knex('task_ins').where({ fi_id: fiId, exec_status: 'RUNNING' }).first();
        return row?.ti_id as number | undefined;
      });
      // RUNNING in MySQL comes a moment before the worker has the run in hand: wait for that too.
      await waitFor('the worker to hold the run', async () => (m.engine.worker?.running === 1 ? true : undefined));
      await m.stop(DRAIN_PROGRESS_MS + 1500);
      stopped = true;
      const drain = lines.filter((l) => String(l.msg).startsWith('draining') || String(l.msg).startsWith('drained'));
      expect(drain.length, JSON.stringify(drain)).to.be.at.least(3);
      expect(drain[0]).to.deep.include({ level: 30, running: 1 });
      expect(drain[0].tasks).to.deep.equal([{ tiId, fiId, taskType: 'WAIT' }]);
      expect(drain[0].msg).to.match(/waiting up to \d+ ms/);
      expect(drain.some((l) => l.msg === 'draining: still waiting for running tasks' && l.running === 1), 'a progress line while it waits').to.equal(true);
      expect(drain.at(-1)).to.deep.include({ handedBack: true });
      expect(drain.at(-1)!.msg).to.match(/^drained: .*handed back/);
    } finally {
      if (!stopped) await m.stop(0);
    }
  });
});
