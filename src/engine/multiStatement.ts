// Several statements in one round trip (the pool allows multiple statements; every value is bound).
// Queries are written with the query builder, so the SQL stays readable, then sent together; the
// results come back one per statement, in order.
import type { Knex } from '../infra/db.js';

export type Statement = Knex.QueryBuilder | Knex.Raw | { sql: string; bindings: readonly unknown[] };

export async function sendTogether(trx: Knex | Knex.Transaction, statements: Statement[]): Promise<any[]> {
  if (!statements.length) return [];
  const parts = statements.map((st) => ('toSQL' in st ? st.toSQL().toNative() : st));
  const [res] = await trx.raw(parts.map((p) => p.sql).join(';\n'), parts.flatMap((p) => p.bindings) as Knex.RawBinding[]);
  return parts.length === 1 ? [res] : (res as any[]);
}
