// Round trips are what the engine pays for (see README, Performance): several statements go to MySQL
// in one round trip (the pool allows multiple statements; every value is bound). Queries are written
// with the query builder, so the SQL stays readable, and sent together; results come back one per
// statement, in order.
import type { Knex } from '../infra/db.js';

export type Statement = Knex.QueryBuilder | Knex.Raw | { sql: string; bindings: readonly unknown[] };

const native = (st: Statement): { sql: string; bindings: readonly unknown[] } => ('toSQL' in st ? st.toSQL().toNative() : st);

export async function sendTogether(trx: Knex | Knex.Transaction, statements: Statement[]): Promise<any[]> {
  if (!statements.length) return [];
  const parts = statements.map(native);
  const [res] = await trx.raw(parts.map((p) => p.sql).join(';\n'), parts.flatMap((p) => p.bindings) as Knex.RawBinding[]);
  return parts.length === 1 ? [res] : (res as any[]);
}

/**
 * A transaction on one pinned connection whose BEGIN rides in its first round trip, and whose COMMIT
 * may ride in its last (`send(…, { commit: true })`, once everything that could refuse the transaction
 * has been checked). `q` only builds queries; they run through `send`.
 */
export interface Tx {
  q: Knex;
  send(statements: Statement[], opts?: { commit?: boolean }): Promise<any[]>;
  /** Rolls back what was sent so far (a failed `send` included); a later `send` begins afresh. */
  rollback(): Promise<void>;
}

const RETRIABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

/** Runs `work` in a Tx; rolled back if it throws, and retried when InnoDB picks it as a deadlock victim. */
export async function inTx<T>(knex: Knex, work: (tx: Tx) => Promise<T>, attempts = 4): Promise<T> {
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(conn: unknown): Promise<void> };
  for (let i = 1; ; i++) {
    const conn = await client.acquireConnection();
    // Where the transaction stands (a property, as `send` changes it from inside a closure).
    const at: { state: 'idle' | 'open' | 'done' } = { state: 'idle' };
    const run = async (parts: { sql: string; bindings: readonly unknown[] }[]): Promise<any[]> => {
      const [res] = await knex.raw(parts.map((p) => p.sql).join(';\n'), parts.flatMap((p) => p.bindings) as Knex.RawBinding[]).connection(conn);
      return parts.length === 1 ? [res] : (res as any[]);
    };
    const tx: Tx = {
      q: knex,
      async send(statements, opts = {}) {
        if (at.state === 'done') throw new Error('transaction already committed');
        const lead = at.state === 'idle' ? 1 : 0;
        const parts = [...(lead ? [{ sql: 'BEGIN', bindings: [] }] : []), ...statements.map(native), ...(opts.commit ? [{ sql: 'COMMIT', bindings: [] }] : [])];
        // Set first: if a statement fails, the ones after it (COMMIT included) do not run, and the catch
        // below rolls back.
        at.state = opts.commit ? 'done' : 'open';
        const res = await run(parts);
        return res.slice(lead, lead + statements.length);
      },
      async rollback() {
        await run([{ sql: 'ROLLBACK', bindings: [] }]);
        at.state = 'idle';
      },
    };
    try {
      const result = await work(tx);
      if (at.state === 'open') await run([{ sql: 'COMMIT', bindings: [] }]);
      return result;
    } catch (e) {
      if (at.state !== 'idle') await knex.raw('ROLLBACK').connection(conn).catch(() => {});
      if (i >= attempts || !RETRIABLE.has((e as { code?: string }).code ?? '')) throw e;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 10));
    } finally {
      await client.releaseConnection(conn);
    }
  }
}
