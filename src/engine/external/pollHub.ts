// The long polls a member holds for external workers, waiting in memory. One Redis subscription per
// member (the `wq:wake` channel, lazily opened) wakes them: each enqueue publishes its queue name and how
// many ids it added, and that many waiting polls on the queue are woken (oldest first) to claim; an idle
// poll costs Redis nothing while it waits. A woken poll that leaves without claiming, or that claims and
// sees more due, passes the wake-up on to the next one, so no ready task waits for a poll's timeout while
// another poll on its queue sits idle.
import { closeSubscriber, duplicateConnection, type Redis } from '../../infra/redis.js';
import type { Logger } from '../../infra/logger.js';
import { withTimeout } from '../../infra/timeout.js';

export interface Waiter {
  queues: Set<string>;
  /** A wake-up arrived since the waiter last claimed. */
  woken: boolean;
  notify: (() => void) | null;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class PollHub {
  private sub: Redis | null = null;
  private subscribed: Promise<void> | null = null;
  private waiters: Waiter[] = [];
  private closed = false;

  constructor(private redis: Redis, private channel: string, private log: Logger) {}

  /** Closed (the member is stopping): polls answer at once with what they claimed, if anything. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Polls waiting now on this member. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Polls waiting now, per queue. */
  waitingByQueue(): Map<string, number> {
    const m = new Map<string, number>();
    for (const w of this.waiters) for (const q of w.queues) m.set(q, (m.get(q) ?? 0) + 1);
    return m;
  }

  /**
   * A waiter for these queues, registered before its first claim (so a wake-up between that claim and
   * its wait is not missed). The subscription is in place when it resolves (or Redis did not answer
   * within a second: the poll then still claims, and waits out its time).
   */
  async register(queues: string[]): Promise<Waiter> {
    const w: Waiter = { queues: new Set(queues), woken: false, notify: null };
    this.waiters.push(w);
    await withTimeout(this.subscribe(), 1_000, 'subscribing to worker wake-ups').catch((e) => this.log.warn({ err: e }, 'worker wake-up subscription not ready'));
    return w;
  }

  /** Takes the waiter out; a wake-up it did not use goes to the next waiter of its queues. */
  unregister(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    if (w.woken) for (const q of w.queues) this.wake(q, 1);
    w.notify?.();
  }

  /** Resolves on a wake-up (or one that came since the last claim), after `ms`, or when `signal` aborts. */
  wait(w: Waiter, ms: number, signal: AbortSignal): Promise<void> {
    if (w.woken || signal.aborted || this.closed || ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        w.notify = null;
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, MAX_TIMER_MS));
      signal.addEventListener('abort', done, { once: true });
      w.notify = done;
    });
  }

  /** Wakes up to `n` waiters of `queue` not woken yet, oldest first. */
  wake(queue: string, n: number): void {
    for (const w of this.waiters) {
      if (n <= 0) break;
      if (w.woken || !w.queues.has(queue)) continue;
      w.woken = true;
      w.notify?.();
      n--;
    }
  }

  private wakeAll(): void {
    for (const w of this.waiters) {
      w.woken = true;
      w.notify?.();
    }
  }

  /**
   * Opens the subscriber connection once. Each time it (re)connects, every waiter is woken to claim
   * again: an enqueue published while the connection was down is not missed.
   */
  private subscribe(): Promise<void> {
    if (this.subscribed) return this.subscribed;
    if (this.closed) return Promise.resolve(); // a poll arriving as the member stops: answered at once
    const sub = duplicateConnection(this.redis, { autoResubscribe: false, enableAutoPipelining: false, lazyConnect: false });
    this.sub = sub;
    let first: (() => void) | null = null;
    this.subscribed = new Promise<void>((resolve) => (first = resolve));
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const [queue, count] = message.split(' ');
      this.wake(queue!, Math.max(1, Number(count) || 1));
    });
    sub.on('error', () => {
      // ioredis reconnects by itself; polls still answer at their waitMs meanwhile.
    });
    sub.on('ready', () => {
      sub
        .subscribe(this.channel)
        .then(() => {
          first?.();
          first = null;
          this.wakeAll();
        })
        .catch(() => {
          // the next 'ready' tries again
        });
    });
    return this.subscribed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.waiters]) w.notify?.();
    const sub = this.sub;
    this.sub = null;
    await closeSubscriber(sub);
  }
}
