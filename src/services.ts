// What every part of a member shares: its configuration, pools, logger and identity.
// Built once in member.ts and passed down explicitly (no globals: Objection's models are given the
// pool, `Model.query(s.knex)`, on every query).
import type { Config } from '../config/index.js';
import type { Knex } from './infra/db.js';
import type { Redis } from './infra/redis.js';
import type { Logger } from './infra/logger.js';
import type { Queue } from './queue/types.js';
import type { WriteLimits } from './infra/writeLimits.js';

export interface Services {
  config: Config;
  knex: Knex;
  redis: Redis;
  log: Logger;
  /** This process's id in the cluster: worker leases and locks are held in its name. */
  memberId: string;
  queue: Queue;
  /** What one round trip to MySQL may carry, from its max_allowed_packet (read at start-up). */
  limits: WriteLimits;
}
