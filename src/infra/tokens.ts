// Tokens that name one claim or one coordinator pass (lease owners, lock values): unique within the
// cluster and never reused, cheaply — a random part drawn once per process, then a counter. They are
// names, not secrets: nothing is guarded by their being unguessable.
import { randomBytes } from 'node:crypto';

/** A function returning `${prefix}|<process random>.<n>`, a new one each call. */
export function tokenSource(prefix: string): () => string {
  const base = `${prefix}|${randomBytes(6).toString('hex')}.`;
  let n = 0;
  return () => base + (++n).toString(36);
}
