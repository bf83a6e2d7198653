// Control flow (conditions, signals, sub-flows):
// - task_node.node_options: a node's control-flow settings as JSON (`when`; a SIGNAL's timeoutMs and
//   onTimeout; a SUB_FLOW's flowId, flowVersion and input). NULL on every node saved before.
// - task_node_ins.output: what a SIGNAL node was sent (its payload, as JSON text).
// - task_node_ins.due_time: when a waiting SIGNAL times out; (status, due_time) lets the leader find the
//   due ones each second reading only those (a waiting instance costs nothing until then).
// - task_node_ins.child_fi_id: the instance a SUB_FLOW node started.
// - task_node_ins.item_count / task_ins.item_index: a forEach node's number of items, and which item a
//   task instance runs (NULL outside forEach).
// - task_flow_ins.parent_fi_id / parent_ni_id / depth: a sub-flow's parent instance and node instance,
//   and how deep it is (0: started on its own); indexed by parent for cancel's cascade.
// Plain ALTER TABLE ADD COLUMN / ADD INDEX: the same on MariaDB 10.11 and MySQL 8.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_node', (t) => {
    t.text('node_options').nullable();
  });
  await knex.schema.alterTable('task_node_ins', (t) => {
    t.text('output', 'mediumtext').nullable();
    t.specificType('due_time', 'DATETIME(3)').nullable();
    t.bigInteger('child_fi_id').unsigned().nullable();
    t.integer('item_count').unsigned().nullable();
    t.index(['status', 'due_time'], 'idx_node_ins_due');
  });
  await knex.schema.alterTable('task_ins', (t) => {
    t.integer('item_index').unsigned().nullable();
  });
  await knex.schema.alterTable('task_flow_ins', (t) => {
    t.bigInteger('parent_fi_id').unsigned().nullable();
    t.bigInteger('parent_ni_id').unsigned().nullable();
    t.integer('depth').unsigned().notNullable().defaultTo(0);
    t.index(['parent_fi_id'], 'idx_flow_ins_parent');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_flow_ins', (t) => {
    t.dropIndex(['parent_fi_id'], 'idx_flow_ins_parent');
    t.dropColumn('parent_fi_id');
    t.dropColumn('parent_ni_id');
    t.dropColumn('depth');
  });
  await knex.schema.alterTable('task_node_ins', (t) => {
    t.dropIndex(['status', 'due_time'], 'idx_node_ins_due');
    t.dropColumn('output');
    t.dropColumn('due_time');
    t.dropColumn('child_fi_id');
    t.dropColumn('item_count');
  });
  await knex.schema.alterTable('task_ins', (t) => t.dropColumn('item_index'));
  await knex.schema.alterTable('task_node', (t) => t.dropColumn('node_options'));
}
