// Idle workers' wait for work (Queue.waitForWork): one subscriber connection per queue on its wake
// channel, opened by the first wait. A wake-up ends every wait and stays noted until the next claim, so a
// worker that was busy when it came does not go to sleep on work that is already there.
import { closeSubscriber, duplicateConnection, type Redis } from '../infra/redis.js';
import type { QueueKeys } from '../redis/keys.js';
import type { ClaimHints } from './shards.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

export class Wakeups {
  private sub: Redis | null = null;
  /** A wake-up arrived (or work may have been missed) since the last claim. */
  private woken = false;
  private closed = false;
  private waiters = new Set<() => void>();
  private readonly channel: string;
  /** A wake-up's message (a shard's `limited` key) → its shard. */
  private readonly shardOfMessage: Map<string, number>;

  /** `anyDue`: whether any id is due now (asked after each (re)subscription). */
  constructor(private redis: Redis, shardKeys: QueueKeys[], private hints: ClaimHints, private anyDue: () => Promise<boolean>) {
    this.channel = shardKeys[0].wake;
    this.shardOfMessage = new Map(shardKeys.map((k, n) => [k.limited, n]));
  }

  /** A claim is on its way: cleared before asking, so a wake-up that arrives meanwhile stays noted. */
  claiming(): void {
    this.woken = false;
  }

  async wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || this.woken || signal?.aborted) return;
    this.subscribe();
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS));
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const done of [...this.waiters]) done();
    const sub = this.sub;
    this.sub = null;
    await closeSubscriber(sub);
  }

  /** Wakes every waiter and notes the wake-up for the next caller until a claim; `shard`: the shard that got work. */
  private wake(shard?: number, prio?: number, score?: number): void {
    this.hints.due(shard, prio, score);
    this.woken = true;
    for (const done of [...this.waiters]) done();
  }

  /**
   * Starts the subscriber connection once. Each time it (re)connects it subscribes to the wake channel
   * and then looks whether anything is already due: an enqueue published before the subscription was in
   * place (or while the connection was down) is not lost, it is seen by that check.
   */
  private subscribe(): void {
    if (this.sub || this.closed) return;
    const sub = duplicateConnection(this.redis, { autoResubscribe: false, enableAutoPipelining: false, lazyConnect: false });
    this.sub = sub;
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      // `<shard's limited key>[ <priority> <score>]` (lua/enqueue.lua); anything else: every shard.
      const [key, p, score] = message.split(' ');
      this.wake(this.shardOfMessage.get(key), Number(p) || 0, score ? Number(score) : -Infinity);
    });
    sub.on('error', () => {
      // ioredis reconnects by itself; waiters still return at their timeout meanwhile.
    });
    sub.on('ready', () => {
      sub
        .subscribe(this.channel)
        .then(async () => {
          if (this.closed) return;
          if (await this.anyDue()) this.wake();
        })
        .catch(() => {
          // the next 'ready' tries again
        });
    });
  }
}
