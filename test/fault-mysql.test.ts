// MariaDB faults with real member processes on a mariadbd and a redis-server of the test's own
// (helpers/privateServices.ts; one initialised datadir per test process, copied per test): the server
// SIGKILLed mid-run and restarted on its datadir, and frozen while the API is asked for work.
// Issue 9: every flow ends SUCCESS, nothing is recorded twice, no member exits, the cluster settles
// within seconds of MariaDB's return (measured and printed), and an outage is a quick 503, never a hang.
import { expect } from 'chai';
import type { Knex } from 'knex';
import { freshPrefix } from './helpers/env.js';
import { createKnex } from '../src/infra/db.js';
import { Processes } from './helpers/processes.js';
import { PrivateMariaDb, PrivateRedis } from './helpers/privateServices.js';
import { createFlow, createTask } from './helpers/flows.js';
import { checkOutcome, midRun, report, rerunCount, sleep, startMany, waitAllEnded } from './helpers/faultRun.js';
import { waitFor } from './helpers/wait.js';

const FLOWS = 80;
const STEPS = 3;
const STEP_MS = 300;
const SETTLE_MS = 60_000;
const API_DEADLINE_MS = 6_000;

describe('faults: MariaDB (private mariadbd, real member processes)', function () {
  this.timeout(180_000);
  let mariadb: PrivateMariaDb;
  let redis: PrivateRedis;
  let procs: Processes;
  let knex: Knex;

  beforeEach(async () => {
    [mariadb, redis] = await Promise.all([PrivateMariaDb.start(), PrivateRedis.start()]);
    const databaseUrl = mariadb.url('task_schedule_faults');
    procs = new Processes(freshPrefix(), { env: { DATABASE_URL: databaseUrl, REDIS_URL: redis.url } });
    knex = createKnex(databaseUrl, 4);
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`${procs.dump()}\n--- mariadb log ---\n${mariadb.logTail()}`);
    mariadb.signal('SIGCONT');
    await procs.killAll();
    await knex.destroy();
    await Promise.all([mariadb.stop(), redis.stop()]);
  });

  it('d. SIGKILL mid-run, restarted on its datadir after 1.5 s: every flow ends SUCCESS, nothing twice, no member exits', async () => {
    // Leases and the reconciler on their production settings, so the printed recovery time is the one a
    // user would see: the issue asks that the cluster settle within seconds of MariaDB's return (11–12 s
    // observed), not when leases run out or the reconciler's next round comes.
    const env = { WORKER_CONCURRENCY: '8', LEASE_MS: '30000', RECONCILE_INTERVAL_MS: '15000' };
    const web = await procs.start({ id: 'mk-a', roles: 'web,worker', env });
    await procs.start({ id: 'mk-b', roles: 'worker', env });
    const wait = await createTask(web.api, 'WAIT', null, { waitMs: STEP_MS });
    const flowId = await createFlow(web.api, Array.from({ length: STEPS }, () => [wait]));
    const fiIds = await startMany(web.api, flowId, FLOWS);
    const at = await midRun(knex, fiIds, { succeeded: 40, running: 4 });

    const killedAt = Date.now();
    await mariadb.kill();
    await sleep(1_500); // the outage itself
    await mariadb.restart();
    const backAt = Date.now();
    const settledAt = await waitAllEnded(knex, fiIds, procs, SETTLE_MS);
    report('MariaDB SIGKILL + restart', {
      'at the kill': JSON.stringify(at), 'restart took': backAt - killedAt - 1_500, 'kill → all settled': settledAt - killedAt,
      'MariaDB back → all settled': settledAt - backAt, 'task instances run more than once': String(await rerunCount(knex, fiIds)),
    });
    await checkOutcome(knex, fiIds, procs, { tasksPerFlow: STEPS });
  });

  it('g. while MariaDB is frozen, /readyz and GET /task answer 503 in the envelope at once, and both serve again once it is back', async () => {
    const m = await procs.start({ id: 'mg-web', roles: 'web,worker' });
    await createTask(m.api, 'ECHO', 'hello');
    const timed = async (method: string, path: string) => {
      const t0 = Date.now();
      const r = await Promise.race([
        m.api(method, path),
        sleep(API_DEADLINE_MS).then(() => { throw new Error(`${method} ${path} did not answer within ${API_DEADLINE_MS} ms (a hang)`); }),
      ]);
      return { ...r, ms: Date.now() - t0 };
    };

    mariadb.signal('SIGSTOP');
    const stoppedAt = Date.now();
    const problems: string[] = [];
    const figures: Record<string, number> = {};
    for (const path of ['/readyz', '/task?page=1&pageSize=5']) {
      try {
        const r = await timed('GET', path);
        figures[`GET ${path}`] = r.ms;
        if (r.status !== 503 || r.body?.code !== '503') problems.push(`GET ${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
        else if (path === '/readyz') {
          if (r.body.data?.mysql === 'ok' || r.body.data?.redis !== 'ok') problems.push(`/readyz says ${JSON.stringify(r.body.data)}`);
        } else if (r.body.data !== null || !/mysql|mariadb|database/i.test(r.body.message)) problems.push(`GET ${path}: not the envelope naming MySQL: ${r.text.slice(0, 300)}`);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    report('MariaDB frozen: answer times', figures);
    mariadb.signal('SIGCONT');
    const backAt = Date.now();
    if (!m.alive()) problems.push(`the member exited while MariaDB was frozen: ${m.output().slice(-3000)}`);

    try {
      await waitFor('/readyz 200 after SIGCONT', async () => (await m.api('GET', '/readyz')).status === 200, 20_000, 100);
      const readyIn = Date.now() - backAt;
      const r = await timed('GET', '/task?page=1&pageSize=5');
      if (r.status !== 200 || r.body.data.total < 1) throw new Error(`GET /task after the outage answered ${r.status}: ${r.text.slice(0, 300)}`);
      report('MariaDB frozen, then back', { 'frozen for': backAt - stoppedAt, 'SIGCONT → /readyz 200': readyIn });
    } catch (e) {
      problems.push(`after MariaDB came back: ${(e as Error).message}`);
    }
    if (problems.length) throw new Error(problems.join('\n'));
    expect(procs.unexpectedExits()).to.deep.equal([]);
  });
});
