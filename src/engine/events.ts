// What the engine reports as it goes: one typed emitter, owned by the Engine and shared by its coordinator
// and worker, that observers (metrics, live events: src/observe/) subscribe to, in any order and before or
// after the worker starts. Emitting costs a lookup when nobody listens; a subscriber that throws is logged
// (at most every few seconds) and never breaks the engine.
import type { Logger } from '../infra/logger.js';
import type { StatusChange } from './advanceMany.js';
import type { RunResult, TaskRun } from './taskRun.js';

export interface EngineEventMap {
  /** The worker started an attempt. */
  taskStarted: [run: TaskRun];
  /** The worker recorded an attempt's result (RETRY: the task will run again). */
  taskFinished: [run: TaskRun, status: RunResult['status'], ms: number];
  /** A write refused by the version fence, by who tried. */
  stale: [who: 'coordinator' | 'worker'];
  /** A flow instance ended. */
  finished: [fiId: number, status: string];
  /** The instance's lock was held by someone else (they will pick up our dirty mark). */
  lockBusy: [fiId: number];
  /**
   * A pass decided from this member's copies of its flow instances (flowStates.ts): `used` (one round
   * trip), or `stale` (a copy was not what MySQL holds: rolled back and made again from a read).
   */
  fromCopies: [outcome: 'used' | 'stale'];
  /** One coordinator pass that changed `count` instances took `ms`. */
  advance: [count: number, ms: number];
  /** Status changes of flow, node and task instances, once committed (the dashboard's live events). */
  statusChanges: [changes: StatusChange[]];
  /** External workers (WORKER tasks): `n` task instances of `queue` leased to a poll. */
  externalLeased: [queue: string, n: number];
  /** Of those, `n` handed over in a complete's answer (`next`: external/handOver.ts) rather than to a poll. */
  externalHandedOver: [queue: string, n: number];
  /** An external worker's result recorded (RETRY: the task will run again). */
  externalFinished: [queue: string, status: RunResult['status']];
  /** A heartbeat, complete or fail answered 409 (the lease was not the caller's any more). */
  externalRefused: [what: 'heartbeat' | 'complete' | 'fail'];
  /** The leader's reaper took back `n` leases of `queue` that ran out. */
  externalLeaseExpired: [queue: string, n: number];
}

export type EngineEventName = keyof EngineEventMap;
type Listener<K extends EngineEventName> = (...args: EngineEventMap[K]) => void;

const WARN_EVERY_MS = 10_000;

export class EngineEvents {
  /** Copied on change, so a subscriber that unsubscribes while an event is emitted changes nothing mid-way. */
  private listeners: { [K in EngineEventName]?: Listener<K>[] } = {};
  /** One per statusChanges subscriber: whether it wants them now. */
  private wants: (() => boolean)[] = [];
  private lastWarn = 0;

  constructor(private log: Logger) {}

  /**
   * Subscribes; returns the unsubscribe. A statusChanges subscriber may say when it wants them (`when`):
   * status changes are not even built while no subscriber wants them (see `watching`).
   */
  on<K extends EngineEventName>(name: K, fn: Listener<K>, opts: { when?: () => boolean } = {}): () => void {
    const wants = name === 'statusChanges' ? (opts.when ?? (() => true)) : null;
    this.listeners[name] = [...(this.listeners[name] ?? []), fn] as never;
    if (wants) this.wants = [...this.wants, wants];
    return () => {
      this.listeners[name] = (this.listeners[name] ?? []).filter((f) => f !== fn) as never;
      if (wants) this.wants = this.wants.filter((w) => w !== wants);
    };
  }

  /** Whether any statusChanges subscriber wants status changes now. */
  get watching(): boolean {
    for (const w of this.wants) if (this.safely(w)) return true;
    return false;
  }

  emit<K extends EngineEventName>(name: K, ...args: EngineEventMap[K]): void {
    const list = this.listeners[name];
    if (!list) return;
    for (const fn of list) {
      try {
        (fn as (...a: unknown[]) => void)(...args);
      } catch (e) {
        this.failed(e, name);
      }
    }
  }

  private safely(w: () => boolean): boolean {
    try {
      return w();
    } catch (e) {
      this.failed(e, 'statusChanges');
      return false;
    }
  }

  private failed(e: unknown, name: string): void {
    const now = Date.now();
    if (now - this.lastWarn < WARN_EVERY_MS) return;
    this.lastWarn = now;
    this.log.warn({ err: e, event: name }, 'an engine event subscriber failed'); // watchers must never break the engine
  }
}
