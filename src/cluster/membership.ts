// Membership: every member, whatever its roles, keeps `{prefix}member:{memberId}` alive with a TTL of
// three heartbeats. A member that dies (or stalls) simply ages out; a member that stops deletes its key
// so it disappears at once. The key is written whole on each beat (SET … PX), not just re-armed, so it
// comes back by itself after Redis lost it (restart, flush).
import os from 'node:os';
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { MemberInfo } from './types.js';
import { every, withTimeout, type Loop } from './util.js';

export class Membership {
  private loop: Loop | null = null;
  private readonly started = new Date().toISOString();

  constructor(private s: Services, private engine: Engine) {}

  key(memberId = this.s.memberId): string {
    return `${this.s.config.redisPrefix}member:${memberId}`;
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
    await this.s.redis.set(this.key(), JSON.stringify(info), 'PX', this.ttlMs);
  }

  /** Every member whose heartbeat is alive, by id; `leaderId` is marked. */
  async list(leaderId: string | null): Promise<MemberInfo[]> {
    const { redis } = this.s;
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${this.s.config.redisPrefix}member:*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
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
