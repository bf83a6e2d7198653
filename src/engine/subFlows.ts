// Sub-flows: what a coordinator pass leaves to do after its commit (decide.ts says which).
// - Starting children: a SUB_FLOW node instance entered RUNNING gets its child instance — the named flow
//   (its pinned version, else its current one), the node's `input` with templates filled in from the
//   parent, parent_fi_id / parent_ni_id set, depth + 1 — inserted and moved on (START, its first nodes) in
//   one transaction with the node instance's child_fi_id. The node instance row is locked (FOR UPDATE)
//   and must still be RUNNING without a child, so two members never start two children for one node;
//   a crash before the commit leaves it childless, and the next pass over the parent (the reconciler's,
//   at the latest) asks again. A flow that is gone, or input whose templates cannot be filled in, fails
//   the node instead (the parent's version bumped, as every status writer does) and the parent is advanced.
// - Cancelling children whose parent's SUB_FLOW node ended without them (the parent failed elsewhere).
// - Advancing the parents of children that ended, so their SUB_FLOW node ends.
// None of this throws: the transition is committed; what fails is logged and found again by the reconciler.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { advanceMany, type BatchOutcome, type FiRow } from './advanceMany.js';
import { inTx, type Tx } from './sql/multiStatement.js';
import { cancelFlow } from './cancelFlow.js';
import { nodeOutputs, parseJson } from './outputs.js';
import { render, referencedNodes, stringsOf, TemplateError, type TemplateData } from './templates.js';
import { parsePath, readPath } from '../definitions/expression.js';
import type { FlowPlan } from './flowPlan.js';

export const hasFollowUps = (out: BatchOutcome): boolean => out.startChildren.length + out.cancelChildren.length + out.parents.length > 0;

/** What a committed pass asks of its sub-flows; logged, never thrown. */
export async function followUps(s: Services, coord: Coordinator, out: BatchOutcome): Promise<void> {
  const { log } = s;
  const jobs: Promise<unknown>[] = [];
  if (out.startChildren.length) jobs.push(startChildren(s, coord, out.startChildren).catch((e) => log.warn({ err: e, fiIds: out.startChildren }, 'starting sub-flows failed; the reconciler asks again')));
  for (const child of out.cancelChildren) {
    jobs.push(cancelFlow(s, coord, child, 'system').catch((e) => log.warn({ err: e, fiId: child }, 'cancelling a sub-flow failed')));
  }
  if (out.parents.length) jobs.push(coord.advance(out.parents).catch((e) => log.warn({ err: e, fiIds: out.parents }, 'advancing the parents of ended sub-flows failed; the reconciler does it')));
  await Promise.all(jobs);
}

interface Waiting {
  ni_id: number;
  fi_id: number;
  node_id: number;
}

