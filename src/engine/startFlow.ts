// Starts flows: inserts each flow instance (RUNNING, pinned to its flow's current version) and makes
// its first transitions (START, the first TASK node and its task instances) in the same transaction,
// so a started instance is never seen half-made. Nobody else knows the new instances yet, so this
// needs no lock, and the pass need not read them back; later transitions go through
// Coordinator.advance. Starts that arrive together (the API batches them) share one transaction: a
// fixed number of round trips per batch.
// Flow control: a flow with a timeout gets each instance's deadline; a flow with maxActiveInstances
// has its row locked (FOR UPDATE: its starts, and the leader starting QUEUED ones, take turns) and its
// RUNNING and QUEUED instances counted, and a start beyond the limit is recorded QUEUED (overflow QUEUE,
// started later by queuedFlows.ts, oldest first) or refused with a ConflictError (SKIP). Flows without
// a limit pay nothing more.
// A member that is a worker too, with a free slot and nothing left due at its worker's last claim
// (Worker.roomForStarts), runs the first tasks of the flows it starts itself: the start's transaction
// creates them RUNNING for it (as a recorded result does a flow's next tasks, sql/transitionWrites.ts),
// and it leases and runs them once that has committed. Its safety is the continuation's: the RUNNING
// row is committed before anything runs, and one left without a lease (the member died in between) is
// set PENDING again by the reconciler after its grace period.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { advanceMany, emptyOutcome } from './advanceMany.js';
import { inTx, sendTogether } from './sql/multiStatement.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { recordKeyStatements, startOnce, type Idempotency } from './idempotency.js';
import type { RunHere } from './sql/transitionWrites.js';
import type { TaskRun } from './taskRun.js';

/** Free worker slots set aside for a start's first runs (Worker.roomForStarts). */
export interface StartRoom {
  runHere: RunHere;
  /** Runs what the start's committed transaction created RUNNING here, and gives the room back. */
  take(runs: TaskRun[]): void;
  /** Gives the room back unused (the start failed). */
  giveBack(): void;
}

/** Asks this member's worker for room for up to `wanted` first runs; null when it has none (or no worker). */
export type RoomForStarts = (wanted: number) => StartRoom | null;

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
export async function startFlows(s: Services, coord: Coordinator, reqs: StartRequest[], room?: RoomForStarts, idem?: Idempotency): Promise<(number | NotFoundError | ConflictError)[]> {
  return (await insertAndAdvance(s, coord, reqs, { idem, room })) as (number | NotFoundError | ConflictError)[];
}

/**
 * The cron's batch: every tick due, one transaction. A tick whose (flow_id, scheduled_time) row is
 * there already (another leader fired it) is skipped by INSERT IGNORE, not an error that would roll
 * back the others: its result is null. IGNORE would also turn other errors into warnings, but these
 * rows hold only values made here (an existing flow's id and version, a status, times), none of
 * which can be refused but by the unique key.
 */
export async function startCronTicks(s: Services, coord: Coordinator, ticks: { flowId: number; scheduledTime: Date }[], room?: RoomForStarts): Promise<(number | null | NotFoundError | ConflictError)[]> {
  return insertAndAdvance(s, coord, ticks.map((t) => ({ ...t, trigger: 'CRON' as const })), { ignoreDuplicates: true, room });
}

