// Placeholder until the Lua-backed queue lands (issue 3).
import type { Redis } from '../infra/redis.js';
import type { ClaimResult, InflightEntry, Queue, QueueStats } from './types.js';

export class WorkQueue implements Queue {
  constructor(private redis: Redis, private prefix: string) {}
  async enqueue(): Promise<void> { throw new Error('not implemented'); }
  async claim(): Promise<ClaimResult> { throw new Error('not implemented'); }
  async ack(): Promise<boolean> { throw new Error('not implemented'); }
  async ackAndRequeue(): Promise<boolean> { throw new Error('not implemented'); }
  async extend(): Promise<number[]> { throw new Error('not implemented'); }
  async takeExpired(): Promise<InflightEntry[]> { throw new Error('not implemented'); }
  async remove(): Promise<void> { throw new Error('not implemented'); }
  async waitForWork(): Promise<void> { throw new Error('not implemented'); }
  async known(): Promise<Set<number>> { throw new Error('not implemented'); }
  async stats(): Promise<QueueStats> { throw new Error('not implemented'); }
  async inflight(): Promise<InflightEntry[]> { throw new Error('not implemented'); }
  async close(): Promise<void> {}
}
