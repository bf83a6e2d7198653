// The engine as the rest of the program sees it: the coordinator, the worker (when this member has
// the worker role), and the actions the API offers.
import type { Services } from '../services.js';
import { Coordinator } from './coordinator.js';
import { Worker } from './worker.js';
import { startCronTicks, startFlow, startFlows, type RoomForStarts, type StartOptions, type StartRequest } from './startFlow.js';
import { Batcher } from './batcher.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { retryFlow } from './retryFlow.js';
import { cancelFlow } from './cancelFlow.js';
import { signalNode } from './signalFlow.js';
import { startTask } from './startTask.js';
import { EngineEvents } from './events.js';
import { ExternalTasks } from './external/externalTasks.js';
import { followUps, hasFollowUps } from './subFlows.js';
import { failTimedOut, startQueued } from './flowControl.js';

export class Engine {
  /** What the coordinator and the worker report; observers subscribe here (src/observe/). */
  readonly events: EngineEvents;
  readonly coordinator: Coordinator;
  worker: Worker | null = null;
  /** External workers' protocol (WORKER tasks): served by every member, with or without the worker role. */
  readonly external: ExternalTasks;
  /**
   * API starts that arrive together are made in one transaction, one such transaction at a time: a
   * burst of starts queues here (in larger batches) rather than crowding the transactions that record
   * results and move running flows on, which are what step-to-step latency is made of.
   */
  private starts: Batcher<StartRequest, number | NotFoundError | ConflictError>;

  constructor(private s: Services) {
    this.events = new EngineEvents(s.log);
    this.coordinator = new Coordinator(s, this.events);
    this.coordinator.followUps = (out) => (hasFollowUps(out) ? followUps(s, this.coordinator, out) : Promise.resolve());
    this.external = new ExternalTasks(s, this.coordinator, this.events);
    this.starts = new Batcher((reqs) => startFlows(s, this.coordinator, reqs, this.roomForStarts), 1, 500);
  }

  /** This member's worker runs the first tasks of the flows it starts while it has a slot free and nothing due (startFlow.ts). */
  private roomForStarts: RoomForStarts = (wanted) => this.worker?.roomForStarts(wanted) ?? null;

  async startWorker(): Promise<Worker> {
    this.worker = new Worker(this.s, this.coordinator, this.events);
    await this.worker.start();
    return this.worker;
  }

  /** Starts an instance; null when a cron tick (opts.scheduledTime) already started this flow. */
  async startFlow(flowId: number, opts: StartOptions = {}): Promise<number | null> {
    // A cron start must fail alone on its unique key, and a keyed start record its key in its own
    // transaction, so neither shares a batch.
    if (opts.scheduledTime || opts.idempotencyKey) return startFlow(this.s, this.coordinator, flowId, opts, this.roomForStarts);
    const res = await this.starts.add({ flowId, ...opts });
    if (res instanceof NotFoundError || res instanceof ConflictError) throw res;
    return res;
  }

  /**
   * The cron's ticks, many flows in one transaction: per tick the new fiId, null when that tick already
   * has its instance, or the NotFoundError of a deleted flow. The cron sends one batch at a time.
   */
  startCronTicks(ticks: { flowId: number; scheduledTime: Date }[]): Promise<(number | null | NotFoundError | ConflictError)[]> {
    return startCronTicks(this.s, this.coordinator, ticks, this.roomForStarts);
  }

  retryFlow(flowId: number, fiId: number, niId: number, user?: string): Promise<number> {
    return retryFlow(this.s, this.coordinator, flowId, fiId, niId, user);
  }

  cancelFlow(fiId: number, user?: string): Promise<void> {
    return cancelFlow(this.s, this.coordinator, fiId, user);
  }

  /** A waiting SIGNAL node succeeds with `payload` as its output; returns its node instance id. */
  signal(fiId: number, nodeKey: string, payload: unknown, user?: string): Promise<number> {
    return signalNode(this.s, this.coordinator, fiId, nodeKey, payload, user);
  }

  startTask(taskId: number, user?: string, idempotencyKey?: string, input?: Record<string, unknown>, priority?: number): Promise<number> {
    return startTask(this.s, taskId, user, idempotencyKey, input, priority);
  }

  /** Leader: starts QUEUED instances where their flows have room (flow control). */
  startQueued(): Promise<number> {
    return startQueued(this.s, this.coordinator);
  }

  /** Leader: fails RUNNING instances past their flow's timeoutMs. */
  failTimedOut(): Promise<number> {
    return failTimedOut(this.s, this.coordinator);
  }

  advance(fiId: number): Promise<void> {
    return this.coordinator.advance(fiId);
  }

  async stop(graceMs: number): Promise<void> {
    if (this.worker) await this.worker.stop(graceMs);
    await this.external.close();
    await this.coordinator.close();
  }
}
