// Flow control under a fault (issue 18): a worker SIGKILLed while it holds slots of a task with a
// concurrency limit. Its slots come back with its leases (the reaper settles them once its heartbeat key
// is gone), so the line of waiting runs goes on and every flow ends SUCCESS, never more than the limit
// at once. Real processes on a private redis-server and a database of the test's own.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { privateRedisRig } from './helpers/faultRig.js';
import { createFlow, createTask } from './helpers/flows.js';
import { checkOutcome, report, startMany, waitAllEnded } from './helpers/faultRun.js';
import { waitFor } from './helpers/wait.js';

const LIMIT = 3;
const TASK_MS = 800;

describe('faults: a worker killed while it holds slots of a limited task (real processes)', function () {
  this.timeout(120_000);
  const rig = privateRedisRig({ LEASE_MS: '20000', WORKER_CONCURRENCY: '4' });

  it(`SIGKILL a worker holding slots of a task limited to ${LIMIT}: the slots come back, every flow ends SUCCESS, never over the limit`, async () => {
    const web = await rig.procs.start({ id: 'lim-web', roles: 'web' });
    const [a, b] = await Promise.all([rig.procs.start({ id: 'lim-a', roles: 'worker' }), rig.procs.start({ id: 'lim-b', roles: 'worker' })]);
    const wait = await createTask(web.api, 'WAIT', null, { waitMs: TASK_MS, concurrencyLimit: LIMIT });
    const flowId = await createFlow(web.api, [[wait]]);
    // The leader copies the limits from MySQL every 2 s: a start made before would not be limited.
    const redis = new Redis(rig.redis.url);
    redis.on('error', () => {});
    try {
      await waitFor('the limit in the queue', async () => (await redis.hexists(`${rig.procs.prefix}{q}:limits`, String(wait))) === 1, 15_000);
    } finally {
      redis.disconnect();
    }
    const fiIds = await startMany(web.api, flowId, 15);

    const held = async () => {
      const rows: { worker_id: string; n: number }[] = await rig.knex('task_ins').select('worker_id').count('* as n').whereIn('fi_id', fiIds).where('exec_status', 'RUNNING').groupBy('worker_id');
      return new Map(rows.map((r) => [r.worker_id, Number(r.n)]));
    };
    const byWorker = await waitFor('limited tasks RUNNING on the workers', async () => {
      const m = await held();
      return (m.get(a.id) ?? 0) + (m.get(b.id) ?? 0) >= LIMIT ? m : null;
    });
    const victim = (byWorker.get(a.id) ?? 0) >= (byWorker.get(b.id) ?? 0) ? a : b;
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    const orphans = (await held()).get(victim.id) ?? 0;
    expect(orphans, 'the killed worker held slots').to.be.at.least(1);

    const settledAt = await waitAllEnded(rig.knex, fiIds, rig.procs, 60_000);
    report('limited worker SIGKILL', { 'slots it held': String(orphans), 'kill → all settled': settledAt - killedAt });
    await checkOutcome(rig.knex, fiIds, rig.procs, { tasksPerFlow: 1 });
    // The attempts that ended (the killed one's were run again): never over the limit, and the limit
    // reached again after the kill (the dead member's slots did come back).
    const runs: { start_time: Date; end_time: Date }[] = await rig.knex('task_ins').select('start_time', 'end_time').whereIn('fi_id', fiIds);
    const edges = runs.flatMap((t) => [[t.start_time.getTime(), 1], [t.end_time.getTime(), -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let now = 0;
    let most = 0;
    let mostAfterKill = 0;
    for (const [at, d] of edges) {
      now += d;
      most = Math.max(most, now);
      if (at > killedAt) mostAfterKill = Math.max(mostAfterKill, now);
    }
    expect(most, 'most runs at once').to.equal(LIMIT);
    expect(mostAfterKill, 'most runs at once after the kill').to.equal(LIMIT);
  });
});
