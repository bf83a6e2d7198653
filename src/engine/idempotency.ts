// Idempotency-Key on starts: a client that lost the answer to a start and sends it again with the same
// key gets the instance the first one made, within IDEMPOTENCY_TTL. The key is recorded in the start's
// own transaction, and its primary key in MySQL (not Redis) makes a second start of one key impossible:
// two requests with one key at once — on one member or two — make one instance; the second waits on the
// key's row and then answers what the first made. A key reused for another target is a 409.
import type { Knex } from '../infra/db.js';
import { ConflictError } from '../errors.js';


export interface Idempotency {
  key: string;
  /** What is started: `flow:<flowId>` or `task:<taskId>`. */
  target: string;
  ttlMs: number;
}

/** The id a live earlier request with this key made, or null (none, or expired). 409 if it was for another target. */
export async function earlierResult(knex: Knex, idem: Idempotency): Promise<number | null> {
  const row = await knex('idempotency_key').select('target', 'result_id', 'create_time').where('idem_key', idem.key).first();
  if (!row || new Date(row.create_time).getTime() < Date.now() - idem.ttlMs) return null;
  if (row.target !== idem.target) {
    throw new ConflictError(`Idempotency-Key "${idem.key}" was used for ${row.target.replace(':', ' ')} ; a key names one request: send a new key for a new request`);
  }
  return Number(row.result_id);
}

/**
 * Statements recording the key for the id just inserted (LAST_INSERT_ID()), in the start's transaction:
 * an expired record of the key goes first. A live record makes the INSERT fail (ER_DUP_ENTRY).
 */
export function recordKeyStatements(idem: Idempotency, now: Date): { sql: string; bindings: (string | Date)[] }[] {
  return [
    { sql: 'DELETE FROM idempotency_key WHERE idem_key = ? AND create_time < ?', bindings: [idem.key, new Date(now.getTime() - idem.ttlMs)] },
    { sql: 'INSERT INTO idempotency_key (idem_key, target, result_id, create_time) VALUES (?, ?, LAST_INSERT_ID(), ?)', bindings: [idem.key, idem.target, now] },
  ];
}

/**
 * Runs a start with a key: answers an earlier result if there is one, else `start` (which must send
 * recordKeyStatements in its transaction); a start that loses the race on the key answers the winner's id.
 */
export async function startOnce(knex: Knex, idem: Idempotency, start: () => Promise<number>): Promise<number> {
  const earlier = await earlierResult(knex, idem);
  if (earlier !== null) return earlier;
  try {
    return await start();
  } catch (e) {
    if ((e as { code?: string }).code !== 'ER_DUP_ENTRY') throw e;
    const winner = await earlierResult(knex, idem);
    if (winner === null) throw e;
    return winner;
  }
}

/** Expired keys, removed by the leader's reconciler a page at a time. */
export async function deleteExpiredKeys(knex: Knex, ttlMs: number, limit = 1000): Promise<number> {
  return knex('idempotency_key').where('create_time', '<', new Date(Date.now() - ttlMs)).limit(limit).delete();
}
