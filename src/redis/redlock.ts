// Redlock for our locks and leases (the flow locks, engine/locks.ts; the leader lease, cluster/leader.ts):
// each value starts with its holder's member id, `memberId|random`, so anyone reading a key can say who
// holds it (/admin/locks, /admin/leader). The random part never contains `|`, a member id might (a host
// name is not checked), so the holder is everything before the last `|`.
import { randomBytes } from 'node:crypto';
import Redlock, { type Settings } from 'redlock';
import type { Redis } from '../infra/redis.js';

/** A Redlock on `client` whose lock values name `holder`. */
export function namedRedlock(client: Redis, holder: string, settings: Partial<Settings>): Redlock {
  const r = new Redlock([client], settings);
  // Redlock's (private) value generator, replaced so the value names its holder.
  (r as unknown as { _random: () => string })._random = () => `${holder}|${randomBytes(8).toString('hex')}`;
  return r;
}

/** The member id in a lock's value or a lease's owner (`memberId|…`); the whole value if it has no `|`. */
export function holderOf(value: string): string {
  const bar = value.lastIndexOf('|');
  return bar > 0 ? value.slice(0, bar) : value;
}
