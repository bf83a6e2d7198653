// The original service's six tables, plus what the engine needs: `version` (optimistic lock) on every
// table whose rows change status, `flow_version` pinned on instances, node completion conditions, task attempts
// and output, soft delete on definitions, millisecond times, and indexes for the monitor queries.
// Plain column types only, so it runs on MariaDB 10.11 and MySQL 8 alike.
import type { Knex } from 'knex';

const times = (t: Knex.CreateTableBuilder) => {
  t.specificType('create_time', 'DATETIME(3)').notNullable();
  t.string('create_user', 64).notNullable().defaultTo('system');
  t.specificType('update_time', 'DATETIME(3)').notNullable();
  t.string('update_user', 64).notNullable().defaultTo('system');
};

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('task', (t) => {
    t.bigIncrements('task_id');
    t.string('task_name', 255).notNullable();
    t.string('task_description', 1024).nullable();
    t.string('task_type', 32).notNullable();
    t.text('task_config').nullable(); // JSON
    t.text('task_content', 'mediumtext').nullable();
    t.specificType('deleted_time', 'DATETIME(3)').nullable();
    times(t);
    t.index(['deleted_time', 'task_id'], 'idx_task_live');
  });

  await knex.schema.createTable('task_flow', (t) => {
    t.bigIncrements('flow_id');
    t.string('flow_name', 255).notNullable();
    t.string('flow_description', 1024).nullable();
    t.integer('flow_version').unsigned().notNullable().defaultTo(1);
    t.string('cron', 128).nullable();
    t.boolean('cron_enabled').notNullable().defaultTo(false);
    t.specificType('deleted_time', 'DATETIME(3)').nullable();
    times(t);
    t.index(['deleted_time', 'flow_id'], 'idx_flow_live');
  });

  await knex.schema.createTable('task_node', (t) => {
    t.bigIncrements('node_id');
    t.bigInteger('flow_id').unsigned().notNullable();
    t.integer('flow_version').unsigned().notNullable();
    t.integer('seq').unsigned().notNullable(); // position in the chain, 0 = START
    t.string('node_type', 16).notNullable(); // START | TASK | END
    t.string('task_ids', 1024).nullable(); // "1,2" as in the original service
    t.bigInteger('prev_node').unsigned().nullable();
    t.string('completion', 16).nullable(); // ANY | ALL | N (TASK nodes only)
    times(t);
    t.unique(['flow_id', 'flow_version', 'seq'], { indexName: 'uk_node_flow_version_seq' });
  });

  await knex.schema.createTable('task_flow_ins', (t) => {
    t.bigIncrements('fi_id');
    t.bigInteger('flow_id').unsigned().notNullable();
    t.integer('flow_version').unsigned().notNullable();
    t.specificType('start_time', 'DATETIME(3)').nullable();
    t.specificType('end_time', 'DATETIME(3)').nullable();
    t.string('status', 16).notNullable(); // RUNNING | SUCCESS | FAILED | CANCELLED
    t.text('error_msg').nullable();
    t.string('trigger_type', 16).notNullable().defaultTo('API'); // API | CRON
    // Set only for cron starts: the unique key (flow_id, scheduled_time) makes a double fire impossible.
    t.specificType('scheduled_time', 'DATETIME(3)').nullable();
    t.integer('version').unsigned().notNullable().defaultTo(0);
    times(t);
    t.unique(['flow_id', 'scheduled_time'], { indexName: 'uk_flow_ins_schedule' });
    t.index(['flow_id', 'fi_id'], 'idx_flow_ins_flow');
    t.index(['status', 'fi_id'], 'idx_flow_ins_status');
  });

  await knex.schema.createTable('task_node_ins', (t) => {
    t.bigIncrements('ni_id');
    t.bigInteger('fi_id').unsigned().notNullable();
    t.bigInteger('node_id').unsigned().notNullable();
    t.specificType('start_time', 'DATETIME(3)').nullable();
    t.specificType('end_time', 'DATETIME(3)').nullable();
    t.string('status', 16).notNullable(); // RUNNING | SUCCESS | FAILED | CANCELLED
    t.text('error_msg').nullable();
    t.integer('version').unsigned().notNullable().defaultTo(0);
    times(t);
    t.index(['fi_id', 'ni_id'], 'idx_node_ins_fi');
  });

  await knex.schema.createTable('task_ins', (t) => {
    t.bigIncrements('ti_id');
    t.bigInteger('ni_id').unsigned().nullable(); // null for a single-task run
    t.bigInteger('fi_id').unsigned().nullable(); // denormalised: the coordinator to wake when it ends
    t.bigInteger('task_id').unsigned().notNullable();
    t.specificType('start_time', 'DATETIME(3)').nullable();
    t.specificType('end_time', 'DATETIME(3)').nullable();
    t.string('exec_status', 16).notNullable(); // PENDING | RUNNING | SUCCESS | FAILED | CANCELLED
    t.text('error_msg').nullable();
    t.integer('attempt').unsigned().notNullable().defaultTo(0);
    t.text('output', 'mediumtext').nullable();
    t.string('worker_id', 128).nullable();
    t.integer('version').unsigned().notNullable().defaultTo(0);
    times(t);
    t.index(['ni_id'], 'idx_task_ins_ni');
    t.index(['fi_id'], 'idx_task_ins_fi');
    t.index(['exec_status', 'ti_id'], 'idx_task_ins_status');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['task_ins', 'task_node_ins', 'task_flow_ins', 'task_node', 'task_flow', 'task']) {
    await knex.schema.dropTableIfExists(t);
  }
}
