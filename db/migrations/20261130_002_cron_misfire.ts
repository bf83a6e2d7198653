// task_flow.cron_misfire: what the cron duty does with ticks that fell while no member led.
// NULL (every flow saved before this column existed) means FIRE_ONCE, the default: one catch-up run
// for the missed ticks; 'SKIP' fires nothing for the gap. A plain nullable VARCHAR, so the change is
// instant and runs on MariaDB 10.11 and MySQL 8 alike.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_flow', (t) => {
    t.string('cron_misfire', 16).nullable().after('cron_enabled'); // FIRE_ONCE | SKIP; NULL = FIRE_ONCE
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_flow', (t) => {
    t.dropColumn('cron_misfire');
  });
}
