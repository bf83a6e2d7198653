// Tells every member to abort task instances that were cancelled while running (flow cancel, or a
// node decided without them). Pub/sub is a hint only: a runner that misses it finds its result
// refused by the version fence anyway.
import type { Redis } from '../infra/redis.js';

export class CancelSignals {
  private sub: Redis | null = null;

  constructor(private redis: Redis, private prefix: string) {}

  private get channel(): string {
    return `${this.prefix}cancel`;
  }

  async publish(tiIds: number[]): Promise<void> {
    if (tiIds.length) await this.redis.publish(this.channel, tiIds.join(','));
  }

  async subscribe(onCancel: (tiIds: number[]) => void): Promise<void> {
    this.sub = this.redis.duplicate();
    this.sub.on('message', (_ch: string, msg: string) => onCancel(msg.split(',').map(Number)));
    await this.sub.subscribe(this.channel);
  }

  async close(): Promise<void> {
    if (this.sub) {
      this.sub.disconnect();
      this.sub = null;
    }
  }
}
