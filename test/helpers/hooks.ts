// Root hooks: create this run's database once, and remove it and every Redis key of the run at the end;
// and fail any test during which a promise was rejected with nobody to handle it (rejectionGuard.ts).
import { Redis } from 'ioredis';
import knexFactory from 'knex';
import { prepareDatabase } from '../../src/member.js';
import { loadConfig } from '../../config/index.js';
import { createLogger } from '../../src/infra/logger.js';
import { baseEnv, testRun } from './env.js';
import { mochaHooks as rejectionGuard } from './rejectionGuard.js';
import { PrivateRedisCluster } from './privateCluster.js';

/** TEST_REDIS_CLUSTER=1: one private Redis Cluster for this test process (see env.ts). */
let cluster: PrivateRedisCluster | null = null;

export async function deleteKeys(redisUrl: string, prefix: string): Promise<number> {
  const r = new Redis(redisUrl);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return deleted;
}

/** Drops the run's database and its extra ones (isolated()). */
async function dropRunDatabases(): Promise<void> {
  const url = new URL(testRun.databaseUrl);
  const name = url.pathname.slice(1);
  const admin = knexFactory({ client: 'mysql2', connection: `${url.protocol}//${url.username || 'root'}${url.password ? ':' + url.password : ''}@${url.host}/`, pool: { min: 0, max: 1 } });
  try {
    const [rows] = await admin.raw('SHOW DATABASES LIKE ?', [`${name}\\_%`]);
    const extra = (rows as Record<string, string>[]).map((r) => Object.values(r)[0]);
    for (const db of [name, ...extra]) await admin.raw('DROP DATABASE IF EXISTS ??', [db]);
  } finally {
    await admin.destroy();
  }
}

export const mochaHooks = {
  beforeEach: rejectionGuard.beforeEach,
  afterEach: rejectionGuard.afterEach,
  async beforeAll(this: Mocha.Context) {
    this.timeout(60_000);
    if (/^(1|true|yes)$/i.test(process.env.TEST_REDIS_CLUSTER ?? '')) {
      cluster = await PrivateRedisCluster.start();
      testRun.redisClusterNodes = cluster.seeds;
    }
    const config = loadConfig(baseEnv());
    await prepareDatabase(config, createLogger('silent'));
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    if (!process.env.TEST_KEEP) {
      await dropRunDatabases();
      await deleteKeys(testRun.redisUrl, testRun.redisPrefix);
    }
    await cluster?.stop();
    await rejectionGuard.afterAll();
  },
};
