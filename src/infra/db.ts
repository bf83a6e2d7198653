// The MySQL connection: one knex pool per process, the database created on first start,
// migrations applied from db/migrations through a static list (works under tsx and from dist/).
import knexFactory, { type Knex } from 'knex';
import { migrationSource } from '../../db/migrations/index.js';
import { clipLogText } from './logger.js';

export type { Knex };

export function connectionFromUrl(databaseUrl: string, withDatabase: boolean): Knex.MySql2ConnectionConfig {
  const u = new URL(databaseUrl);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password || ''),
    database: withDatabase ? databaseName(databaseUrl) : undefined,
    // Times are stored in UTC and turned into local time only on the wire.
    timezone: 'Z',
    connectTimeout: 5_000,
    supportBigNumbers: true,
    bigNumberStrings: false,
    dateStrings: false,
    // Several statements go in one round trip (src/engine/sql/multiStatement.ts): e.g. a batch of task
    // results is one fenced UPDATE for the whole batch (sql/finishRuns.ts) sent with the pass it advances.
    // Every statement's values are bound, never concatenated.
    multipleStatements: true,
  };
}

export function databaseName(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
}

export function createKnex(databaseUrl: string, poolMax = 10, log?: { debug: (o: object, m: string) => void }): Knex {
  const knex = knexFactory({
    client: 'mysql2',
    log: knexLog(log),
    connection: connectionFromUrl(databaseUrl, true),
    pool: {
      min: 0,
      max: poolMax,
      // READ COMMITTED for every session: the engine checks what it read with version-fenced writes
      // (no reliance on a snapshot), and it saves a SET TRANSACTION round trip per transaction.
      afterCreate: (conn: { query: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, conn: unknown) => void) => {
        conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', (err) => done(err, conn));
      },
    },
    // A failed query's message quotes its SQL with `?` placeholders, not the values: a log line never
    // carries an output, a content or a config (nor builds the SQL text of a 16 MB batch to say so).
    compileSqlOnError: false,
    // A MySQL that is down answers requests with a 503 within a few seconds, not after a minute.
    acquireConnectionTimeout: 5_000,
    migrations: { migrationSource, tableName: 'knex_migrations' },
  });
  return knex;
}

/**
 * Knex prints some trouble (a failed connection attempt) to the console itself; the program reports what
 * matters on its own (one line at start-up, a 503, a logged error), so those go to debug logs.
 */
const knexLog = (log?: { debug: (o: object, m: string) => void }) => {
  const to = (level: string) => (message: unknown) => log?.debug({ knex: level, message: clipLogText(String(message)) }, 'knex');
  return { warn: to('warn'), error: to('error'), deprecate: to('deprecate'), debug: to('debug') };
};

/** Creates the database named in the URL if it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const admin = knexFactory({ client: 'mysql2', connection: connectionFromUrl(databaseUrl, false), pool: { min: 0, max: 1 }, log: knexLog() });
  try {
    const name = databaseName(databaseUrl).replace(/`/g, '``');
    await admin.raw(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.destroy();
  }
}

/** How long a member waits for another member's migrations before it gives up (README: Staying up). */
export const MIGRATE_WAIT_MS = 300_000;

/** Another member held the migrations for longer than the wait. */
export class MigrationWaitError extends Error {
  override name = 'MigrationWaitError';
}

/**
 * Applies the migrations, one member at a time. Members started together on a new database used to
 * race in knex's own set-up (both create knex_migrations_lock: ER_TABLE_EXISTS_ERROR) and lock (the
 * loser throws MigrationLocked), and exit. A MySQL named lock (GET_LOCK, per database) held on a
 * connection of its own serialises the whole of migrate.latest: the second member waits, then finds
 * nothing left to apply. MySQL frees a named lock when its connection dies, so a member killed
 * mid-migration never leaves it held. `onWait` is told once when another member holds it.
 */
export async function migrateLatest(knex: Knex, opts: { waitMs?: number; onWait?: () => void } = {}): Promise<string[]> {
  const waitMs = opts.waitMs ?? MIGRATE_WAIT_MS;
  const name = `task_schedule.migrate.${knex.client.database()}`.slice(0, 64);
  // The transaction only pins one connection for the named lock; it reads and writes no table.
  return knex.transaction(async (lockConn) => {
    const got = async (seconds: number) => Number((await lockConn.raw('SELECT GET_LOCK(?, ?) AS got', [name, seconds]))[0][0].got) === 1;
    if (!(await got(0))) {
      opts.onWait?.();
      if (!(await got(Math.ceil(waitMs / 1000)))) throw new MigrationWaitError(`another member has been applying migrations for over ${waitMs} ms`);
    }
    try {
      const [, applied] = await knex.migrate.latest();
      return applied as string[];
    } finally {
      await lockConn.raw('SELECT RELEASE_LOCK(?)', [name]);
    }
  });
}
