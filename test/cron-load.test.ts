// Cron under load (issue 23 item 6): 100 flows on an every-second cron, on a slow MariaDB (a private
// mariadbd frozen and thawed in cycles: SIGSTOP/SIGCONT) with API starts running beside them. Each tick
// used to be its own start, its own transaction and its own pool connection, all at once: the cron took
// the pool and the API answered 503 "MySQL is not answering" while MySQL was there, and ticks went
// missing without a count. What must hold: the API answers every request (no 5xx); every tick of every
// flow is either an instance or counted in task_schedule_cron_ticks_missed_total; and once the flows are
// disabled the starts stop (no backlog of old ticks keeps starting).
// Real member process, private MariaDB and Redis. Speed is reported, never asserted.
import { expect } from 'chai';
import type { Knex } from 'knex';
import { createKnex } from '../src/infra/db.js';
import { freshPrefix } from './helpers/env.js';
import { Processes } from './helpers/processes.js';
import { PrivateMariaDb, PrivateRedis } from './helpers/privateServices.js';
import { createFlow, createTask } from './helpers/flows.js';
import { report, sleep } from './helpers/faultRun.js';
import { waitFor } from './helpers/wait.js';

const FLOWS = 100;
const WINDOW_MS = 20_000;
/** MariaDB frozen this long out of every FROZEN_MS + THAWED_MS: a server that answers, slowly. */
const FROZEN_MS = 200;
const THAWED_MS = 400;
/** How long the cron flows' next ticks stay locked by the test's uncommitted rows. */
const HOLD_MS = 10_000;
/** A request that has not answered by then is a hang, not a slow answer. */
const API_DEADLINE_MS = 15_000;

const metric = (text: string, name: string): number => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};

