// The data a flow instance's `when` conditions read (decide.ts evaluates them): the start's input and
// the outputs of the nodes they name, read inside the coordinator's transaction. Only flows with
// conditions come here, so flows without them read nothing more.
import type { ExprData } from '../definitions/expression.js';
import type { FlowPlan, FlowPlans } from './flowPlan.js';
import type { Tx } from './sql/multiStatement.js';
import { nodeOutputs, parseJson } from './outputs.js';

export async function conditionData(tx: Tx, plans: FlowPlans, plan: FlowPlan, fiId: number): Promise<ExprData> {
  const keys = [...new Set(plan.nodes.flatMap((n) => n.whenKeys))];
  const run = (statements: Parameters<Tx['send']>[0]) => tx.send(statements);
  const [[row]] = (await run([{ sql: 'SELECT input FROM task_flow_ins WHERE fi_id = ?', bindings: [fiId] }])) as [{ input: string | null }[]];
  const outputs = await nodeOutputs(run, (f, v) => plans.get(f, v), plan, fiId, keys, 0, true);
  const input = row?.input ? parseJson(row.input) : {};
  return { input, output: (key) => outputs.get(key)?.value ?? null };
}
