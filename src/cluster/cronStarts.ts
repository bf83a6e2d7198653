// The cron's starts, batched and bounded. Each tick used to be a start of its own: its own transaction
// and its own pool connection, all at once. 100 flows on an every-second cron meant 100 transactions a
// second racing the API for the pool; on a slow MySQL they piled up, the API waited for a connection
// until it answered 503, and the ticks that failed were gone.
//
// Now the ticks queue here, and one batch at a time starts every tick due in ONE transaction
// (Engine.startCronTicks): the cron holds at most one MySQL connection, however many flows fire and
// however slow MySQL is, so the API always has the rest of the pool. Callbacks of one second arrive
// within a few ms of each other; a short gather lets them share a batch.
//
// Nothing is lost without a count: a batch that fails is tried again (the ticks keep their place); a
// tick not started within CRON_LATE_MS of its instant, a tick that finds the queue full, and the ticks
// still waiting when the duty stops (leadership lost, shutdown) are counted as missed
// (task_schedule_cron_ticks_missed_total) and logged — one line per batch of them, not one per tick.
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import { ConflictError, NotFoundError } from '../errors.js';

/** A tick not started this long after its instant is given up and counted as missed (README: Cron under load). */
export const CRON_LATE_MS = 30_000;
/** Ticks waiting at most: 100 every-second flows 100 s behind. More are counted as missed at once. */
export const CRON_MAX_PENDING = 10_000;
/** Ticks per transaction. */
const MAX_BATCH = 500;
/** How long the first tick of a second waits for the others of that second. */
const GATHER_MS = 20;
/** Pause before a failed batch is tried again. */
const RETRY_MS = 1_000;

/** What became of a tick: started, found started already, given up, refused (deleted flow), or dropped (its flow unscheduled). */
export type TickOutcome = 'fired' | 'duplicate' | 'missed' | 'failed' | 'dropped' | 'skipped';

export interface CronCounts {
  fired: number;
  /** Ticks another fire (an old or a new leader) had already started. */
  duplicates: number;
  /** Ticks of a flow that no longer exists. */
  failed: number;
  /** Ticks not started in time (or at all): late, queue full, or still waiting when the duty stopped. */
  missed: number;
}

interface Tick {
  flowId: number;
  scheduledTime: Date;
  /** When the start is due: the tick's instant, or when a catch-up was asked for. */
  dueAt: number;
  waiters: ((o: TickOutcome) => void)[];
}

const keyOf = (flowId: number, t: Date) => `${flowId}@${t.getTime()}`;

function settle(t: Tick, outcome: TickOutcome): void {
  const ws = t.waiters;
  t.waiters = [];
  for (const w of ws) w(outcome);
}

export class CronStarts {
  private pending = new Map<string, Tick>();
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private closed = true;
  readonly counts: CronCounts = { fired: 0, duplicates: 0, failed: 0, missed: 0 };

  constructor(private engine: Engine, private log: Logger, private mayFire: () => boolean) {}

  /** Ticks waiting to be started. */
  get size(): number {
    return this.pending.size;
  }

  open(): void {
    this.closed = false;
  }

  /** Queues one tick; resolves once it is started, found started, or given up. Never rejects. */
  add(flowId: number, scheduledTime: Date, dueAt: number): Promise<TickOutcome> {
    const key = keyOf(flowId, scheduledTime);
    if (this.closed) return Promise.resolve('dropped');
    if (this.pending.has(key)) {
      this.counts.duplicates += 1;
      return Promise.resolve('duplicate');
    }
    const tick: Tick = { flowId, scheduledTime, dueAt, waiters: [] };
    if (this.pending.size >= CRON_MAX_PENDING) {
      this.miss([tick], `${CRON_MAX_PENDING} ticks are waiting already`);
      return Promise.resolve('missed');
    }
    return new Promise((resolve) => {
      tick.waiters.push(resolve);
      this.pending.set(key, tick);
      this.kick(GATHER_MS);
    });
  }

