// The engine as the rest of the program sees it: the coordinator, the worker (when this member has
// the worker role), and the actions the API offers.
import type { Services } from '../services.js';
import { Coordinator } from './coordinator.js';
import { Worker } from './worker.js';
import { startFlow, type StartOptions } from './startFlow.js';
import { retryFlow } from './retryFlow.js';
import { cancelFlow } from './cancelFlow.js';
import { startTask } from './startTask.js';

export class Engine {
  readonly coordinator: Coordinator;
  worker: Worker | null = null;

  constructor(private s: Services) {
    this.coordinator = new Coordinator(s);
  }

  async startWorker(): Promise<Worker> {
    this.worker = new Worker(this.s, this.coordinator);
    await this.worker.start();
    return this.worker;
  }

  startFlow(flowId: number, opts?: StartOptions): Promise<number | null> {
    return startFlow(this.s, this.coordinator, flowId, opts);
  }

  retryFlow(flowId: number, fiId: number, niId: number, user?: string): Promise<number> {
    return retryFlow(this.s, this.coordinator, flowId, fiId, niId, user);
  }

  cancelFlow(fiId: number, user?: string): Promise<void> {
    return cancelFlow(this.s, this.coordinator, fiId, user);
  }

  startTask(taskId: number, user?: string): Promise<number> {
    return startTask(this.s, taskId, user);
  }

  advance(fiId: number): Promise<void> {
    return this.coordinator.advance(fiId);
  }

  async stop(graceMs: number): Promise<void> {
    if (this.worker) await this.worker.stop(graceMs);
    await this.coordinator.close();
  }
}
