// Every Redis key and channel name, in one place. All start with REDIS_PREFIX (so `SCAN MATCH prefix*`
// finds them all), and carry a hash tag `{…}` that says which keys must live in one slot of a Redis
// Cluster: a Lua script may only touch keys of one slot, so the keys one script touches share a tag.
//
//   tag {q}   the work queue of one shard (REDIS_QUEUE_SHARDS=1, the default on one Redis) and the
//             leader lease (the reaper's scripts check the lease atomically with the queue's keys):
//             <p>{q}:ready, <p>{q}:inflight, <p>{q}:inflight:owner, <p>{q}:inflight:since, <p>{q}:leader
//             flow control's keys share it too (their scripts run with the queue's): <p>{q}:ready:p1…p9
//             (priorities), <p>{q}:limited, <p>{q}:limits, <p>{q}:limits:waiting, and per task
//             <p>{q}:{task:<id>}:slots|rate|waiting (the first tag counts: {q}). The scripts build the
//             per-task names from <p>{q}:limited's, so they are undeclared keys of the queue's slot
//             (lua/limits.lib.lua).
//   tag {q:<n>}  shard n of a queue of several shards (16 by default on a Redis Cluster, issue 20 phase
//             2): each shard has every key above under its own tag, <p>{q:3}:ready … <p>{q:3}:leader (a
//             copy of the leader lease's value the leader writes, which the shard's reaper scripts
//             check), <p>{q:3}:limits (a copy of the limits table), and the limit keys of the tasks it
//             holds, <p>{q:3}:{task:35}:slots (task 35 mod 16 = 3). An id lives in its home shard
//             (tiId mod shards) unless its task has limits (then in its task's shard). The leader lease
//             <p>{q}:leader and the limits table <p>{q}:limits keep their {q} names.
//   tag {wq:<queue>}  one external workers' queue (queue/externalQueues.ts): <p>{wq:<queue>}:ready,
//             :leases, :owner, :since; its scripts touch one queue at a time. Flow control of WORKER tasks
//             lives in the queue's slot too: <p>{wq:<queue>}:limited, :limits, :limits:waiting and per
//             task <p>{wq:<queue>}:{task:<id>}:slots|rate|waiting (named by the scripts, as for {q}). Untagged: <p>wq:queues,
//             <p>wq:workers and the channel <p>wq:wake.
//   tag {m}   membership: <p>{m}:member:<memberId> heartbeats, <p>{m}:cluster, the database this
//             prefix belongs to (the heartbeat script checks it), and <p>{m}:queue-shards, the queue's
//             shard count of the live members (each beat writes it, with the heartbeats' TTL)
//   tag {<fiId>}  one flow instance: <p>lock:flow-ins:{<fiId>} and <p>dirty:flow-ins:{<fiId>} (the lock
//             scripts take an instance's lock and dirty mark together; several instances at once are
//             split per slot, see engine/locks.ts)
//   no tag    <p>events:watched (a single key); pub/sub channels <p>wake, <p>cancel, <p>events (classic
//             PUBLISH reaches every node of a cluster, whatever the name)
//
// On a cluster the queue's shards spread over the masters (each shard is one slot). On standalone Redis
// tags are just characters: one shard is the layout the queue had before shards.
// A REDIS_PREFIX that itself contains `{…}` puts every key in that one slot: it works, nothing is spread.
// Key names are not kept across versions: Redis is rebuilt from MySQL by the reconciler.

export interface QueueKeys {
  ready: string;
  inflight: string;
  owner: string;
  since: string;
  /** The leader lease itself (one shard), or the shard's copy of its value (several: the fence its scripts check). */
  leader: string;
  /** Pub/sub channel, published to when ids are added to ready. */
  wake: string;
  /** The ready sets of priorities 1-9 (`ready` is priority 0). */
  readyP: string[];
  /** Flow control: tiId → taskId of limited tasks' instances; the limits by task; tasks with ids waiting. */
  limited: string;
  limits: string;
  limitsWaiting: string;
}

/** Priorities above 0 (each has its own ready set). */
const PRIORITIES = 9;
/** The most shards REDIS_QUEUE_SHARDS may ask for. */
export const MAX_QUEUE_SHARDS = 256;

