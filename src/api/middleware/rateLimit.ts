// START_RATE_LIMIT: starts (POST /exec/flow/{id}, retries included, and POST /exec/task/{id}) per
// second per caller: the API token's name, or the client IP when the API is open (X-Forwarded-For is
// believed: app.proxy is on). A token bucket per caller, refilled at the rate up to START_RATE_BURST;
// an empty bucket is a 429 in the envelope with Retry-After. The buckets live in this member's memory,
// so the limit is per member; idle (full) buckets are dropped, and there are at most MAX_BUCKETS.
import type { Middleware } from 'koa';
import { HttpError, type Principal } from '../http.js';
import { isStart } from '../accessRules.js';

const MAX_BUCKETS = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(private rate: number, private burst: number, private now: () => number = () => performance.now()) {}

  /** Takes one token; 0 when granted, else the seconds until one is there. */
  take(key: string): number {
    const t = this.now();
    this.sweep(t);
    let b = this.buckets.get(key);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate);
      b.at = t;
      this.buckets.delete(key); // re-inserted below: the map stays in least-recently-used order
    } else {
      b = { tokens: this.burst, at: t };
    }
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.rate;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Drops, at most once a second, the buckets that have refilled: they are as good as new. */
  private sweep(t: number): void {
    if (t - this.lastSweep < 1000) return;
    this.lastSweep = t;
    const full = (this.burst / this.rate) * 1000;
    for (const [k, b] of this.buckets) if (t - b.at >= full) this.buckets.delete(k);
  }
}

export function startRateLimit(rate: number, burst: number): Middleware {
  const buckets = new TokenBuckets(rate, burst);
  return async (ctx, next) => {
    if (!isStart(ctx.method, ctx.path)) return next();
    const p = ctx.state.principal as Principal | undefined;
    const wait = buckets.take(p ? `token:${p.name}` : `ip:${ctx.ip}`);
    if (wait > 0) {
      const seconds = Math.max(1, Math.ceil(wait));
      ctx.set('Retry-After', String(seconds));
      throw new HttpError(429, `too many starts: at most ${rate} per second (START_RATE_LIMIT, burst ${burst}); retry in ${seconds} s`);
    }
    return next();
  };
}