/** Starts the children the SUB_FLOW node instances of these parents wait for. */
export async function startChildren(s: Services, coord: Coordinator, parentFiIds: number[]): Promise<void> {
  const failedParents: number[] = [];
  const wokenParents: number[] = [];
  const out = await inTx(s.knex, async (tx) => {
    const [waiting] = (await tx.send([
      {
        sql: `SELECT ni.ni_id, ni.fi_id, ni.node_id FROM task_node_ins ni
               WHERE ni.fi_id IN (?) AND ni.status = 'RUNNING' AND ni.child_fi_id IS NULL
                 AND ni.node_id IN (SELECT node_id FROM task_node WHERE node_type = 'SUB_FLOW')
               ORDER BY ni.ni_id FOR UPDATE`,
        bindings: [parentFiIds],
      },
    ])) as [Waiting[]];
    if (!waiting.length) return null;
    const [parents] = (await tx.send([{ sql: 'SELECT fi_id, flow_id, flow_version, depth, input FROM task_flow_ins WHERE fi_id IN (?)', bindings: [[...new Set(waiting.map((w) => w.fi_id))]] }])) as [
      { fi_id: number; flow_id: number; flow_version: number; depth: number; input: string | null }[],
    ];
    const parentOf = new Map(parents.map((p) => [Number(p.fi_id), p]));
    const now = new Date();
    const fresh: FiRow[] = [];
    for (const w of waiting) {
      const parent = parentOf.get(Number(w.fi_id))!;
      const plan = await coord.plans.get(Number(parent.flow_id), parent.flow_version);
      const node = plan.byId.get(Number(w.node_id))!;
      const sub = node.subFlow!;
      const fail = async (why: string) => {
        await tx.send([
          { sql: "UPDATE task_node_ins SET status = 'FAILED', error_msg = ?, end_time = ?, version = version + 1, update_time = ? WHERE ni_id = ? AND status = 'RUNNING'", bindings: [why, now, now, w.ni_id] },
          { sql: 'UPDATE task_flow_ins SET version = version + 1, update_time = ? WHERE fi_id = ?', bindings: [now, w.fi_id] },
        ]);
        failedParents.push(Number(w.fi_id));
      };
      const [[target]] = (await tx.send([{ sql: 'SELECT flow_version FROM task_flow WHERE flow_id = ? AND deleted_time IS NULL', bindings: [sub.flowId] }])) as [{ flow_version: number }[]];
      if (!target) {
        await fail(`sub-flow "${node.key}": flow ${sub.flowId} does not exist`);
        continue;
      }
      const version = sub.flowVersion ?? target.flow_version;
      if (version > target.flow_version) {
        await fail(`sub-flow "${node.key}": flow ${sub.flowId} has no version ${version}`);
        continue;
      }
      let input: unknown;
      try {
        input = await renderInput(tx, coord, plan, Number(w.fi_id), parent.input, sub.input);
      } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        await fail(`sub-flow "${node.key}": ${e.message}`);
        continue;
      }
      const depth = Number(parent.depth ?? 0) + 1;
      const [ins] = await tx.send([
        {
          sql: `INSERT INTO task_flow_ins (flow_id, flow_version, start_time, status, trigger_type, input, parent_fi_id, parent_ni_id, depth, version, create_time, create_user, update_time, update_user)
                VALUES (?, ?, ?, 'RUNNING', 'SUB_FLOW', ?, ?, ?, ?, 0, ?, 'system', ?, 'system')`,
          bindings: [sub.flowId, version, now, JSON.stringify(input), w.fi_id, w.ni_id, depth, now, now],
        },
      ]);
      const childId = Number(ins.insertId);
      // The parent's version moves too: a pass over it that read the node childless (and might end it
      // without cancelling the child) is refused by its fence, and done again below.
      await tx.send([
        { sql: 'UPDATE task_node_ins SET child_fi_id = ?, update_time = ? WHERE ni_id = ?', bindings: [childId, now, w.ni_id] },
        { sql: 'UPDATE task_flow_ins SET version = version + 1, update_time = ? WHERE fi_id = ?', bindings: [now, w.fi_id] },
      ]);
      wokenParents.push(Number(w.fi_id));
      fresh.push({ fi_id: childId, flow_id: sub.flowId, flow_version: version, status: 'RUNNING', version: 0, start_time: now, parent_fi_id: Number(w.fi_id), depth });
    }
    if (!fresh.length) return null;
    return advanceMany(tx, coord.plans, fresh.map((f) => f.fi_id), { user: 'system', now, fresh, collectChanges: coord.watching });
  });
  if (out) {
    out.changes.unshift(...out.changed.map((fiId) => ({ kind: 'flow' as const, fiId, status: 'RUNNING' })));
    await coord.afterCommit(out);
  }
  const parents = [...new Set([...failedParents, ...wokenParents])];
  if (parents.length) await coord.advance(parents);
}

const WHOLE_TEMPLATE = /^\$\{((?:input|nodes\.[A-Za-z0-9_-]+\.output)(?:\.[A-Za-z0-9_-]+)*)\}$/;

/**
 * The child's input: the node's `input` with its strings' templates filled in from the parent. A string
 * that is one template and nothing else is replaced by the value itself (an object stays an object; a
 * SKIPPED node's output or a missing path is null); other strings are rendered as text.
 */
async function renderInput(tx: Tx, coord: Coordinator, plan: FlowPlan, fiId: number, parentInput: string | null, input: Record<string, unknown>): Promise<unknown> {
  const keys = referencedNodes(stringsOf(input)).filter((k) => plan.byKey.has(k));
  const outputs = keys.length ? await nodeOutputs((st) => tx.send(st), (f, v) => coord.plans.get(f, v), plan, fiId, keys) : new Map();
  const data: TemplateData = { input: parentInput ? parseJson(parentInput) : {}, output: (k) => outputs.get(k) };
  const exprData = { input: data.input, output: (k: string) => outputs.get(k)?.value ?? null };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const whole = WHOLE_TEMPLATE.exec(v);
      return whole ? readPath(parsePath(whole[1]), exprData) : render(v, data);
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(input);
}