/** The hash tag of shard `shard` of a queue of `shards`: `{q}` when there is one (the layout of one Redis), else `{q:<n>}`. */
export function shardTag(shard: number, shards: number): string {
  return shards === 1 ? '{q}' : `{q:${shard}}`;
}

/** The keys of one shard of the work queue (shard 0 of 1: the single queue, `<p>{q}:…`). */
export function queueKeys(prefix: string, shard = 0, shards = 1): QueueKeys {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_QUEUE_SHARDS || !Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new RangeError(`queue shard ${shard} of ${shards}: shards must be 1-${MAX_QUEUE_SHARDS} and the shard below it`);
  }
  const q = `${prefix}${shardTag(shard, shards)}:`;
  return {
    ready: `${q}ready`,
    inflight: `${q}inflight`,
    owner: `${q}inflight:owner`,
    since: `${q}inflight:since`,
    leader: `${q}leader`,
    wake: `${prefix}wake`,
    readyP: Array.from({ length: PRIORITIES }, (_, i) => `${q}ready:p${i + 1}`),
    limited: `${q}limited`,
    limits: `${q}limits`,
    limitsWaiting: `${q}limits:waiting`,
  };
}

/** The shard a task instance lives in unless its task has limits: its id modulo the shards. */
export const homeShard = (tiId: number, shards: number): number => tiId % shards;
/** The shard of a task with limits: every id of it, and its limit keys, live there. */
export const taskShard = (taskId: number, shards: number): number => taskId % shards;

/** A limited task's keys, as lua/limits.lib.lua names them (in its shard's slot). */
export function taskLimitKeys(prefix: string, taskId: number | string, shards = 1): { slots: string; rate: string; waiting: string } {
  const base = `${prefix}${shardTag(taskShard(Number(taskId), shards), shards)}:{task:${taskId}}:`;
  return { slots: `${base}slots`, rate: `${base}rate`, waiting: `${base}waiting` };
}

/** The table of task limits every member reads (each shard holds a copy for its scripts). */
export const limitsKey = (prefix: string): string => `${prefix}{q}:limits`;

/** One external workers' queue's keys (queue/externalQueues.ts). */
export function externalQueueKeys(prefix: string, queue: string): { ready: string; leases: string; owner: string; since: string; limited: string; limits: string } {
  const base = `${prefix}{wq:${queue}}:`;
  return { ready: `${base}ready`, leases: `${base}leases`, owner: `${base}owner`, since: `${base}since`, limited: `${base}limited`, limits: `${base}limits` };
}

/** The leader lease (Redlock): `{q}`, the slot of a queue of one shard (several: each has a copy, QueueKeys.leader). */
export const leaderKey = (prefix: string): string => `${prefix}{q}:leader`;

/** A member's heartbeat key. */
export const memberKey = (prefix: string, memberId: string): string => `${prefix}{m}:member:${memberId}`;
/** SCAN pattern of every heartbeat key. */
export const memberPattern = (prefix: string): string => `${prefix}{m}:member:*`;
/** The queue's shard count the live members use (cluster/identity.ts), written with every heartbeat. */
export const queueShardsKey = (prefix: string): string => `${prefix}{m}:queue-shards`;
/** The database identity the prefix is bound to (cluster/identity.ts), in the heartbeats' slot. */
export const clusterKey = (prefix: string): string => `${prefix}{m}:cluster`;

/** A flow instance's coordinator lock. */
export const flowLockKey = (prefix: string, fiId: number): string => `${prefix}lock:flow-ins:{${fiId}}`;
/** A flow instance's dirty mark, in its lock's slot. */
export const flowDirtyKey = (prefix: string, fiId: number): string => `${prefix}dirty:flow-ins:{${fiId}}`;
/** SCAN pattern of every lock (/admin/locks). */
export const lockPattern = (prefix: string): string => `${prefix}lock:*`;

/** Pub/sub: task instances to abort (engine/cancelSignals.ts). */
export const cancelChannel = (prefix: string): string => `${prefix}cancel`;
/** Pub/sub: live status events (observe/liveEvents.ts). */
export const eventsChannel = (prefix: string): string => `${prefix}events`;
/** Set while some member streams live events: publishers only publish then. */
export const watchedKey = (prefix: string): string => `${prefix}events:watched`;
