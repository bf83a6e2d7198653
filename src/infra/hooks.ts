// The engine reports what it does through hooks (coordinator and worker `events`); metrics and live
// events each add theirs. Hooks are chained, never replaced, and a watcher that throws never breaks
// the engine.

/** Calls `prev` (a hook someone else installed) and then `add`, whose errors are swallowed. */
export function chainHook<A extends unknown[]>(prev: ((...a: A) => void) | undefined, add: (...a: A) => void): (...a: A) => void {
  return (...a: A) => {
    prev?.(...a);
    try {
      add(...a);
    } catch {
      // a watcher must never break the engine
    }
  };
}
