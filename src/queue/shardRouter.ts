// Which shard each of the work queue's calls goes to (REDIS_QUEUE_SHARDS, issue 20; workQueue.ts runs
// the scripts, this decides where). One shard (the default on one Redis) is the single queue `{q}`: every
// method here answers shard 0 without a Map, a sort or a hint, so the queue makes the very calls it made
// before there were shards. With several:
// - an id lives in its home shard (tiId mod shards), but an id of a task with limits lives in its task's
//   shard (taskId mod shards; queueLimits.ts routes those);
// - a claim asks the shards that may have due work (shards.ts: ClaimHints), one first — usually it fills
//   the claim — then the others at once, starting from a shard that turns with every claim (fairness);
// - ack, requeue and extend go to each lease's shard: a lease away from its home shard is remembered by
//   this member (shards.ts: AwayLeases), as only this member holds its leases;
// - remove and known look for an id outside its home shard only when it was not found there.
import { groupBy } from '../infra/groupBy.js';
import { homeShard, queueKeys, type QueueKeys } from '../redis/keys.js';
import { AwayLeases, ClaimHints, split } from './shards.js';
import type { ClaimResult, Lease } from './types.js';

/** One shard's answer to a claim (lua/claim.lua): nextDue, ids, their priorities, topPrio, topScore. */
export type ShardClaim = [number, string[], number[], number, number];

export class ShardRouter {
  /** Every shard's keys, by shard number. */
  readonly shardKeys: QueueKeys[];
  readonly hints: ClaimHints;
  private readonly away = new AwayLeases();

  constructor(prefix: string, readonly shards: number) {
    this.shardKeys = Array.from({ length: shards }, (_, n) => queueKeys(prefix, n, shards));
    this.hints = new ClaimHints(shards);
  }

  home(tiId: number): number {
    return homeShard(tiId, this.shards);
  }

  /** The shard a lease is held in: where this member leased it if away from home, else the id's home. */
  ofLease(l: Lease): number {
    return this.shards === 1 ? 0 : (this.away.get(l.tiId, l.owner) ?? this.home(l.tiId));
  }

  /** Groups by shard, shard 0 alone (no Map) on a queue of one shard. */
  byShard<T>(items: T[], shardOf: (t: T) => number): [number, T[]][] {
    return this.shards === 1 ? [[0, items]] : [...groupBy(items, shardOf)];
  }

  /** Notes that shard n got these items (the most urgent of them, by this member's clock). */
  noteDue(n: number, items: { delayMs?: number; priority?: number }[]): void {
    if (this.shards === 1) return;
    let p = -1;
    let at = Infinity;
    for (const i of items) {
      const ip = i.priority ?? 0;
      const iat = Date.now() + (i.delayMs ?? 0);
      if (ip > p || (ip === p && iat < at)) [p, at] = [ip, iat];
    }
    this.hints.due(n, p, at);
  }

  /** `owner` leased tiId in shard n: remembered if that is not the id's home. */
  leased(tiId: number, owner: string, n: number): void {
    if (this.home(tiId) !== n) this.away.set(tiId, owner, n);
  }

  /** These leases ended (acked, requeued, lost): nothing to remember of them. */
  ended(leases: Lease[]): void {
    if (this.away.size) for (const l of leases) this.away.delete(l.tiId, l.owner);
  }

  /** Forgets away leases nobody used for long (see AwayLeases.prune). */
  prune(): void {
    this.away.prune();
  }

  /** A claim of up to `want` ids for `owner`, asking shards with `claimOn` (one script on one shard). */
  async claim(owner: string, want: number, claimOn: (n: number, max: number) => Promise<ShardClaim>): Promise<ClaimResult> {
    if (this.shards === 1) {
      const [nextDue, ids, priorities] = await claimOn(0, want);
      return { ids: ids.map(Number), priorities, nextDueInMs: nextDue < 0 ? null : nextDue };
    }
    // The most urgent shard alone (under load it fills the claim: one call), then the others that may
    // have due work at once, the claim split between them; a shard with due work left is asked again.
    const order = this.hints.candidates(Date.now());
    const got: { id: number; p: number }[] = [];
    let left = want;
    let first = true;
    while (left > 0 && order.length) {
      const batch = order.splice(0, first ? 1 : Math.min(left, order.length));
      first = false;
      const quotas = split(left, batch.length);
      const answers = await Promise.all(batch.map((n, i) => claimOn(n, quotas[i])));
      answers.forEach(([nextDue, ids, priorities, topPrio, topScore], i) => {
        const n = batch[i];
        this.hints.answered(n, nextDue, topPrio, topScore);
        if (topPrio >= 0 && ids.length === quotas[i]) order.push(n);
        ids.forEach((id, j) => {
          const tiId = Number(id);
          got.push({ id: tiId, p: priorities[j] });
          this.leased(tiId, owner, n);
        });
        left -= ids.length;
      });
    }
    // The highest priority first among what the shards gave (each gave its own highest first).
    if (got.length > 1) got.sort((a, b) => b.p - a.p);
    return { ids: got.map((g) => g.id), priorities: got.map((g) => g.p), nextDueInMs: this.hints.nextDueInMs(Date.now()) };
  }

  /**
   * Runs `inShard` (never with no ids) on each id's home shard and answers the ids it found. On a queue of
   * several shards the ids not found there are looked for in every other shard: an id of a limited task
   * is in its task's shard, which the id alone does not name.
   */
  async find(tiIds: number[], inShard: (n: number, ids: number[]) => Promise<number[]>): Promise<Set<number>> {
    const found = new Set((await Promise.all(this.byShard(tiIds, (id) => this.home(id)).map(([n, ids]) => inShard(n, ids)))).flat());
    if (this.shards === 1) return found;
    const rest = tiIds.filter((id) => !found.has(id));
    if (!rest.length) return found;
    const more = await Promise.all(this.shardKeys.map((_, n) => rest.filter((id) => this.home(id) !== n)).map((ids, n) => (ids.length ? inShard(n, ids) : [])));
    for (const id of more.flat()) found.add(id);
    return found;
  }
}
