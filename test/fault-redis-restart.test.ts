// Issue 23: "A Redis restart can wedge a member for good". The trial of the issue, repeated: two members
// (both web and worker) on a private redis-server, ~200 flows running, Redis SIGKILLed and restarted
// empty 1.5 s later on its port. With ioredis 6.0.0 a member's main connection sent nothing again after
// the reconnect in about half of such trials (commands on the wire at the drop never settled, so the
// auto-pipeline never flushed again; see src/infra/redisWatchdog.ts): /readyz stayed 503, its heartbeat
// stopped, its flows stayed RUNNING. Each repetition must show: every flow ends SUCCESS, nothing is
// recorded SUCCESS twice, both members are in the membership again and answer /readyz 200 and
// /healthz 200, no member exits.
import type { Knex } from 'knex';
import { isolated } from './helpers/env.js';
import { createKnex } from '../src/infra/db.js';
import { Processes, type MemberProc } from './helpers/processes.js';
import { PrivateRedis } from './helpers/privateServices.js';
import { createFlow, createTask } from './helpers/flows.js';
import { checkOutcome, midRun, report, rerunCount, sleep, startMany, waitAllEnded } from './helpers/faultRun.js';
import { waitFor } from './helpers/wait.js';
import { memberKey } from '../src/redis/keys.js';

const REPETITIONS = 3;
const FLOWS = 200;
const STEPS = 3;
const STEP_MS = 300;
/** Redis back → every flow ended: ~4 s measured; a wedged member never gets there. */
const SETTLE_MS = 45_000;
/**
 * Readiness probes per member kept going around the kill, so the members' main connections have commands
 * on the wire when Redis dies (the wedge needs that; without them it showed in 0 of 6 repetitions on the
 * old code, with them in 4 of 8).
 */
const PROBES = 4;
/** Redis back → both members heartbeat and answer /readyz 200 again. */
const REJOIN_MS = 20_000;

describe('faults: Redis SIGKILL under load, restarted empty 1.5 s later, repeated with two members (issue 23)', function () {
  this.timeout(120_000);
  let redis: PrivateRedis;
  let procs: Processes;
  let knex: Knex;
  let prefix: string;

  beforeEach(async () => {
    redis = await PrivateRedis.start();
    const iso = isolated();
    prefix = iso.REDIS_PREFIX;
    procs = new Processes(iso.REDIS_PREFIX, { env: { DATABASE_URL: iso.DATABASE_URL, REDIS_URL: redis.url } });
    knex = createKnex(iso.DATABASE_URL, 4);
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`${procs.dump()}\n--- redis log ---\n${redis.logTail()}`);
    await procs.killAll();
    await knex.destroy();
    await redis.stop();
  });

  /** Whether the member is in the membership (its heartbeat key) and answers /readyz and /healthz 200. */
  async function whole(m: MemberProc): Promise<string | null> {
    const c = redis.client();
    try {
      if ((await c.exists(memberKey(prefix, m.id))) !== 1) return `${m.id}: not in the membership`;
    } finally {
      c.disconnect();
    }
    for (const path of ['/readyz', '/healthz']) {
      const res = await fetch(`${m.url}${path}`, { signal: AbortSignal.timeout(5_000) });
      if (res.status !== 200) return `${m.id}: ${path} ${res.status} ${await res.text()}`;
    }
    return null;
  }

  for (let rep = 1; rep <= REPETITIONS; rep++) {
    it(`repetition ${rep} of ${REPETITIONS}: every flow ends SUCCESS, nothing twice, both members back in the membership with /readyz 200`, async () => {
      const a = await procs.start({ id: `rr${rep}-a`, roles: 'web,worker', env: { WORKER_CONCURRENCY: '8' } });
      const b = await procs.start({ id: `rr${rep}-b`, roles: 'web,worker', env: { WORKER_CONCURRENCY: '8' } });
      const wait = await createTask(a.api, 'WAIT', null, { waitMs: STEP_MS });
      const flowId = await createFlow(a.api, Array.from({ length: STEPS }, () => [wait]));
      const fiIds = await startMany(a.api, flowId, FLOWS);
      const at = await midRun(knex, fiIds, { succeeded: 60, running: 8 });

      // API load too while Redis dies (PROBES).
      let probing = true;
      const probes = [a, b].flatMap((m) => Array.from({ length: PROBES }, async () => {
        while (probing) await fetch(`${m.url}/readyz`, { signal: AbortSignal.timeout(3_000) }).then((r) => r.arrayBuffer(), () => {});
      }));
      await sleep(200);
      const killedAt = Date.now();
      await redis.kill();
      await sleep(1_500); // the outage itself
      await redis.restart();
      const backAt = Date.now();
      probing = false;
      await Promise.all(probes);
      const settledAt = await waitAllEnded(knex, fiIds, procs, SETTLE_MS);
      let last: string | null = null;
      await waitFor('both members to be back in the membership and ready', async () => {
        last = (await whole(a)) ?? (await whole(b));
        return last === null;
      }, REJOIN_MS, 100).catch((e) => {
        throw new Error(`${(e as Error).message}; last seen: ${last}`);
      });
      const wholeAt = Date.now();
      report(`Redis SIGKILL + empty restart, repetition ${rep}`, {
        'at the kill': JSON.stringify(at), 'Redis back → all settled': settledAt - backAt, 'kill → all settled': settledAt - killedAt,
        'Redis back → both members whole': wholeAt - backAt, 'task instances run more than once': String(await rerunCount(knex, fiIds)),
      });
      await checkOutcome(knex, fiIds, procs, { tasksPerFlow: STEPS });
    });
  }
});
