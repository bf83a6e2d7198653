// Flow-level flow control (issue 18), on the flow definition (the current one, like cron):
// - `timeout_ms`: a flow instance still RUNNING this long after it started is FAILED by the leader; each
//   instance gets its `deadline_time` when it starts (RUNNING), so a leader change, or a timeout changed
//   later, never loses one, and the leader finds the due ones through an index.
// - `max_active` and `overflow` (QUEUE | SKIP; NULL = QUEUE): how many instances may be RUNNING at once,
//   and what a start beyond that does: recorded QUEUED (started oldest first when one ends) or refused.
// Plain nullable columns and one index: instant on MariaDB 10.11 and MySQL 8 alike.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_flow', (t) => {
    t.integer('timeout_ms').unsigned().nullable();
    t.integer('max_active').unsigned().nullable();
    t.string('overflow', 8).nullable();
  });
  await knex.schema.alterTable('task_flow_ins', (t) => {
    t.specificType('deadline_time', 'DATETIME(3)').nullable();
    t.index(['status', 'deadline_time'], 'idx_flow_ins_deadline');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_flow_ins', (t) => {
    t.dropIndex(['status', 'deadline_time'], 'idx_flow_ins_deadline');
    t.dropColumn('deadline_time');
  });
  await knex.schema.alterTable('task_flow', (t) => {
    t.dropColumn('overflow');
    t.dropColumn('max_active');
    t.dropColumn('timeout_ms');
  });
}
