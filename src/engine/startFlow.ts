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
  /** 0-9 (default 0): its task instances are claimed before due ones of lower priorities. */
  priority?: number;
}

export interface StartRequest extends StartOptions {
  flowId: number;
}

/**
 * Per request: the new fiId, or the NotFoundError (404) for a flow that does not exist. With `idem` (a
 * batch of one), the key is recorded in the same transaction.
 */
export async function startFlows(s: Services, coord: Coordinator, reqs: StartRequest[], idem?: Idempotency): Promise<(number | NotFoundError)[]> {
  return (await insertAndAdvance(s, coord, reqs, { idem })) as (number | NotFoundError)[];
}

/**
 * The cron's batch: every tick due, one transaction. A tick whose (flow_id, scheduled_time) row is
 * there already (another leader fired it) is skipped by INSERT IGNORE, not an error that would roll
 * back the others: its result is null. IGNORE would also turn other errors into warnings, but these
 * rows hold only values made here (an existing flow's id and version, a status, times), none of
 * which can be refused but by the unique key.
 */
export async function startCronTicks(s: Services, coord: Coordinator, ticks: { flowId: number; scheduledTime: Date }[]): Promise<(number | null | NotFoundError)[]> {
  return insertAndAdvance(s, coord, ticks.map((t) => ({ ...t, trigger: 'CRON' as const })), { ignoreDuplicates: true });
}

async function insertAndAdvance(
  s: Services,
  coord: Coordinator,
  reqs: StartRequest[],
  opts: { idem?: Idempotency; ignoreDuplicates?: boolean },
): Promise<(number | null | NotFoundError)[]> {
  const { idem, ignoreDuplicates = false } = opts;
  const flowIds = [...new Set(reqs.map((r) => r.flowId))];
  const [flows] = (await sendTogether(s.knex, [
    { sql: 'SELECT flow_id, flow_version FROM task_flow WHERE flow_id IN (?) AND deleted_time IS NULL', bindings: [flowIds] },
  ])) as [{ flow_id: number; flow_version: number }[]];
  const versionOf = new Map(flows.map((f) => [Number(f.flow_id), f.flow_version]));
  const results: (number | null | NotFoundError)[] = reqs.map((r) => (versionOf.has(r.flowId) ? 0 : new NotFoundError(`flow ${r.flowId} does not exist`)));
  const valid = reqs.map((r, i) => ({ r, i })).filter(({ r }) => versionOf.has(r.flowId));
  if (!valid.length) return results;

  const now = new Date();
  const insert = ignoreDuplicates ? 'INSERT IGNORE' : 'INSERT';
  const [made, out] = await inTx(s.knex, async (tx) => {
    // One INSERT per instance, sent together: each result carries its own insert id (and, with
    // IGNORE, affectedRows 0 for a row the unique key refused).
    const inserted = await tx.send(
      valid.map(({ r }) => {
        const user = r.user ?? 'system';
        return {
          sql: `${insert} INTO task_flow_ins (flow_id, flow_version, start_time, status, trigger_type, scheduled_time, input, priority, version, create_time, create_user, update_time, update_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
          bindings: [r.flowId, versionOf.get(r.flowId)!, now, 'RUNNING', r.trigger ?? 'API', r.scheduledTime ?? null, r.input === undefined ? null : JSON.stringify(r.input), r.priority ?? 0, now, user, now, user],
        };
      }),
    );
    const rows = valid
      .map((v, k) => ({ ...v, fiId: Number(inserted[k].insertId), ok: Number(inserted[k].affectedRows) === 1 }))
      .filter((v) => v.ok);
    if (idem) await tx.send(recordKeyStatements(idem, now));
    const newIds = rows.map((v) => v.fiId);
    const fresh = rows.map(({ r, fiId }) => ({ fi_id: fiId, flow_id: r.flowId, flow_version: versionOf.get(r.flowId)!, status: 'RUNNING', version: 0, start_time: now, priority: r.priority ?? 0 }));
    return [rows, newIds.length ? await advanceMany(tx, coord.plans, newIds, { user: 'system', now, fresh, collectChanges: coord.watching }) : null] as const;
  });
  for (const { i } of valid) results[i] = null;
  for (const { i, fiId } of made) results[i] = fiId;
  if (out) {
    out.changes.unshift(...made.map(({ r, fiId }) => ({ kind: 'flow' as const, fiId, flowId: r.flowId, status: 'RUNNING' })));
    await coord.afterCommit(out);
  }
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
