// The tasks that have flow-control limits (taskConfig.concurrencyLimit / rateLimit), as the queue knows
// them, refreshed every second: the worker's continued runs of these tasks take their slot before they
// run (continuedLimited.ts), the others keep the fire-and-forget lease. A limit set on another member is
// seen here within about a second plus the leader's sync from MySQL.
import type { Queue } from '../queue/types.js';
import type { Logger } from '../infra/logger.js';

const REFRESH_MS = 1_000;

export class LimitedTasks {
  private ids: ReadonlySet<number> = new Set();
  private timer: NodeJS.Timeout | null = null;

  constructor(private queue: Queue, private log: Logger) {}

  /** Task ids with limits (empty until the first refresh answers). */
  get current(): ReadonlySet<number> {
    return this.ids;
  }

  start(): void {
    if (this.timer) return;
    const refresh = () => {
      this.queue.limitedTasks().then(
        (ids) => (this.ids = ids),
        (e) => this.log.debug({ err: e }, 'reading the limited tasks failed; keeping the last list'),
      );
    };
    refresh();
    this.timer = setInterval(refresh, REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