describe('cron under load (private mariadbd slowed by SIGSTOP cycles, real member process)', function () {
  this.timeout(240_000);
  let mariadb: PrivateMariaDb;
  let redis: PrivateRedis;
  let procs: Processes;
  let knex: Knex;

  beforeEach(async () => {
    [mariadb, redis] = await Promise.all([PrivateMariaDb.start(), PrivateRedis.start()]);
    const databaseUrl = mariadb.url('task_schedule_cron_load');
    procs = new Processes(freshPrefix(), { env: { DATABASE_URL: databaseUrl, REDIS_URL: redis.url } });
    knex = createKnex(databaseUrl, 2);
  });
  afterEach(async function () {
    mariadb.signal('SIGCONT');
    if (this.currentTest?.state === 'failed') console.error(`${procs.dump()}\n--- mariadb log ---\n${mariadb.logTail()}`);
    await procs.killAll();
    await knex.destroy();
    await Promise.all([mariadb.stop(), redis.stop()]);
  });

  it(`${FLOWS} every-second crons on a slow MariaDB with starts beside: the API keeps answering, no tick lost without a count, disabling stops them`, async () => {
    const m = await procs.start({ id: 'cl-a', roles: 'web,worker' });
    const echo = await createTask(m.api, 'ECHO', 'tick');
    const other = await createFlow(m.api, [[echo]]);
    const flows: number[] = [];
    for (let i = 0; i < FLOWS; i++) flows.push(await createFlow(m.api, [[echo]], { cron: '* * * * * *', cronEnabled: false }));
    // All switched on in one statement: the leader's next reload schedules them together.
    await knex('task_flow').whereIn('flow_id', flows).update({ cron_enabled: true, update_time: new Date() });
    const cronRows = async () => Number((await knex('task_flow_ins').whereIn('flow_id', flows).count({ n: '*' }))[0].n);
    await waitFor('the first cron instance', async () => (await cronRows()) >= 1, 30_000, 200);

    // The load: MariaDB frozen and thawed in cycles, API starts of another flow two at a time, and a
    // probe reading a flow one request after the other.
    let on = true;
    const cycler = (async () => {
      while (on) {
        mariadb.signal('SIGSTOP');
        await sleep(FROZEN_MS);
        mariadb.signal('SIGCONT');
        await sleep(THAWED_MS);
      }
    })();
    // Slow inserts for the cron flows alone: a transaction of the test's own inserts the rows of their
    // next ticks (uncommitted), so the cron's starts of those ticks wait on the unique key until it rolls
    // back, HOLD_MS later. Other flows' rows are not in its way: the API has no reason to wait.
    const holdTicks = async (ids: number[]) => {
      await sleep(3_000);
      const trx = await knex.transaction();
      try {
        const now = new Date();
        const first = Math.ceil(Date.now() / 1000) * 1000 + 1_000;
        const rows = ids.flatMap((flowId) => Array.from({ length: HOLD_MS / 1000 }, (_, k) => ({
          flow_id: flowId, flow_version: 1, start_time: now, status: 'RUNNING', trigger_type: 'CRON', scheduled_time: new Date(first + k * 1000),
          version: 0, create_time: now, create_user: 'test', update_time: now, update_user: 'test',
        })));
        for (let i = 0; i < rows.length; i += 500) await trx('task_flow_ins').insert(rows.slice(i, i + 500)).onConflict().ignore();
        await sleep(Math.max(0, first + HOLD_MS - Date.now()));
      } finally {
        await trx.rollback();
      }
    };
    const problems: string[] = [];
    const times: number[] = [];
    const call = async (method: string, path: string) => {
      const t0 = Date.now();
      try {
        const r = await Promise.race([m.api(method, path), sleep(API_DEADLINE_MS).then(() => null)]);
        if (r === null) problems.push(`${method} ${path}: no answer within ${API_DEADLINE_MS} ms`);
        else if (r.status !== 200) problems.push(`${method} ${path} answered ${r.status}: ${r.text.slice(0, 200)}`);
      } catch (e) {
        problems.push(`${method} ${path}: ${(e as Error).message}`);
      }
      times.push(Date.now() - t0);
    };
    const until = Date.now() + WINDOW_MS;
    const loop = (method: string, path: string) => (async () => {
      while (Date.now() < until) await call(method, path);
    })();
    await Promise.all([loop('GET', `/flow/${other}`), loop('POST', `/exec/flow/${other}`), loop('POST', `/exec/flow/${other}`), holdTicks(flows)]);
    on = false;
    await cycler;
    mariadb.signal('SIGCONT');

    // Switched off; the starts stop: no cron instance is made after the leader's reloads saw it.
    const offAt = Date.now();
    await knex('task_flow').whereIn('flow_id', flows).update({ cron_enabled: false, update_time: new Date() });
    const lastStart = async () => new Date((await knex('task_flow_ins').whereIn('flow_id', flows).max({ t: 'create_time' }))[0].t).getTime();
    await waitFor('cron starts to stop after disabling', async () => Date.now() - (await lastStart()) > 5_000, 60_000, 500);
    const stoppedAfter = (await lastStart()) - offAt;

    const rows: { flow_id: number; n: number; lo: Date; hi: Date }[] = await knex('task_flow_ins')
      .select('flow_id').count({ n: '*' }).min({ lo: 'scheduled_time' }).max({ hi: 'scheduled_time' })
      .whereIn('flow_id', flows).groupBy('flow_id');
    // Ticks between a flow's first and last instance that have none.
    const gaps = rows.reduce((sum, r) => sum + (new Date(r.hi).getTime() - new Date(r.lo).getTime()) / 1000 + 1 - Number(r.n), 0);
    const instances = rows.reduce((sum, r) => sum + Number(r.n), 0);
    const metrics = (await m.api('GET', '/metrics')).text;
    const missed = metric(metrics, 'task_schedule_cron_ticks_missed_total');
    const sorted = [...times].sort((a, b) => a - b);
    report('cron under load', {
      'API requests': String(times.length), 'API p50 ms': sorted[Math.floor(sorted.length / 2)] ?? -1, 'API p90 ms': sorted[Math.floor(sorted.length * 0.9)] ?? -1,
      'API max ms': sorted[sorted.length - 1] ?? -1, 'API problems': String(problems.length), 'cron instances': String(instances),
      'ticks with no instance': String(gaps), 'ticks counted missed': String(missed), 'last start after disabling': stoppedAfter,
    });
    if (!m.alive()) problems.push(`the member exited: ${m.output().slice(-3000)}`);
    if (problems.length) throw new Error(`${problems.length} API requests failed while crons fired:\n${[...new Set(problems)].slice(0, 15).join('\n')}`);
    expect(missed, `${gaps} ticks have no instance; every one must be counted in task_schedule_cron_ticks_missed_total`).to.be.at.least(gaps);
  });
});
