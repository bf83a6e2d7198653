// Fills in a run's templates (templates.ts) before it runs, the first time its task instance runs: by
// then every node it follows has succeeded, so the outputs it can name are final. The rendered content
// and config are stored on the task instance (the monitor shows them; a later attempt runs the same
// text). A task without templates costs nothing here.
import type { Knex } from '../infra/db.js';
import { FlowIns, NodeIns, TaskIns } from '../models/index.js';
import type { FlowPlans } from './flowPlan.js';
import type { TaskRun } from './taskRun.js';
import { bytesIfOver } from '../infra/writeLimits.js';
import { TASK_CONFIG_MAX_BYTES } from '../definitions/schemas.js';
import { configHasTemplates, hasTemplates, referencedNodes, render, renderConfig, stringsOf, TemplateError, type TemplateData } from './templates.js';

/**
 * The run as it should run: unchanged, or with its templates filled in. TemplateError when one cannot be,
 * or when the filled-in content is over `contentMaxBytes` or the config over its column: checked before
 * anything is written (outputs copied many times over would make a statement the server refuses).
 */
export async function renderRun(knex: Knex, plans: FlowPlans, run: TaskRun, contentMaxBytes: number): Promise<TaskRun> {
  if (run.rendered || (!hasTemplates(run.content) && !configHasTemplates(run.config))) return run;
  const data = await templateData(knex, plans, run);
  // A character is at least one byte: rendering stops as soon as the text is surely too long.
  const content = run.content === null ? null : render(run.content, data, contentMaxBytes, 'content');
  const config = renderConfig(run.config, data, TASK_CONFIG_MAX_BYTES);
  const contentBytes = bytesIfOver(content, contentMaxBytes);
  if (contentBytes) throw new TemplateError(`the filled-in content is ${contentBytes} bytes, over the ${contentMaxBytes} a task instance's content may have`);
  const configText = JSON.stringify(config);
  const configBytes = bytesIfOver(configText, TASK_CONFIG_MAX_BYTES);
  if (configBytes) throw new TemplateError(`the filled-in taskConfig is ${configBytes} bytes as JSON, over the ${TASK_CONFIG_MAX_BYTES} a task instance's config may have`);
  // Not a status change: no version bump, but only while the row is still this run's.
  await TaskIns.query(knex)
    .patch({ rendered_content: content, rendered_config: configText })
    .where({ ti_id: run.tiId, version: run.version });
  return { ...run, content, config, rendered: true };
}

/** The flow instance's input and the outputs of the nodes the run's templates name. */
async function templateData(knex: Knex, plans: FlowPlans, run: TaskRun): Promise<TemplateData> {
  if (run.fiId === null) {
    const none = () => undefined;
    return { input: {}, output: none };
  }
  const fi = await FlowIns.query(knex).select('flow_id', 'flow_version', 'input').findById(run.fiId);
  if (!fi) throw new TemplateError(`flow instance ${run.fiId} is gone`);
  const plan = await plans.get(fi.flow_id, fi.flow_version);
  const keys = referencedNodes([run.content ?? '', ...stringsOf(run.config)]).filter((k) => plan.byKey.has(k));
  const outputs = new Map<string, { value: unknown }>();
  if (keys.length) {
    const nodeIds = keys.map((k) => plan.byKey.get(k)!.nodeId);
    const latest = NodeIns.query(knex).max('ni_id').where('fi_id', run.fiId).whereIn('node_id', nodeIds).groupBy('node_id');
    const rows = await NodeIns.query(knex)
      .alias('ni')
      .join('task_ins as ti', 'ti.ni_id', 'ni.ni_id')
      .select('ni.node_id', 'ni.status', 'ti.task_id', 'ti.output', 'ti.exec_status')
      .whereIn('ni.ni_id', latest)
      .orderBy('ti.ti_id');
    for (const key of keys) {
      const node = plan.byKey.get(key)!;
      const mine = (rows as unknown as { node_id: number; status: string; task_id: number; output: string | null; exec_status: string }[])
        .filter((r) => r.node_id === node.nodeId && r.status === 'SUCCESS' && r.exec_status === 'SUCCESS');
      if (!mine.length) continue;
      // One task: its output. Several: an object by task id.
      outputs.set(key, { value: node.taskIds.length === 1 ? mine[0].output : Object.fromEntries(mine.map((r) => [String(r.task_id), r.output])) });
    }
  }
  return { input: parseInput(fi.input), output: (key) => outputs.get(key) };
}

function parseInput(text: string | null): unknown {
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}
