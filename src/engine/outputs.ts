// What a node produced, as templates, `when` conditions and the monitor's flow result read it, from the
// node's latest instance: a TASK node's one task's output (several tasks: an object by task id); a
// SIGNAL's payload (null after a timeout that succeeds); a SUB_FLOW's child's result; a SKIPPED node's
// null (marked `skipped`, so a template writes it as an empty string). A node with no such instance, or
// one that did not succeed or skip, has no output (undefined).
//
// `run` sends statements (a knex pool's sendTogether, or a transaction's send), so the coordinator reads
// within its transaction and the API and workers outside one. Only flows that use these features call it.
import type { Statement } from './sql/multiStatement.js';
import type { FlowPlan } from './flowPlan.js';

export type Run = (statements: Statement[]) => Promise<any[]>;
export interface NodeOutput {
  value: unknown;
  skipped?: boolean;
}
export type PlanOf = (flowId: number, version: number) => Promise<FlowPlan>;

/** How deep a sub-flow's result is looked for (sub-flows nest at most 10 deep). */
const MAX_NESTING = 12;

/**
 * The outputs of these nodes (by key) of one flow instance. `ending`: also of node instances still
 * RUNNING (the coordinator reads before it writes the ends its pass decides, and enters the nodes after
 * them in the same pass); a node that does not end succeeds nobody, so what it read is never used.
 */
export async function nodeOutputs(run: Run, plans: PlanOf, plan: FlowPlan, fiId: number, keys: string[], nesting = 0, ending = false, preview?: Preview): Promise<Map<string, NodeOutput>> {
  const ok = (status: string | undefined) => status === 'SUCCESS' || (ending && status === 'RUNNING');
  const out = new Map<string, NodeOutput>();
  const nodes = keys.map((k) => plan.byKey.get(k)).filter((n) => n !== undefined);
  if (!nodes.length) return out;
  const [nis] = (await run([
    {
      sql: `SELECT ni.ni_id, ni.node_id, ni.status, ni.output, ni.child_fi_id, ni.item_count FROM task_node_ins ni
             WHERE ni.ni_id IN (SELECT MAX(ni_id) FROM task_node_ins WHERE fi_id = ? AND node_id IN (?) GROUP BY node_id)`,
      bindings: [fiId, nodes.map((n) => n.nodeId)],
    },
  ])) as [{ ni_id: number; node_id: number; status: string; output: string | null; child_fi_id: number | null; item_count: number | null }[]];
  const byNode = new Map(nis.map((r) => [Number(r.node_id), r]));
  const taskNis = nodes.filter((n) => n.type === 'TASK' && ok(byNode.get(n.nodeId)?.status)).map((n) => byNode.get(n.nodeId)!.ni_id);
  const [tis] = taskNis.length
    ? ((await run([
        preview
          ? {
              // Previews cut by MySQL: the whole of a large output never leaves the server.
              sql: "SELECT ni_id, task_id, LEFT(output, ?) AS output, CHAR_LENGTH(output) > ? AS output_cut, item_index FROM task_ins WHERE ni_id IN (?) AND exec_status = 'SUCCESS' ORDER BY ti_id",
              bindings: [preview.chars, preview.chars, taskNis],
            }
          : { sql: "SELECT ni_id, task_id, output, item_index FROM task_ins WHERE ni_id IN (?) AND exec_status = 'SUCCESS' ORDER BY ti_id", bindings: [taskNis] },
      ])) as [{ ni_id: number; task_id: number; output: string | null; output_cut?: number | string | null; item_index: number | null }[]])
    : [[]];
  if (preview && tis.some((t) => Number(t.output_cut) === 1)) preview.truncated = true;
  for (const n of nodes) {
    const ni = byNode.get(n.nodeId);
    if (!ni) continue;
    if (ni.status === 'SKIPPED') {
      out.set(n.key, { value: null, skipped: true });
      continue;
    }
    if (!ok(ni.status)) continue;
    if (n.type === 'TASK' && n.forEach) {
      // The outputs in item order: each item's one task's output (several tasks: by task id); null for an item that did not succeed.
      const mine = tis.filter((t) => t.ni_id === ni.ni_id);
      const items = Array.from({ length: Number(ni.item_count ?? 0) }, (_, k) => {
        const runs = mine.filter((t) => t.item_index === k);
        if (!runs.length) return null;
        return n.taskIds.length === 1 ? runs[0].output : Object.fromEntries(runs.map((t) => [String(t.task_id), t.output]));
      });
      out.set(n.key, { value: items });
    } else if (n.type === 'TASK') {
      const mine = tis.filter((t) => t.ni_id === ni.ni_id);
      if (!mine.length) continue;
      out.set(n.key, { value: n.taskIds.length === 1 ? mine[0].output : Object.fromEntries(mine.map((t) => [String(t.task_id), t.output])) });
    } else if (n.type === 'SIGNAL') {
      out.set(n.key, { value: ni.output === null ? null : parseJson(ni.output) });
    } else if (n.type === 'SUB_FLOW' && ni.child_fi_id && nesting < MAX_NESTING) {
      out.set(n.key, { value: await flowResultOf(run, plans, Number(ni.child_fi_id), nesting + 1, preview) });
    }
  }
  return out;
}

/** Task outputs read as previews of at most `chars` characters; `truncated` is set when one was cut. */
export interface Preview {
  chars: number;
  truncated: boolean;
}

/**
 * A flow instance's result: the outputs of the nodes END follows, by key, SKIPPED ones left out. With
 * `preview`, task outputs are previews (the monitor's answers).
 */
export async function flowResultOf(run: Run, plans: PlanOf, fiId: number, nesting = 0, preview?: Preview): Promise<Record<string, unknown>> {
  const [[fi]] = (await run([{ sql: 'SELECT flow_id, flow_version FROM task_flow_ins WHERE fi_id = ?', bindings: [fiId] }])) as [{ flow_id: number; flow_version: number }[]];
  if (!fi) return {};
  const plan = await plans(Number(fi.flow_id), fi.flow_version);
  return resultFromOutputs(plan, await nodeOutputs(run, plans, plan, fiId, plan.end.preds.map((id) => plan.byId.get(id)!.key), nesting, false, preview));
}

/** The result from the outputs of END's predecessors (a node without output is null, a SKIPPED one left out). */
export function resultFromOutputs(plan: FlowPlan, outputs: Map<string, NodeOutput>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const id of plan.end.preds) {
    const n = plan.byId.get(id)!;
    const o = outputs.get(n.key);
    if (o?.skipped) continue;
    result[n.key] = o ? o.value : n.type === 'TASK' && n.taskIds.length !== 1 ? {} : null;
  }
  return result;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
