// Each test run gets its own database and Redis key prefix, named after the run, and removes them at
// the end (see hooks.ts). Child processes started by tests inherit them through baseEnv().
import { randomBytes } from 'node:crypto';

const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const mysqlBase = process.env.TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306';
const redisUrl = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379/0';

export const testRun = {
  id: runId,
  databaseUrl: `${mysqlBase}/ts_test_${runId}`,
  redisUrl,
  /** Every key any test writes starts with this. */
  redisPrefix: `tst:${runId}:`,
  /**
   * With TEST_REDIS_CLUSTER=1, the seed nodes of this process's private Redis Cluster (hooks.ts starts it
   * before the first test): every member baseEnv() describes uses it (REDIS_CLUSTER_NODES).
   */
  redisClusterNodes: null as string | null,
};

let n = 0;
/** A prefix of its own for a test that needs an empty queue. */
export function freshPrefix(): string {
  n += 1;
  return `${testRun.redisPrefix}${n}:`;
}

let dbs = 0;
/**
 * A database and a Redis prefix of its own, for members that must not see other tests' rows: a leader's
 * reconciler takes up every PENDING/RUNNING row of its database, whatever prefix wrote it.
 * Removed with the run's database at the end (hooks.ts drops every `ts_test_<run>…` database).
 */
export function isolated(): { DATABASE_URL: string; REDIS_PREFIX: string } {
  dbs += 1;
  return { DATABASE_URL: `${testRun.databaseUrl}_${dbs}`, REDIS_PREFIX: freshPrefix() };
}

/** Environment for a member under test (in-process or child). */
export function baseEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: testRun.databaseUrl,
    REDIS_URL: testRun.redisUrl,
    REDIS_PREFIX: testRun.redisPrefix,
    ...(testRun.redisClusterNodes ? { REDIS_CLUSTER_NODES: testRun.redisClusterNodes } : {}),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL || 'silent',
    PORT: '0',
    ...overrides,
  };
}
