// The unhandled-rejection guard (root hooks; hooks.ts uses them, and they work on their own with
// `--require`). A rejected promise nobody handles is the bug that took every member down at once
// (issue 9); in-process members run in the test process itself, so it must not pass silently here
// either: Mocha only re-emits such a rejection (nothing fails), where Node alone would crash.
// Each one is recorded with the phase it happened in, and:
//  - during a test's body: that test fails with it when its body ends (the body is wrapped in
//    beforeEach, keeping its arity), and the run goes on;
//  - in a hook before the body (a `before`/`beforeEach` of the suite): that test fails with it;
//  - in the test's `afterEach` hooks, after the body: the root afterEach throws (a failed hook, so Mocha
//    skips the rest of the run: loud, and rare);
//  - after the last test: the root afterAll throws.
// An uncaught exception needs nothing of ours: Mocha already fails the running test with it.
const rejections: { phase: string; reason: unknown }[] = [];
let phase = 'before the first test';
process.on('unhandledRejection', (reason) => {
  rejections.push({ phase, reason });
});

function describeRejections(list: { phase: string; reason: unknown }[]): string {
  return list.map(({ phase: when, reason }) => {
    const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
    return `unhandled promise rejection (${when}): ${text}`;
  }).join('\n');
}

function takeRejections(): Error | null {
  if (!rejections.length) return null;
  const err = new Error(describeRejections(rejections.splice(0)));
  err.name = 'UnhandledRejection';
  return err;
}

/** Lets rejections of the last turn be reported ('unhandledRejection' fires after the microtasks drain). */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** Wraps a test's body so that it fails with any rejection left unhandled while it ran. */
function guard(test: Mocha.Runnable): void {
  const fn = test.fn as ((this: Mocha.Context, ...args: any[]) => unknown) | undefined;
  if (!fn || (fn as any).__rejectionGuard) return;
  const title = test.fullTitle();
  const bodyOver = () => { phase = `in an afterEach hook of "${title}"`; };
  const finish = async (): Promise<void> => {
    await settle();
    const err = takeRejections();
    bodyOver();
    if (err) throw err;
  };
  const wrapped = fn.length > 0
    ? function (this: Mocha.Context, done: Mocha.Done) {
        phase = `in "${title}"`;
        fn.call(this, (e?: unknown) => {
          if (e) {
            bodyOver();
            return done(e);
          }
          finish().then(() => done(), done);
        });
      }
    : async function (this: Mocha.Context) {
        phase = `in "${title}"`;
        try {
          await fn.call(this);
        } catch (e) {
          bodyOver();
          throw e;
        }
        await finish();
      };
  (wrapped as any).__rejectionGuard = true;
  (wrapped as any).toString = () => fn.toString();
  test.fn = wrapped as Mocha.Func;
}

export const mochaHooks = {
  beforeEach(this: Mocha.Context) {
    const t = this.currentTest;
    if (!t) return;
    // Rejections left from the hooks that ran before this body are this test's to report.
    for (const r of rejections) r.phase += ', reported by the next test';
    phase = `in a beforeEach hook of "${t.fullTitle()}"`;
    guard(t);
  },
  async afterEach(this: Mocha.Context) {
    // The root afterEach runs last, after the suite's own afterEach hooks.
    await settle();
    const err = takeRejections();
    phase = `after "${this.currentTest?.fullTitle()}" (in a hook)`;
    if (err) throw err;
  },
  async afterAll() {
    await settle();
    const err = takeRejections();
    if (err) throw err;
  },
};
