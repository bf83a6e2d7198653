// The coordinator's transitions for one flow instance, inside one MySQL transaction.
// Level-triggered: it reads where the instance stands and makes every transition that is due now:
// START succeeds at once; a TASK node instance gets one task instance per task; a node ends when its
// completion condition holds or can no longer hold; a failed node fails the flow; END succeeds it.
// The first write bumps the flow instance's `version` (optimistic lock): a coordinator that lost its
// Redis lock while paused finds the version moved on, and its whole transaction is rolled back.
import type { Knex } from '../infra/db.js';
import type { FlowPlan, PlanNode } from './flowPlan.js';
import { nodeOutcome } from './completion.js';

export class StaleWriteError extends Error {}

export interface FiState {
  fi_id: number;
  status: string;
  version: number;
}

export interface NiState {
  ni_id: number;
  node_id: number;
  status: string;
  error_msg: string | null;
}

export interface TransitionOutcome {
  /** New task instances to enqueue once the transaction commits. */
  enqueue: number[];
  /** Task instances that were PENDING/RUNNING and are now CANCELLED: drop from the queue, abort runners. */
  cancelled: number[];
  /** Set when the flow instance reached an end state. */
  finished: 'SUCCESS' | 'FAILED' | null;
  changed: boolean;
}

const OPEN = ['PENDING', 'RUNNING'];

export class Transition {
  readonly out: TransitionOutcome = { enqueue: [], cancelled: [], finished: null, changed: false };
  private fenced: boolean;

  constructor(
    private trx: Knex.Transaction,
    private plan: FlowPlan,
    private fi: FiState,
    private user: string,
    private now: Date,
    opts: { fresh?: boolean } = {},
  ) {
    // A flow instance inserted in this very transaction is invisible to everyone else: no fence needed.
    this.fenced = opts.fresh ?? false;
  }

  /** Bumps the flow instance's version once per transaction, refusing the write if it moved on. */
  private async fence(expectStatus: string[] = ['RUNNING'], patch: Record<string, unknown> = {}): Promise<void> {
    this.out.changed = true;
    if (this.fenced && Object.keys(patch).length === 0) return;
    const n = await this.trx('task_flow_ins')
      .where({ fi_id: this.fi.fi_id, version: this.fi.version })
      .whereIn('status', expectStatus)
      .update({ ...patch, version: this.fi.version + 1, update_time: this.now, update_user: this.user });
    if (n !== 1) throw new StaleWriteError(`flow instance ${this.fi.fi_id} moved on from version ${this.fi.version}`);
    this.fi.version += 1;
    this.fenced = true;
  }

  /** Walks the chain from the last node instance as far as it can go now. */
  async run(last: NiState | undefined): Promise<TransitionOutcome> {
    for (;;) {
      if (!last) {
        await this.fence();
        last = await this.enterNode(this.plan.nodes[0]);
        continue;
      }
      const node = this.plan.byId.get(last.node_id);
      if (!node) {
        await this.fence();
        await this.finish('FAILED', `node ${last.node_id} is not part of flow version ${this.plan.version}`);
        break;
      }
      if (last.status === 'RUNNING') {
        const settled = await this.settleNode(last, node);
        if (!settled) break;
        last = settled;
        continue;
      }
      if (last.status === 'SUCCESS') {
        const next = this.plan.nodes[this.plan.nodes.indexOf(node) + 1];
        await this.fence();
        if (!next) {
          await this.finish('SUCCESS', null);
          break;
        }
        last = await this.enterNode(next);
        continue;
      }
      // FAILED or CANCELLED node: the flow fails with the node's error.
      await this.fence();
      await this.finish('FAILED', last.error_msg || `node ${node.nodeId} ${last.status.toLowerCase()}`);
      break;
    }
    return this.out;
  }

  /** Resumes a FAILED/CANCELLED instance from `node` (a retry): RUNNING again, a fresh node instance. */
  async resumeFrom(node: PlanNode): Promise<TransitionOutcome> {
    await this.fence(['FAILED', 'CANCELLED'], { status: 'RUNNING', error_msg: null, end_time: null });
    const last = await this.enterNode(node);
    return this.run(last);
  }

