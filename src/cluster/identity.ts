// Which database a Redis prefix belongs to. Two clusters with different databases on one Redis prefix
// would claim each other's task-instance ids — ids that mean other rows in their own database — so the
// first member writes its database's identity (a random id kept in `cluster_identity`) under the prefix,
// and a member whose database has another identity refuses to start. Membership re-checks on every beat
// (heartbeat.lua), so the key comes back after Redis lost it.
import { randomBytes } from 'node:crypto';
import type { Knex } from '../infra/db.js';
import type { Redis } from '../infra/redis.js';
import { StartupError } from '../errors.js';
import { clusterKey, queueShardsKey } from '../redis/keys.js';

/** This database's cluster id, made on first use. */
export async function databaseClusterId(knex: Knex): Promise<string> {
  await knex.raw('INSERT IGNORE INTO cluster_identity (id, cluster_id, create_time) VALUES (1, ?, ?)', [randomBytes(12).toString('hex'), new Date()]);
  const row = await knex('cluster_identity').select('cluster_id').where('id', 1).first();
  return row.cluster_id as string;
}


/** Claims the prefix for this database, or refuses: a prefix already bound to another database. */
export async function bindPrefix(redis: Redis, prefix: string, clusterId: string, redisUrl: string): Promise<void> {
  await redis.set(clusterKey(prefix), clusterId, 'NX');
  const owner = await redis.get(clusterKey(prefix));
  if (owner !== null && owner !== clusterId) {
    throw new StartupError(
      `REDIS_PREFIX "${prefix}" on ${redisUrl} is used by another database (cluster ${owner}; this database is ${clusterId}): ` +
        'give each database its own prefix, e.g. REDIS_PREFIX=staging: (or delete that Redis key if the other database is gone)',
    );
  }
}

/**
 * Refuses to start with another queue shard count than the live members' (REDIS_QUEUE_SHARDS): a member
 * with another count would not see part of the queue, nor its leader reap it. The count is written by
 * every heartbeat with the heartbeats' TTL (Membership), so once every member has stopped it is gone
 * and the next start may change it.
 */
export async function checkQueueShards(redis: Redis, prefix: string, shards: number): Promise<void> {
  const live = await redis.get(queueShardsKey(prefix));
  if (live !== null && live !== String(shards)) {
    throw new StartupError(
      `REDIS_QUEUE_SHARDS: the members running on REDIS_PREFIX "${prefix}" use a work queue of ${live} shard(s), this member ${shards}: ` +
        'every member must use the same count (to change it, stop every member first)',
    );
  }
}
