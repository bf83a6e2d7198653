// A small `npm run bench` in the suite, so the command cannot rot: it must build, start a member the
// way `npm start` does, run every flow to SUCCESS and print its JSON line of figures.
import { expect } from 'chai';
import { spawn } from 'node:child_process';

/** `npm run bench -- …args`: its exit checked, its last stdout line (the figures) parsed, and its stderr. */
async function bench(args: string[]): Promise<{ r: any; err: string }> {
  const child = spawn('npm', ['run', '--silent', 'bench', '--', ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code, err).to.equal(0);
  return { r: JSON.parse(out.trim().split('\n').pop()!), err };
}

describe('npm run bench (smoke)', function () {
  this.timeout(180_000);

  it('runs 20 flows × 3 steps and prints one JSON line of figures', async () => {
    const { r, err } = await bench(['--flows', '20', '--steps', '3', '--tasks-per-node', '2']);
    for (const k of ['flows', 'steps', 'wall_s', 'flows_per_s', 'tasks_per_s', 'transition_p50_ms', 'transition_p90_ms', 'transition_p99_ms', 'start_api_p50_ms', 'rss_mb']) {
      expect(r, k).to.have.property(k).that.is.a('number');
    }
    expect(r.flows).to.equal(20);
    expect(r.steps).to.equal(3);
    expect(r.tasks_per_s).to.be.greaterThan(0);
    expect(r.rss_mb).to.be.greaterThan(0);
    // Percentiles in order; a step starts after the one before it ended, and within the run.
    expect(r.transition_p50_ms).to.be.at.least(0);
    expect(r.transition_p90_ms).to.be.at.least(r.transition_p50_ms);
    expect(r.transition_p99_ms).to.be.at.least(r.transition_p90_ms).and.at.most(r.wall_s * 1000);
    expect(r.start_api_p50_ms).to.be.greaterThan(0).and.at.most(r.wall_s * 1000);
    // Tasks a second while the starts arrived and after the last one was answered (a figure each).
    expect(r.tasks_per_s_during_starts).to.be.a('number').at.least(0);
    expect(r.tasks_per_s_after_starts).to.be.a('number').at.least(0);
    expect(r.tasks_per_s_during_starts + r.tasks_per_s_after_starts).to.be.greaterThan(0);
    // The member's worker is idle when the first starts arrive: it runs their first tasks itself.
    expect(r.first_tasks_run_at_start).to.be.within(1, 20);
    // What the servers did for it (MariaDB's and Redis' own counters around the run): something, per task.
    expect(r.sql_statements_per_task).to.be.a('number').greaterThan(0);
    expect(r.sql_commits_per_task).to.be.a('number').at.least(0);
    expect(r.redis_commands_per_task).to.be.a('number').greaterThan(0);
    // Results recorded from the member's copies of their flows: none here, whose nodes run two tasks each
    // (a copy is kept only while every running node has one task: test/flow-copies.test.ts), none stale.
    expect(r.passes_from_copies).to.equal(0);
    expect(r.passes_from_copies_stale).to.equal(0);
    expect(err).to.match(/started 20\/20/); // the progress line
  });

  it('--warmup runs that many instances first and measures only the ones after them', async () => {
    const { r, err } = await bench(['--flows', '10', '--steps', '2', '--warmup', '15']);
    expect(err).to.match(/warm-up: 15 instances ended/);
    // 10 × 2 tasks measured, not the warm-up's 15 × 2 as well.
    expect([r.flows, r.warmup, r.tasks]).to.deep.equal([10, 15, 20]);
    expect(err).to.match(/started 10\/10/);
  });
});
