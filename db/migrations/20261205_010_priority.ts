// Priority (issue 18): a start's priority (0-9, higher is claimed first) is kept on its flow instance and
// copied onto every task instance the instance makes (retries keep it), so the queue can be rebuilt from
// MySQL with each id in its priority's ready set. A single task run has no flow instance: its own row holds it.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_flow_ins', (t) => {
    t.tinyint('priority').unsigned().notNullable().defaultTo(0);
  });
  await knex.schema.alterTable('task_ins', (t) => {
    t.tinyint('priority').unsigned().notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_ins', (t) => t.dropColumn('priority'));
  await knex.schema.alterTable('task_flow_ins', (t) => t.dropColumn('priority'));
}
