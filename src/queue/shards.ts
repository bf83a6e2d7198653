// What a work queue of several shards (REDIS_QUEUE_SHARDS; workQueue.ts) keeps on the member's side:
// - ClaimHints: which shards may have due work, so a claim asks those and not every shard. A claim's
//   answer says when a shard's earliest id comes due (or that it is empty); a wake-up names the shard
//   that got work (the scripts publish its `limited` key). Hints are only hints: an empty shard is asked
//   again at least every HINT_TTL_MS (a wake-up may be lost, as on one shard), and asking a shard that
//   has nothing costs one script call that finds nothing.
// - AwayLeases: leases held by this member on an id outside its home shard (an id of a task with limits
//   lives in its task's shard), so its extensions, ack and requeue go there. Ids are routed by their id
//   alone (the queue's methods take ids and owners, not tasks); only this member holds its leases.

/** How long a shard found empty (or not due yet) is trusted to stay so without a wake-up naming it. */
export const HINT_TTL_MS = 1_000;
/** An away lease not extended, acked or requeued for this long is gone (a lease is extended every LEASE_MS/3). */
const AWAY_FORGET_MS = 10 * 60_000;

export class ClaimHints {
  /** Per shard, Date.now() from which it may have due work (0: now; Infinity: empty). */
  private dueAt: number[];
  /** Per shard, the highest priority of its due work and that work's earliest score (-Infinity: not known). */
  private prio: number[];
  private head: number[];
  private trustedUntil = 0;
  private rotor = 0;

  constructor(private shards: number) {
    this.dueAt = new Array<number>(shards).fill(0);
    this.prio = new Array<number>(shards).fill(0);
    this.head = new Array<number>(shards).fill(-Infinity);
  }

  /**
   * The shards to ask, most urgent first: the highest priority due, then the oldest due work (so the
   * order of priorities, and first come first served, hold across shards as far as this member knows
   * them), then from the shard after the last claim's first (each gets its turn). Shards not known to
   * be due are trusted so for HINT_TTL_MS at most, then asked again.
   */
  candidates(now: number): number[] {
    if (now >= this.trustedUntil) {
      this.trustedUntil = now + HINT_TTL_MS;
      for (let n = 0; n < this.shards; n++) if (this.dueAt[n] > now) this.unknown(n);
    }
    const start = this.rotor;
    this.rotor = (this.rotor + 1) % this.shards;
    const out: number[] = [];
    for (let i = 0; i < this.shards; i++) {
      const n = (start + i) % this.shards;
      if (this.dueAt[n] <= now) out.push(n);
    }
    // Stable: the turning order breaks ties.
    return out.sort((a, b) => this.prio[b] - this.prio[a] || this.head[a] - this.head[b] || 0);
  }

  private unknown(n: number): void {
    this.dueAt[n] = 0;
    this.prio[n] = 0;
    this.head[n] = -Infinity;
  }

  /**
   * A shard's answer to a claim: the highest priority it still has due work of and that work's score
   * (topPrio -1: none due), or when its earliest id comes due (nextDueMs; -1: it is empty).
   */
  answered(shard: number, nextDueMs: number, topPrio: number, topScore: number): void {
    if (topPrio >= 0) {
      this.dueAt[shard] = 0;
      this.prio[shard] = topPrio;
      this.head[shard] = topScore;
    } else {
      this.dueAt[shard] = nextDueMs < 0 ? Infinity : Date.now() + nextDueMs;
      this.prio[shard] = 0;
      this.head[shard] = nextDueMs < 0 ? -Infinity : Date.now() + nextDueMs;
    }
  }

  /** Work may be due in this shard (a wake-up: its priority and score when it says), or in any (undefined: e.g. after a reconnect). */
  due(shard?: number, prio = 0, score = -Infinity): void {
    if (shard === undefined) {
      for (let n = 0; n < this.shards; n++) if (this.dueAt[n] !== 0) this.unknown(n);
      return;
    }
    if (shard < 0 || shard >= this.shards) return;
    if (this.dueAt[shard] !== 0 || prio > this.prio[shard]) {
      this.dueAt[shard] = 0;
      this.prio[shard] = prio;
      this.head[shard] = score;
    } else if (prio === this.prio[shard]) {
      this.head[shard] = Math.min(this.head[shard], score);
    }
  }

  /** Milliseconds until the earliest shard may have due work (0: now), or null when all are empty. */
  nextDueInMs(now: number): number | null {
    const min = Math.min(...this.dueAt);
    return min === Infinity ? null : Math.max(0, min - now);
  }
}

/** Splits `n` over `k` parts as evenly as can be, the first ones larger. */
export function split(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

export class AwayLeases {
  private m = new Map<string, { shard: number; seen: number }>();
  private nextPrune = 0;

  private static key(tiId: number, owner: string): string {
    return `${tiId}\n${owner}`;
  }

  set(tiId: number, owner: string, shard: number): void {
    this.m.set(AwayLeases.key(tiId, owner), { shard, seen: Date.now() });
  }

  /** The shard of this lease if it is away from its home shard, else undefined (touches it: still alive). */
  get(tiId: number, owner: string): number | undefined {
    if (!this.m.size) return undefined;
    const e = this.m.get(AwayLeases.key(tiId, owner));
    if (e) e.seen = Date.now();
    return e?.shard;
  }

  delete(tiId: number, owner: string): void {
    if (this.m.size) this.m.delete(AwayLeases.key(tiId, owner));
  }

  /** Forgets leases nobody used for long (their runs were cancelled or lost without an ack). */
  prune(): void {
    const now = Date.now();
    if (now < this.nextPrune || !this.m.size) return;
    this.nextPrune = now + 60_000;
    for (const [k, e] of this.m) if (now - e.seen > AWAY_FORGET_MS) this.m.delete(k);
  }

  get size(): number {
    return this.m.size;
  }
}

/** Merges per-shard lists of leases into one, earliest deadline first, at most `max`. */
export function earliest<T extends { leaseDeadline: number }>(lists: T[][], max: number): T[] {
  const all = lists.flat();
  if (lists.length > 1) all.sort((a, b) => a.leaseDeadline - b.leaseDeadline);
  return all.slice(0, max);
}
