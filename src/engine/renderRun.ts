// Fills in a run's templates (templates.ts) before it runs, the first time its task instance runs: by
// then every node it follows has succeeded, so the outputs it can name are final. The rendered content
// and config are stored on the task instance (the monitor shows them; a later attempt runs the same
// text). A task without templates costs nothing here.
import type { Knex } from '../infra/db.js';
import { FlowIns, TaskIns } from '../models/index.js';
import { nodeOutputs } from './outputs.js';
import { readPath, referencedKeys } from '../definitions/expression.js';
import { sendTogether } from './sql/multiStatement.js';
import type { FlowPlans } from './flowPlan.js';
import type { TaskRun } from './taskRun.js';
import { bytesIfOver } from '../infra/writeLimits.js';
import { TASK_CONFIG_MAX_BYTES } from '../definitions/schemas.js';
import { configHasTemplates, hasItemTemplates, hasTemplates, referencedNodes, render, renderConfig, stringsOf, TemplateError, type TemplateData } from './templates.js';

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
  const texts = [run.content ?? '', ...stringsOf(run.config)];
  const keys = new Set(referencedNodes(texts).filter((k) => plan.byKey.has(k)));
  // A forEach run: its item, read again from the path the node's items came from (final by now).
  let each: { path: Parameters<typeof readPath>[0]; index: number } | null = null;
  if (texts.some(hasItemTemplates) && run.niId !== null) {
    const [[row]] = (await sendTogether(knex, [{ sql: 'SELECT ti.item_index, ni.node_id FROM task_ins ti JOIN task_node_ins ni ON ni.ni_id = ti.ni_id WHERE ti.ti_id = ?', bindings: [run.tiId] }])) as [{ item_index: number | null; node_id: number }[]];
    const node = row ? plan.byId.get(Number(row.node_id)) : undefined;
    if (node?.forEach && row.item_index !== null) {
      each = { path: node.forEach.path, index: row.item_index };
      for (const k of referencedKeys(node.forEach.path)) keys.add(k);
    }
  }
  const outputs = keys.size ? await nodeOutputs((st) => sendTogether(knex, st), (f, v) => plans.get(f, v), plan, run.fiId, [...keys]) : new Map();
  const input = parseInput(fi.input);
  const data: TemplateData = { input, output: (key) => outputs.get(key) };
  if (each) {
    const items = readPath(each.path, { input, output: (k) => outputs.get(k)?.value ?? null });
    data.item = { value: Array.isArray(items) ? items[each.index] : null, index: each.index };
  }
  return data;
}

function parseInput(text: string | null): unknown {
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}
