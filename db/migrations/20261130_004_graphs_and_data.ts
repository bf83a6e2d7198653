// Flows as graphs, and data passed between tasks:
// - task_node.node_key: the node's key as the flow's author named it (NULL: the default `n<seq>`), used by
//   `prevNodes` and by `${nodes.<key>.output}` templates.
// - task_node.prev_nodes: the node ids this node follows, "12,13" (NULL on a chain flow's nodes: they
//   follow `prev_node`, as every node saved before graphs did).
// - task_flow_ins.input: the JSON object the start was given (`{"input": …}`), for `${input.…}` templates.
// - task_ins.rendered_content / rendered_config: a task's content and config with its templates filled in,
//   as its run used them (NULL when the task has no templates: the task's own are used).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_node', (t) => {
    t.string('node_key', 64).nullable();
    t.text('prev_nodes').nullable();
  });
  // The coordinator reads the latest instance of each node of an instance (GROUP BY fi_id, node_id).
  await knex.schema.alterTable('task_node_ins', (t) => {
    t.index(['fi_id', 'node_id', 'ni_id'], 'idx_node_ins_fi_node');
  });
  await knex.schema.alterTable('task_flow_ins', (t) => {
    t.text('input').nullable();
  });
  await knex.schema.alterTable('task_ins', (t) => {
    t.text('rendered_content', 'mediumtext').nullable();
    t.text('rendered_config').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_ins', (t) => {
    t.dropColumn('rendered_content');
    t.dropColumn('rendered_config');
  });
  await knex.schema.alterTable('task_flow_ins', (t) => t.dropColumn('input'));
  await knex.schema.alterTable('task_node_ins', (t) => t.dropIndex(['fi_id', 'node_id', 'ni_id'], 'idx_node_ins_fi_node'));
  await knex.schema.alterTable('task_node', (t) => {
    t.dropColumn('node_key');
    t.dropColumn('prev_nodes');
  });
}
