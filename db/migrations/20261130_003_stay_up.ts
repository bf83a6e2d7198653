// What staying up needs in the record:
// - `cluster_identity`: one row naming this database; a member writes it under its Redis prefix, and a
//   member of another database that finds a different name there refuses to start (two clusters on one
//   Redis prefix would claim each other's ids).
// - `task_ins.lost_attempts`: attempts a task lost with its worker (reaped), counted apart from the task's
//   own failures, so the two budgets (maxRetries, WORKER_LOST_RETRIES) do not eat each other.
// - `idempotency_key`: a start sent again with the same Idempotency-Key answers the instance the first
//   one made; the primary key makes a second start of one key impossible, whatever Redis knows.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('cluster_identity', (t) => {
    t.tinyint('id').unsigned().notNullable().primary(); // always 1: one row
    t.string('cluster_id', 32).notNullable();
    t.specificType('create_time', 'DATETIME(3)').notNullable();
  });
  await knex.schema.alterTable('task_ins', (t) => {
    t.integer('lost_attempts').unsigned().notNullable().defaultTo(0);
  });
  await knex.schema.createTable('idempotency_key', (t) => {
    t.string('idem_key', 128).notNullable().primary();
    t.string('target', 40).notNullable(); // "flow:12" or "task:3": what the first request started
    t.bigInteger('result_id').unsigned().notNullable(); // the fiId or tiId it answered
    t.specificType('create_time', 'DATETIME(3)').notNullable();
    t.index(['create_time'], 'idx_idem_created');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('idempotency_key');
  await knex.schema.alterTable('task_ins', (t) => t.dropColumn('lost_attempts'));
  await knex.schema.dropTableIfExists('cluster_identity');
}
