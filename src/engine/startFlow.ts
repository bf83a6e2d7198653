// Starts flows: inserts each flow instance (RUNNING, pinned to its flow's current version) and makes
// its first transitions (START, the first TASK node and its task instances) in the same transaction,
// so a started instance is never seen half-made. Nobody else knows the new instances yet, so this
// needs no lock, and the pass need not read them back; later transitions go through
// Coordinator.advance. Starts that arrive together (the API batches them) share one transaction: a
// fixed number of round trips per batch.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { advanceMany } from './advanceMany.js';
import { inTx, sendTogether } from './sql/multiStatement.js';
import { NotFoundError } from '../errors.js';
import { recordKeyStatements, startOnce, type Idempotency } from './idempotency.js';

export interface StartOptions {
  user?: string;
  trigger?: 'API' | 'CRON';
  /** For cron starts: the tick. (flow_id, scheduled_time) is unique, so a tick starts one instance. */
  scheduledTime?: Date;
  /** The client's Idempotency-Key: a start sent again with it answers the first start's instance. */
  idempotencyKey?: string;
  /** What the start is given (a JSON object), for its tasks' `${input.…}` templates. */
  input?: Record<string, unknown>;
}

export interface StartRequest extends StartOptions {
  flowId: number;
}

/**
 * Per request: the new fiId, or the NotFoundError (404) for a flow that does not exist. With `idem` (a
 * batch of one), the key is recorded in the same transaction.
 */
export async function startFlows(s: Services, coord: Coordinator, reqs: StartRequest[], idem?: Idempotency): Promise<(number | NotFoundError)[]> {
  const flowIds = [...new Set(reqs.map((r) => r.flowId))];
  const [flows] = (await sendTogether(s.knex, [
    { sql: 'SELECT flow_id, flow_version FROM task_flow WHERE flow_id IN (?) AND deleted_time IS NULL', bindings: [flowIds] },
  ])) as [{ flow_id: number; flow_version: number }[]];
  const versionOf = new Map(flows.map((f) => [Number(f.flow_id), f.flow_version]));
  const results: (number | NotFoundError)[] = reqs.map((r) => (versionOf.has(r.flowId) ? 0 : new NotFoundError(`flow ${r.flowId} does not exist`)));
  const valid = reqs.map((r, i) => ({ r, i })).filter(({ r }) => versionOf.has(r.flowId));
  if (!valid.length) return results;

  const now = new Date();
  const [ids, out] = await inTx(s.knex, async (tx) => {
    // One INSERT per instance, sent together: each result carries its own insert id.
    const inserted = await tx.send(
      valid.map(({ r }) => {
        const user = r.user ?? 'system';
        return {
          sql: 'INSERT INTO task_flow_ins (flow_id, flow_version, start_time, status, trigger_type, scheduled_time, input, version, create_time, create_user, update_time, update_user) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)',
          bindings: [r.flowId, versionOf.get(r.flowId)!, now, 'RUNNING', r.trigger ?? 'API', r.scheduledTime ?? null, r.input === undefined ? null : JSON.stringify(r.input), now, user, now, user],
        };
      }),
    );
    const newIds = inserted.map((h: { insertId: number }) => Number(h.insertId));
    if (idem) await tx.send(recordKeyStatements(idem, now));
    const fresh = valid.map(({ r }, k) => ({ fi_id: newIds[k], flow_id: r.flowId, flow_version: versionOf.get(r.flowId)!, status: 'RUNNING', version: 0, start_time: now }));
    return [newIds, await advanceMany(tx, coord.plans, newIds, { user: 'system', now, fresh, collectChanges: coord.watching })] as const;
  });
  valid.forEach(({ i }, k) => (results[i] = ids[k]));
  out.changes.unshift(...valid.map(({ r }, k) => ({ kind: 'flow' as const, fiId: ids[k], flowId: r.flowId, status: 'RUNNING' })));
  await coord.afterCommit(out);
  return results;
}

/**
 * One start on its own (a cron tick, or a start with an Idempotency-Key). Returns the new fiId (or the
 * keyed start's earlier one), or null when a cron tick already started this flow.
 */
export async function startFlow(s: Services, coord: Coordinator, flowId: number, opts: StartOptions = {}): Promise<number | null> {
  if (opts.idempotencyKey) {
    const idem = { key: opts.idempotencyKey, target: `flow:${flowId}`, ttlMs: s.config.idempotencyTtlMs };
    return startOnce(s.knex, idem, async () => {
      const [res] = await startFlows(s, coord, [{ flowId, ...opts }], idem);
      if (res instanceof NotFoundError) throw res;
      return res;
    });
  }
  let res: number | NotFoundError;
  try {
    [res] = await startFlows(s, coord, [{ flowId, ...opts }]);
  } catch (e) {
    if (opts.scheduledTime && (e as { code?: string }).code === 'ER_DUP_ENTRY') return null;
    throw e;
  }
  if (res instanceof NotFoundError) throw res;
  return res;
}