  /** Ends a RUNNING TASK node instance if its completion condition decided; null while undecided. */
  private async settleNode(ni: NiState, node: PlanNode): Promise<NiState | null> {
    const tis: { ti_id: number; exec_status: string; error_msg: string | null }[] = await this.trx('task_ins')
      .select('ti_id', 'exec_status', 'error_msg')
      .where('ni_id', ni.ni_id)
      .orderBy('ti_id');
    const outcome = node.type === 'TASK' ? nodeOutcome(node.completion, tis.map((t) => t.exec_status)) : 'SUCCESS';
    if (outcome === 'RUNNING') return null;
    await this.fence();
    const error = outcome === 'FAILED' ? (tis.find((t) => t.exec_status === 'FAILED')?.error_msg ?? 'task failed') : null;
    const n = await this.trx('task_node_ins')
      .where({ ni_id: ni.ni_id, status: 'RUNNING' })
      .update({ status: outcome, end_time: this.now, error_msg: error, version: this.trx.raw('version + 1'), update_time: this.now, update_user: this.user });
    if (n !== 1) throw new StaleWriteError(`node instance ${ni.ni_id} is no longer RUNNING`);
    // The node is decided: tasks still queued or running are no longer needed.
    const open = tis.filter((t) => OPEN.includes(t.exec_status)).map((t) => t.ti_id);
    if (open.length) {
      await this.trx('task_ins')
        .whereIn('ti_id', open)
        .whereIn('exec_status', OPEN)
        .update({
          exec_status: 'CANCELLED',
          end_time: this.now,
          error_msg: `not needed: node ${outcome === 'SUCCESS' ? 'succeeded' : 'failed'}`,
          version: this.trx.raw('version + 1'),
          update_time: this.now,
          update_user: this.user,
        });
      this.out.cancelled.push(...open);
    }
    return { ...ni, status: outcome, error_msg: error };
  }

  /** Creates the node instance for `node` (and its task instances for a TASK node). */
  private async enterNode(node: PlanNode): Promise<NiState> {
    const immediate = node.type !== 'TASK' || node.taskIds.length === 0;
    const status = immediate ? 'SUCCESS' : 'RUNNING';
    const [niId] = await this.trx('task_node_ins').insert({
      fi_id: this.fi.fi_id,
      node_id: node.nodeId,
      start_time: this.now,
      end_time: immediate ? this.now : null,
      status,
      version: 0,
      create_time: this.now,
      create_user: this.user,
      update_time: this.now,
      update_user: this.user,
    });
    if (!immediate) {
      await this.trx('task_ins').insert(
        node.taskIds.map((taskId) => ({
          ni_id: niId,
          fi_id: this.fi.fi_id,
          task_id: taskId,
          exec_status: 'PENDING',
          attempt: 0,
          version: 0,
          create_time: this.now,
          create_user: this.user,
          update_time: this.now,
          update_user: this.user,
        })),
      );
      // Multi-row inserts need not get consecutive ids (MySQL 8's interleaved auto-increment): read them back.
      const ids: { ti_id: number }[] = await this.trx('task_ins').select('ti_id').where('ni_id', niId);
      this.out.enqueue.push(...ids.map((r) => r.ti_id));
    }
    return { ni_id: niId, node_id: node.nodeId, status, error_msg: null };
  }

  private async finish(status: 'SUCCESS' | 'FAILED', error: string | null): Promise<void> {
    const n = await this.trx('task_flow_ins')
      .where({ fi_id: this.fi.fi_id, version: this.fi.version, status: 'RUNNING' })
      .update({ status, end_time: this.now, error_msg: error, version: this.fi.version + 1, update_time: this.now, update_user: this.user });
    if (n !== 1) throw new StaleWriteError(`flow instance ${this.fi.fi_id} moved on from version ${this.fi.version}`);
    this.fi.version += 1;
    this.fi.status = status;
    this.out.finished = status;
  }
}
