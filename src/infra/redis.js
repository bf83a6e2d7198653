// Redis connections. The db number in REDIS_URL is honoured (ioredis reads it from the path).
import { Redis } from 'ioredis';
export function createRedis(redisUrl, name = 'main') {
    return new Redis(redisUrl, {
        connectionName: `task-schedule:${name}`,
        maxRetriesPerRequest: null,
        enableAutoPipelining: true,
        lazyConnect: false,
    });
}