async function insertAndAdvance(
  s: Services,
  coord: Coordinator,
  reqs: StartRequest[],
  opts: { idem?: Idempotency; ignoreDuplicates?: boolean; room?: RoomForStarts },
): Promise<(number | null | NotFoundError | ConflictError)[]> {
  const { idem, ignoreDuplicates = false } = opts;
  const flowIds = [...new Set(reqs.map((r) => r.flowId))];
  const [flows] = (await sendTogether(s.knex, [
    { sql: 'SELECT flow_id, flow_version, timeout_ms, max_active, overflow FROM task_flow WHERE flow_id IN (?) AND deleted_time IS NULL', bindings: [flowIds] },
  ])) as [FlowControlRow[]];
  const flowOf = new Map(flows.map((f) => [Number(f.flow_id), f]));
  const results: (number | null | NotFoundError | ConflictError)[] = reqs.map((r) => (flowOf.has(r.flowId) ? 0 : new NotFoundError(`flow ${r.flowId} does not exist`)));
  let valid = reqs.map((r, i) => ({ r, i, status: 'RUNNING' as 'RUNNING' | 'QUEUED' })).filter(({ r }) => flowOf.has(r.flowId));
  if (!valid.length) return results;

  const now = new Date();
  const insert = ignoreDuplicates ? 'INSERT IGNORE' : 'INSERT';
  // Room for one first task per start: a first node with several tasks has the others queued.
  const room = opts.room?.(valid.length) ?? null;
  const [made, out] = await inTx(s.knex, async (tx) => {
    const limited = [...new Set(valid.filter(({ r }) => flowOf.get(r.flowId)!.max_active != null).map(({ r }) => r.flowId))];
    if (limited.length) {
      const [, counts] = (await tx.send([
        { sql: 'SELECT flow_id FROM task_flow WHERE flow_id IN (?) ORDER BY flow_id FOR UPDATE', bindings: [limited] },
        { sql: "SELECT flow_id, status, COUNT(*) AS n FROM task_flow_ins WHERE flow_id IN (?) AND status IN ('RUNNING', 'QUEUED') GROUP BY flow_id, status", bindings: [limited] },
      ])) as [unknown, { flow_id: number; status: string; n: number }[]];
      const active = new Map<number, { running: number; queued: number }>(limited.map((id) => [id, { running: 0, queued: 0 }]));
      for (const c of counts) active.get(Number(c.flow_id))![c.status === 'RUNNING' ? 'running' : 'queued'] = Number(c.n);
      for (const v of valid) {
        const f = flowOf.get(v.r.flowId)!;
        const a = active.get(v.r.flowId);
        if (!a || f.max_active == null) continue;
        // Oldest first: while any is QUEUED, a new start queues behind it.
        if (a.running < f.max_active && a.queued === 0) a.running += 1;
        else if (f.overflow === 'SKIP') results[v.i] = new ConflictError(`flow ${v.r.flowId} has ${a.running} active instances, its maxActiveInstances (${f.max_active}): overflow is SKIP`);
        else {
          v.status = 'QUEUED';
          a.queued += 1;
        }
      }
      valid = valid.filter((v) => !(results[v.i] instanceof ConflictError));
      if (!valid.length) return [[], null] as const;
    }
    // One INSERT per instance, sent together: each result carries its own insert id (and, with
    // IGNORE, affectedRows 0 for a row the unique key refused).
    const inserted = await tx.send(
      valid.map(({ r, status }) => {
        const user = r.user ?? 'system';
        const f = flowOf.get(r.flowId)!;
        const deadline = status === 'RUNNING' && f.timeout_ms ? new Date(now.getTime() + f.timeout_ms) : null;
        return {
          sql: `${insert} INTO task_flow_ins (flow_id, flow_version, start_time, status, trigger_type, scheduled_time, input, priority, deadline_time, version, create_time, create_user, update_time, update_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
          bindings: [r.flowId, f.flow_version, now, status, r.trigger ?? 'API', r.scheduledTime ?? null, r.input === undefined ? null : JSON.stringify(r.input), r.priority ?? 0, deadline, now, user, now, user],
        };
      }),
    );
    const all = valid
      .map((v, k) => ({ ...v, fiId: Number(inserted[k].insertId), ok: Number(inserted[k].affectedRows) === 1 }))
      .filter((v) => v.ok);
    const rows = all.filter((v) => v.status === 'RUNNING');
    if (idem) await tx.send(recordKeyStatements(idem, now));
    const newIds = rows.map((v) => v.fiId);
    const fresh = rows.map(({ r, fiId }) => ({ fi_id: fiId, flow_id: r.flowId, flow_version: flowOf.get(r.flowId)!.flow_version, status: 'RUNNING', version: 0, start_time: now, priority: r.priority ?? 0 }));
    return [all, newIds.length ? await advanceMany(tx, coord.plans, newIds, { user: 'system', now, fresh, runHere: room?.runHere, collectChanges: coord.watching, states: coord.states }) : null] as const;
  }).catch((e) => {
    room?.giveBack();
    throw e;
  });
  // Committed: the first runs made here start now, while their Redis side (and the others') goes out.
  room?.take(out?.started ?? []);
  for (const { i } of valid) results[i] = null;
  for (const { i, fiId } of made) results[i] = fiId;
  // (Only QUEUED starts: no pass was made, but the dashboard is still told of them.)
  const told = out ?? (made.length ? emptyOutcome() : null);
  if (told) {
    told.changes.unshift(...made.map(({ r, fiId, status }) => ({ kind: 'flow' as const, fiId, flowId: r.flowId, status })));
    await coord.afterCommit(told);
  }
  return results;
}

/**
 * One start on its own (a cron tick, or a start with an Idempotency-Key). Returns the new fiId (or the
 * keyed start's earlier one), or null when a cron tick already started this flow.
 */
export async function startFlow(s: Services, coord: Coordinator, flowId: number, opts: StartOptions = {}, room?: RoomForStarts): Promise<number | null> {
  if (opts.idempotencyKey) {
    const idem = { key: opts.idempotencyKey, target: `flow:${flowId}`, ttlMs: s.config.idempotencyTtlMs };
    return startOnce(s.knex, idem, async () => {
      const [res] = await startFlows(s, coord, [{ flowId, ...opts }], room, idem);
      if (res instanceof NotFoundError || res instanceof ConflictError) throw res;
      return res;
    });
  }
  let res: number | NotFoundError | ConflictError;
  try {
    [res] = await startFlows(s, coord, [{ flowId, ...opts }], room);
  } catch (e) {
    if (opts.scheduledTime && (e as { code?: string }).code === 'ER_DUP_ENTRY') return null;
    throw e;
  }
  if (res instanceof NotFoundError || res instanceof ConflictError) throw res;
  return res;
}

/** A flow's flow-control settings, as a start reads them. */
interface FlowControlRow {
  flow_id: number;
  flow_version: number;
  timeout_ms: number | null;
  max_active: number | null;
  overflow: string | null;
}
