// Membership: every member, whatever its roles, keeps its heartbeat key (`member:<memberId>`, redis/keys.ts) alive with a TTL of
// three heartbeats. A member that dies (or stalls) simply ages out — and the leader then hands its leased
// tasks out at once (reaper.ts, expireOrphans.lua); a member that stops deletes its key so it disappears
// at once. The key is written whole on each beat (heartbeat.lua), not just re-armed, so it comes back by
// itself after Redis lost it (restart, flush); the beat is allowed while Redis is out of memory, so a live
// member never looks dead for that. Each beat also checks that the prefix still belongs to this database.
import os from 'node:os';
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { MemberInfo } from './types.js';
import { defineScripts } from '../redis/scripts.js';
import { clusterKey, memberKey, memberPattern, queueShardsKey } from '../redis/keys.js';
import { scanKeys } from '../infra/redis.js';
import { every, withTimeout, type Loop } from './util.js';

export class Membership {
  private loop: Loop | null = null;
  private readonly started = new Date().toISOString();

  private wrongPrefixLogged = 0;
  private wrongShardsLogged = 0;

  constructor(private s: Services, private engine: Engine, private clusterId: string) {}

  key(memberId = this.s.memberId): string {
    return memberKey(this.s.config.redisPrefix, memberId);
  }

  private get ttlMs(): number {
    return this.s.config.heartbeatMs * 3;
  }

  /** Writes the first beat (so the member is listed once start-up returns), then beats on a timer. */
  async start(): Promise<void> {
    await this.beat();
    this.loop = every(this.s.config.heartbeatMs, () => this.beat(), (e) => this.s.log.warn({ err: e }, 'heartbeat failed'));
  }

  private async beat(): Promise<void> {
    const info: Omit<MemberInfo, 'leader'> = {
      id: this.s.memberId,
      roles: [...this.s.config.roles],
      host: os.hostname(),
      pid: process.pid,
      started: this.started,
      lastBeat: new Date().toISOString(),
      running: this.engine.worker?.running ?? 0,
    };
    const prefix = this.s.config.redisPrefix;
    const [other, shards] = await Promise.all([
      defineScripts(this.s.redis).tsqHeartbeat(this.key(), clusterKey(prefix), JSON.stringify(info), this.ttlMs, this.clusterId),
      // The queue's shard count, for members starting (cluster/identity.ts); the one it replaced says
      // whether a live member uses another.
      this.s.redis.call('SET', queueShardsKey(prefix), String(this.s.queue.shards), 'PX', String(this.ttlMs), 'GET') as Promise<string | null>,
    ]);
    if (shards !== null && shards !== String(this.s.queue.shards) && Date.now() - this.wrongShardsLogged > 60_000) {
      this.wrongShardsLogged = Date.now();
      this.s.log.error({ prefix, theirs: Number(shards), ours: this.s.queue.shards }, 'members use different REDIS_QUEUE_SHARDS: some of the queue is not seen by all; give every member the same count');
    }
    if (other && Date.now() - this.wrongPrefixLogged > 60_000) {
      this.wrongPrefixLogged = Date.now();
      this.s.log.error({ prefix, otherCluster: other, thisCluster: this.clusterId }, 'REDIS_PREFIX is now bound to another database: this member stopped beating; give each database its own prefix');
    }
  }

  /** Every member whose heartbeat is alive, by id; `leaderId` is marked. */
  async list(leaderId: string | null): Promise<MemberInfo[]> {
    const { redis } = this.s;
    // Every master is scanned on a cluster; the heartbeats share one slot, so MGET takes them together.
    const keys = await scanKeys(redis, memberPattern(this.s.config.redisPrefix));
    const out: MemberInfo[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const values = await redis.mget(...keys.slice(i, i + 500));
      for (const v of values) {
        if (!v) continue; // expired between SCAN and MGET
        try {
          const m = JSON.parse(v) as Omit<MemberInfo, 'leader'>;
          out.push({ ...m, leader: m.id === leaderId });
        } catch {
          // not ours to judge: a foreign or truncated value is skipped, not fatal
        }
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Stops beating and removes the key, so the member leaves the list now rather than after its TTL. */
  async stop(): Promise<void> {
    await this.loop?.stop();
    this.loop = null;
    await withTimeout(this.s.redis.del(this.key()), 2_000, 'removing the heartbeat key').catch((e) =>
      this.s.log.warn({ err: e }, 'could not remove the heartbeat key; it expires by itself'),
    );
  }
}
