// Tells every member to abort task instances that were cancelled while running (flow cancel, or a
// node decided without them). Pub/sub is a hint only: a runner that misses it finds its result
// refused by the version fence anyway.
import { duplicateRedis, type Redis } from '../infra/redis.js';
import type { Logger } from '../infra/logger.js';
import { cancelChannel } from '../redis/keys.js';

export class CancelSignals {
  private sub: Redis | null = null;

  constructor(private redis: Redis, private prefix: string, private log: Logger) {}

  private get channel(): string {
    return cancelChannel(this.prefix);
  }

  async publish(tiIds: number[]): Promise<void> {
    if (tiIds.length) await this.redis.publish(this.channel, tiIds.join(','));
  }

  /** Subscribes on a connection of its own (re-subscribed by ioredis after a reconnect). */
  async subscribe(onCancel: (tiIds: number[]) => void): Promise<void> {
    const sub = duplicateRedis(this.redis, this.log, 'Redis (cancel subscriber)');
    this.sub = sub;
    sub.on('message', (_ch: string, msg: string) => onCancel(msg.split(',').map(Number).filter(Number.isSafeInteger)));
    await sub.subscribe(this.channel);
  }

  async close(): Promise<void> {
    if (this.sub) {
      this.sub.disconnect();
      this.sub = null;
    }
  }
}
