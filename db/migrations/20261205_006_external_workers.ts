// External workers (WORKER tasks, src/engine/external/):
// - task_ins.lease_token: the token of the poll that leased the task instance to an external worker,
//   written when it is marked RUNNING. Heartbeat, complete and fail present it: a call whose token is not
//   the row's is refused (409), and a complete repeated with the row's token finds it SUCCESS and answers
//   200 without writing. NULL for tasks the members run themselves. The reaper and the reconciler clear it
//   when they take a run back, so the late worker's calls are refused.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_ins', (t) => {
    t.string('lease_token', 64).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_ins', (t) => t.dropColumn('lease_token'));
}
