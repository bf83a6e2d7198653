// The fixture of the fault tests that run real member processes on a redis-server of their own: for
// each test, a private Redis, a database and key prefix of its own (isolated()), the processes' handle
// and a knex on that database; after it, what the members and Redis said when it failed, and everything
// stopped (Redis let go first, should the test have left it frozen).
import type { Knex } from 'knex';
import { createKnex } from '../../src/infra/db.js';
import { isolated } from './env.js';
import { Processes } from './processes.js';
import { PrivateRedis } from './privateServices.js';

export interface FaultRig {
  redis: PrivateRedis;
  procs: Processes;
  knex: Knex;
}

/** Registers the fixture's hooks in the enclosing describe; `env` is given to every member. */
export function privateRedisRig(env: Record<string, string> = {}): FaultRig {
  const rig = {} as FaultRig;
  beforeEach(async () => {
    rig.redis = await PrivateRedis.start();
    const iso = isolated();
    rig.procs = new Processes(iso.REDIS_PREFIX, { env: { DATABASE_URL: iso.DATABASE_URL, REDIS_URL: rig.redis.url, ...env } });
    rig.knex = createKnex(iso.DATABASE_URL, 4);
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`${rig.procs.dump()}\n--- redis log ---\n${rig.redis.logTail()}`);
    rig.redis.signal('SIGCONT');
    await rig.procs.killAll();
    await rig.knex.destroy();
    await rig.redis.stop();
  });
  return rig;
}
