// Advancing many flow instances from a duty: in batches through the coordinator (one lock round trip
// and one transaction per batch), a few batches at a time. A failed batch is logged, not thrown: the
// reconciler's next pass finds whatever it left behind.
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import { forEachLimit } from './util.js';

const BATCH = 50;
const CONCURRENCY = 2;

export async function advanceAll(engine: Engine, fiIds: number[], log: Logger, what: string): Promise<void> {
  const batches: number[][] = [];
  for (let i = 0; i < fiIds.length; i += BATCH) batches.push(fiIds.slice(i, i + BATCH));
  await forEachLimit(batches, CONCURRENCY, (ids) => engine.coordinator.advance(ids), (e, ids) =>
    log.error({ err: e, fiIds: ids }, `${what}: advance failed; the reconciler retries it`),
  );
}