  /** Drops a flow's waiting ticks: it was disabled, changed or deleted, so they are no longer wanted. */
  drop(flowId: number): void {
    for (const [key, t] of this.pending) {
      if (t.flowId !== flowId) continue;
      this.pending.delete(key);
      settle(t, 'dropped');
    }
  }

  /** Stops taking ticks; waits for the batch in flight; what still waits is counted as missed. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.draining;
    const left = [...this.pending.values()];
    this.pending.clear();
    if (left.length) this.miss(left, 'the cron duty stopped (leadership lost, or the member is stopping)');
  }

  private kick(delayMs: number): void {
    if (this.closed || this.timer || this.draining || !this.pending.size) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.draining = this.drain()
        .catch((e) => {
          this.log.error({ err: e }, 'cron starts: unexpected error');
          return false;
        })
        .then((ok) => {
          this.draining = null;
          this.kick(ok ? GATHER_MS : RETRY_MS);
        });
    }, delayMs);
  }

  /** One batch. False when it failed (its ticks stay queued, tried again after RETRY_MS). */
  private async drain(): Promise<boolean> {
    if (!this.mayFire()) {
      const all = [...this.pending.values()];
      this.pending.clear();
      this.miss(all, 'this member no longer leads');
      return true;
    }
    const now = Date.now();
    const late: Tick[] = [];
    for (const [key, t] of this.pending) {
      if (now - t.dueAt <= CRON_LATE_MS) continue;
      this.pending.delete(key);
      late.push(t);
    }
    if (late.length) this.miss(late, `not started within ${CRON_LATE_MS} ms of its tick`);
    const batch: Tick[] = [];
    for (const t of this.pending.values()) {
      if (batch.length >= MAX_BATCH) break;
      batch.push(t);
    }
    if (!batch.length) return true;
    let results: (number | null | NotFoundError | ConflictError)[];
    try {
      results = await this.engine.startCronTicks(batch.map((t) => ({ flowId: t.flowId, scheduledTime: t.scheduledTime })));
    } catch (e) {
      this.log.warn({ err: e, ticks: batch.length, waiting: this.pending.size }, 'cron start failed; its ticks are tried again until they are late');
      return false;
    }
    let fired = 0;
    batch.forEach((t, i) => {
      const key = keyOf(t.flowId, t.scheduledTime);
      if (this.pending.get(key) === t) this.pending.delete(key);
      const r = results[i];
      if (r instanceof NotFoundError) {
        this.counts.failed += 1;
        this.log.warn({ flowId: t.flowId, scheduledTime: t.scheduledTime }, 'cron tick of a flow that no longer exists');
        settle(t, 'failed');
      } else if (r instanceof ConflictError) {
        // Flow control: the flow is at its maxActiveInstances and its overflow is SKIP.
        this.log.info({ flowId: t.flowId, scheduledTime: t.scheduledTime, reason: r.message }, 'cron tick skipped: the flow is at its maxActiveInstances');
        settle(t, 'skipped');
      } else if (r === null) {
        this.counts.duplicates += 1;
        settle(t, 'duplicate');
      } else {
        fired += 1;
        settle(t, 'fired');
      }
    });
    this.counts.fired += fired;
    this.log.debug({ ticks: batch.length, fired, waiting: this.pending.size }, 'cron batch started');
    return true;
  }

  private miss(ticks: Tick[], why: string): void {
    this.counts.missed += ticks.length;
    const flows = [...new Set(ticks.map((t) => t.flowId))];
    const oldest = ticks.reduce((a, t) => (t.scheduledTime < a ? t.scheduledTime : a), ticks[0].scheduledTime);
    this.log.warn({ missed: ticks.length, flows: flows.slice(0, 20), flowCount: flows.length, oldestTick: oldest, why }, 'cron ticks missed: not started');
    for (const t of ticks) settle(t, 'missed');
  }
}
