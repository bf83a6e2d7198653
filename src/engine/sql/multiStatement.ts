// Round trips are what the engine pays for (see README, Performance): several statements go to MySQL
// in one round trip (the pool allows multiple statements; every value is bound), and results come back
// one per statement, in order. A statement is SQL with `?` bindings — written out on the hot path, so
// the SQL is visible and nothing is compiled per call — or a query builder's query. In written-out SQL
// an array value is a list (`IN (?)`) and an array of arrays a list of tuples (`VALUES ?`,
// `(a, b) IN (?)`): the driver's formatting.
import type { Knex } from '../../infra/db.js';

export type Statement = Knex.QueryBuilder | Knex.Raw | { sql: string; bindings: readonly unknown[] };

const native = (st: Statement): { sql: string; bindings: readonly unknown[] } => ('toSQL' in st ? st.toSQL().toNative() : st);

/**
 * A derived table of `n` rows of bound values, for joining a batch into one statement:
 * `SELECT ? AS a, ? AS b UNION ALL SELECT ?, ? …` (the first row names the columns). Portable where
 * `VALUES` row constructors are not (MariaDB and MySQL 8 spell them differently).
 */
export function boundRows(columns: string[], n: number): string {
  const first = `SELECT ${columns.map((c) => `? AS ${c}`).join(', ')}`;
  const next = ` UNION ALL SELECT ${columns.map(() => '?').join(', ')}`;
  return first + next.repeat(Math.max(0, n - 1));
}

/** Sends statements together outside a transaction (each commits on its own), on a connection of the pool. */
export async function sendTogether(knex: Knex, statements: Statement[]): Promise<any[]> {
  if (!statements.length) return [];
  const client = poolOf(knex);
  const conn = await client.acquireConnection();
  try {
    return await runOn(conn, statements.map(native));
  } finally {
    await client.releaseConnection(conn);
  }
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

/** The driver's (mysql2) connection, as the pool hands it out. */
interface DriverConnection {
  query(opts: { sql: string; values: readonly unknown[] }, cb: (err: Error | null, res: unknown) => void): void;
}

/**
 * Straight to the driver on the pinned connection: the statements are already SQL with `?` bindings,
 * which the driver formats (as the query builder's runner would have it do), so the runner's own work
 * per query is skipped on the engine's hot path.
 */
async function runOn(conn: unknown, parts: { sql: string; bindings: readonly unknown[] }[]): Promise<any[]> {
  const sql = parts.map((p) => p.sql).join(';\n');
  const values = parts.flatMap((p) => p.bindings);
  const res = await new Promise<any>((resolve, reject) =>
    (conn as DriverConnection).query({ sql, values }, (err, r) => (err ? reject(err) : resolve(r))),
  );
  return parts.length === 1 ? [res] : (res as any[]);
}

interface Pool {
  acquireConnection(): Promise<unknown>;
  releaseConnection(conn: unknown): Promise<void>;
}
const poolOf = (knex: Knex) => knex.client as Pool;

/**
 * A Tx on a knex transaction, for an operation that writes through the models and sends hand-written
 * statements in one transaction (a retry: the model's fenced update, then the coordinator's pass). The
 * statements go straight to the transaction's own connection; BEGIN and COMMIT are knex's, so a failed
 * statement aborts the whole transaction (there is no partial rollback here).
 */
export async function txOn(trx: Knex.Transaction): Promise<Tx> {
  const conn = await poolOf(trx).acquireConnection();
  return {
    q: trx,
    send: (statements) => (statements.length ? runOn(conn, statements.map(native)) : Promise.resolve([])),
    rollback: async () => {
      throw new Error('a knex transaction is rolled back as a whole');
    },
  };
}

const RETRIABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

/** Runs `work` in a Tx; rolled back if it throws, and retried when InnoDB picks it as a deadlock victim. */
export async function inTx<T>(knex: Knex, work: (tx: Tx) => Promise<T>, attempts = 4): Promise<T> {
  const client = poolOf(knex);
  for (let i = 1; ; i++) {
    const conn = await client.acquireConnection();
    // Where the transaction stands (a property, as `send` changes it from inside a closure).
    const at: { state: 'idle' | 'open' | 'done' } = { state: 'idle' };
    const run = (parts: { sql: string; bindings: readonly unknown[] }[]) => runOn(conn, parts);
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
      if (at.state !== 'idle') await run([{ sql: 'ROLLBACK', bindings: [] }]).catch(() => {});
      if (i >= attempts || !RETRIABLE.has((e as { code?: string }).code ?? '')) throw e;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 10));
    } finally {
      await client.releaseConnection(conn);
    }
  }
}
