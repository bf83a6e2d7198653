// Start-up without MySQL or without Redis (issue 9): a member pointed at a closed port exits non-zero
// within seconds, with ONE line that names the variable, the address and what to do — no stack trace,
// no retry loop. Real processes (helpers/processes.ts spawn), nothing listening on the port.
import { expect } from 'chai';
import { freshPrefix, isolated, testRun } from './helpers/env.js';
import { Processes, type MemberProc } from './helpers/processes.js';
import { freePort } from './helpers/privateServices.js';
import { report, sleep } from './helpers/faultRun.js';

/** Node and tsx start in 1–3 s here; the rest is the member giving up. Generous for a loaded machine. */
const EXIT_WITHIN_MS = 15_000;

/** The lines a member printed, without its routine JSON log lines (pino levels below error). */
function notableLines(out: string): string[] {
  return out.split('\n').map((l) => l.trim()).filter(Boolean).filter((l) => {
    if (!l.startsWith('{')) return true;
    try {
      return Number(JSON.parse(l).level ?? 60) >= 50;
    } catch {
      return true;
    }
  });
}

describe('faults: start-up without MySQL or Redis (real processes)', function () {
  this.timeout(60_000);
  let procs: Processes;

  beforeEach(() => { procs = new Processes(freshPrefix()); });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(procs.dump());
    await procs.killAll();
  });

  /** Spawns a member and waits (with a deadline) for it to exit; `null` when it was still running. */
  async function startAndWait(id: string, env: Record<string, string>): Promise<{ p: MemberProc; ms: number; code: number | null }> {
    const t0 = Date.now();
    const p = procs.spawn({ id, roles: 'web,worker', env });
    const res = await Promise.race([p.exited, sleep(EXIT_WITHIN_MS).then(() => null)]);
    return { p, ms: Date.now() - t0, code: res ? (res.code ?? -1) : null };
  }

  function checkOneLine(p: MemberProc, variable: string, port: number): void {
    const lines = notableLines(p.output());
    if (lines.some((l) => /^at\s/.test(l))) throw new Error(`a stack trace was printed (exit code ${p.exitStatus()?.code}):\n${p.output().slice(-3000)}`);
    if (lines.length !== 1) throw new Error(`expected one line naming ${variable}, got ${lines.length}:\n${p.output().slice(-3000)}`);
    const [line] = lines;
    expect(line, 'the line names the variable').to.include(variable);
    // The address: host and port ("127.0.0.1:3306", or the URL, or "127.0.0.1 port 3306").
    expect(line, 'the line names the address').to.include('127.0.0.1').and.match(new RegExp(`\\b${port}\\b`));
    // "what to do": some instruction beyond the name and the address.
    expect(line, 'the line says what to do').to.match(/\b(start|check|set|run|make sure|ensure|point)\b/i);
  }

  it('f. DATABASE_URL pointing at a closed port: exit non-zero within seconds, one line naming DATABASE_URL, the address and what to do', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const { p, ms, code } = await startAndWait('su-mysql', { DATABASE_URL: `mysql://root@${address}/task_schedule`, REDIS_URL: testRun.redisUrl });
    report('start-up without MySQL', { 'exit after': code === null ? `still running after ${EXIT_WITHIN_MS} ms` : ms, 'exit code': String(code) });
    if (code === null) throw new Error(`still running ${EXIT_WITHIN_MS} ms after its start (a retry loop or a hang); its output ends:\n${p.output().slice(-3000)}`);
    expect(code, 'exit code').to.not.equal(0);
    checkOneLine(p, 'DATABASE_URL', port);
  });

  it('f. REDIS_URL pointing at a closed port: exit non-zero within seconds, one line naming REDIS_URL, the address and what to do', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const { p, ms, code } = await startAndWait('su-redis', { DATABASE_URL: isolated().DATABASE_URL, REDIS_URL: `redis://${address}/0` });
    report('start-up without Redis', { 'exit after': code === null ? `still running after ${EXIT_WITHIN_MS} ms` : ms, 'exit code': String(code) });
    if (code === null) throw new Error(`still running ${EXIT_WITHIN_MS} ms after its start (a retry loop or a hang); its output ends:\n${p.output().slice(-3000)}`);
    expect(code, 'exit code').to.not.equal(0);
    checkOneLine(p, 'REDIS_URL', port);
  });

  // Issue 23 item 7: two members started at once on a database that does not exist yet. Both run
  // knex's migrations; the loser used to find knex's lock taken and exit 1 with a raw MigrationLocked
  // stack trace. Now the second waits for the first's migrations, then starts. Three rounds, each on a
  // brand-new database, both members spawned in the same instant.
  it('two members started together on a brand-new database: both start (the second waits for the first\'s migrations)', async function () {
    this.timeout(180_000);
    for (let round = 1; round <= 3; round++) {
      const env = isolated();
      const ids = [`su-twin-${round}a`, `su-twin-${round}b`];
      const started = await Promise.allSettled(ids.map((id) => procs.start({ id, roles: 'web,worker', env, readyTimeoutMs: 60_000 })));
      const failed = started.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      const waited = procs.procs.filter((p) => ids.includes(p.id) && p.output().includes('another member is applying migrations')).length;
      report(`concurrent first start-up, round ${round}`, { started: `${started.length - failed.length} of 2`, 'waited for the other': String(waited) });
      if (failed.length) throw new Error(`round ${round}: ${failed.length} of 2 members did not start:\n${failed.map((f) => (f.reason as Error).message.slice(-3000)).join('\n')}`);
      for (const p of procs.procs) expect(p.output(), `${p.id} printed a MigrationLocked`).to.not.include('MigrationLocked');
      await procs.killAll();
    }
  });
});
