// The worker's transaction: its statements (recording a batch of task results) and the advance of the
// flow instances those results belong to, committed together, so a step costs one commit.
//
// The coordinator locks are asked for while the transaction's first round trip (the statements, and
// reads that take no locks) is on its way; the pass then advances only the instances whose lock it got,
// and leaves the others to their holders (a dirty mark, below). Reads that raced a holder's last commit
// are refused by the version fence, as reads by a paused pass are.
//
// MySQL is the record: when Redis cannot give the locks (down, out of memory, not answering), the results
// are committed all the same and the advancing is left for later (the reconciler finds the instances with
// nothing in flight). Nothing after the commit may throw: acks, enqueues and lock releases that fail are
// logged and repaired by the reaper and the reconciler, and the caller still learns its results were
// written.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { emptyOutcome, StaleWriteError, type BatchOutcome } from './advanceMany.js';
import { inTx, type Statement } from './sql/multiStatement.js';
import type { TaskRun } from './taskRun.js';
import type { RunHere } from './sql/transitionWrites.js';

/**
 * Sends `statements` and advances the instances they concern in the same transaction. With `runHere`, up
 * to its `max` new task instances are created RUNNING for that worker instead of being enqueued
 * (sql/transitionWrites.ts). Once committed, `onCommitted` (acks, and leasing and running the `started` ones) runs
 * alongside the lock release and the enqueueing, so their Redis commands share one pipeline. Returns the
 * statements' results, one per statement. Rejects only when nothing was committed.
 */
export async function commitAndAdvance(
  s: Services,
  coord: Coordinator,
  fiIds: number[],
  statements: Statement[],
  onCommitted: (results: any[], started: TaskRun[]) => Promise<void>,
  runHere?: RunHere,
): Promise<any[]> {
  const unique = [...new Set(fiIds)];
  const locks = coord.locks.request(unique, { markBusy: false, waitMs: coord.lockWaitMs });
  let out: BatchOutcome;
  try {
    out = await coord.advanceInTx(unique, { prelude: statements, runHere, locked: locks.granted });
  } catch (e) {
    if (!(e instanceof StaleWriteError)) {
      await locks.release();
      throw e;
    }
    // Keep the statements; the advancing is left to a fresh pass below.
    coord.staleRefused(e, unique);
    try {
      out = { ...emptyOutcome(), prelude: await inTx(s.knex, (tx) => tx.send(statements, { commit: true })) };
    } catch (e2) {
      await locks.release();
      throw e2;
    }
  }
  // Committed.
  const [again] = await Promise.all([
    locks.release(),
    coord.afterCommit(out),
    onCommitted(out.prelude, out.started).catch((e) => s.log.warn({ err: e }, 'after recording task results: the Redis side failed; the reaper and the reconciler repair it')),
  ]);
  const advanced = new Set(await locks.granted);
  const more = new Set(again);
  for (const id of unique) if (!advanced.has(id)) more.add(id);
  if (more.size) {
    // Instances whose lock was busy get a dirty mark (their holder advances them); with Redis away this
    // fails and the reconciler advances them once it is back.
    await coord.advance([...more]).catch((e) => s.log.warn({ err: e, fiIds: more.size }, 'advance after recording failed; the reconciler retries it'));
  }
  return out.prelude;
}
