// GET /metrics against real MariaDB and Redis: Prometheus text, counters that move by exactly what a
// flow did, and gauges read at scrape time. Values are read before and after (deltas), so the test
// holds whatever else the member did before.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, startFlow, waitForEnd } from './helpers/flows.js';

/** Parses the text format into `name{labels}` → value (labels as written, in order). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe('metrics', function () {
  this.timeout(60_000);
  let m: TestMember;

  async function scrape(): Promise<{ text: string; v: (key: string) => number; has: (key: string) => boolean }> {
    const res = await fetch(`${m.url}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const map = parseMetrics(text);
    return { text, v: (k) => map.get(k) ?? 0, has: (k) => map.has(k) };
  }

  before(async () => {
    m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '4' });
  });
  after(async () => { await m?.stop(1000); });

  it('is Prometheus text, without auth and outside the envelope, with process metrics and every metric of ours declared', async () => {
    const { text } = await scrape();
    expect(text).to.not.match(/^\{/);
    for (const name of [
      'task_schedule_tasks_started_total counter',
      'task_schedule_tasks_succeeded_total counter',
      'task_schedule_tasks_failed_total counter',
      'task_schedule_tasks_retried_total counter',
      'task_schedule_task_duration_seconds histogram',
      'task_schedule_node_transition_seconds histogram',
      'task_schedule_queue_depth gauge',
      'task_schedule_queue_oldest_waiting_seconds gauge',
      'task_schedule_inflight gauge',
      'task_schedule_worker_running gauge',
      'task_schedule_leader gauge',
      'task_schedule_lock_busy_total counter',
      'task_schedule_optimistic_lock_conflicts_total counter',
      'task_schedule_passes_from_copies_total counter',
      'task_schedule_flows_finished_total counter',
      'task_schedule_cron_ticks_missed_total counter',
      'task_schedule_cron_ticks_pending gauge',
      'process_cpu_user_seconds_total counter',
      'nodejs_heap_size_used_bytes gauge',
    ]) {
      expect(text, name).to.include(`# TYPE ${name}\n`);
    }
  });

  it('counts a flow: ECHO started+succeeded, EXCEPTION started+failed, transitions observed, durations by type', async () => {
    const echo = await createTask(m.api, 'ECHO', 'hi');
    const boom = await createTask(m.api, 'EXCEPTION', 'boom');
    const flowId = await createFlow(m.api, [[echo], [boom]]);
    const before = await scrape();
    const fiId = await startFlow(m.api, flowId);
    expect((await waitForEnd(m.api, fiId)).status).to.equal('FAILED');
    const after = await scrape();
    const d = (k: string) => after.v(k) - before.v(k);

    expect(d('task_schedule_tasks_started_total{type="ECHO"}')).to.equal(1);
    expect(d('task_schedule_tasks_succeeded_total{type="ECHO"}')).to.equal(1);
    expect(d('task_schedule_tasks_failed_total{type="ECHO"}')).to.equal(0);
    expect(d('task_schedule_tasks_started_total{type="EXCEPTION"}')).to.equal(1);
    expect(d('task_schedule_tasks_failed_total{type="EXCEPTION"}')).to.equal(1);
    expect(d('task_schedule_tasks_succeeded_total{type="EXCEPTION"}')).to.equal(0);
    expect(d('task_schedule_tasks_retried_total{type="EXCEPTION"}')).to.equal(0);
    expect(d('task_schedule_task_duration_seconds_count{type="ECHO",status="SUCCESS"}')).to.equal(1);
    expect(d('task_schedule_task_duration_seconds_count{type="EXCEPTION",status="FAILED"}')).to.equal(1);
    expect(d('task_schedule_flows_finished_total{status="FAILED"}')).to.equal(1);
    // The first transition is made by the start itself; then the ECHO node's end (→ EXCEPTION node) and
    // the EXCEPTION node's failure (→ flow FAILED) are coordinator passes that changed something.
    expect(d('task_schedule_node_transition_seconds_count')).to.be.at.least(2);
    expect(d('task_schedule_node_transition_seconds_sum')).to.be.greaterThan(0);
  });

  it('a retried attempt counts as retried, not failed, until the last one fails', async () => {
    const boom = await createTask(m.api, 'EXCEPTION', 'again', { maxRetries: 1, retryBackoffMs: 0 });
    const flowId = await createFlow(m.api, [[boom]]);
    const before = await scrape();
    const fiId = await startFlow(m.api, flowId);
    expect((await waitForEnd(m.api, fiId)).status).to.equal('FAILED');
    const after = await scrape();
    const d = (k: string) => after.v(k) - before.v(k);
    expect(d('task_schedule_tasks_started_total{type="EXCEPTION"}')).to.equal(2);
    expect(d('task_schedule_tasks_retried_total{type="EXCEPTION"}')).to.equal(1);
    expect(d('task_schedule_tasks_failed_total{type="EXCEPTION"}')).to.equal(1);
    expect(d('task_schedule_task_duration_seconds_count{type="EXCEPTION",status="RETRY"}')).to.equal(1);
  });

  it('queue gauges are read on scrape: delayed ids show as delayed and ready, then go', async () => {
    const ids = [980_000_001, 980_000_002];
    const before = await scrape();
    for (const state of ['ready', 'due', 'delayed']) expect(before.has(`task_schedule_queue_depth{state="${state}"}`), state).to.equal(true);
    for (const k of ['task_schedule_inflight', 'task_schedule_worker_running', 'task_schedule_leader', 'task_schedule_queue_oldest_waiting_seconds']) {
      expect(before.has(k), k).to.equal(true);
    }
    expect(before.v('task_schedule_queue_stats_up')).to.equal(1);
    expect(before.v('task_schedule_leader')).to.equal(m.cluster.isLeader() ? 1 : 0);
    await m.services.queue.enqueue(ids.map((tiId) => ({ tiId, delayMs: 600_000 })));
    try {
      const during = await scrape();
      expect(during.v('task_schedule_queue_depth{state="delayed"}') - before.v('task_schedule_queue_depth{state="delayed"}')).to.equal(2);
      expect(during.v('task_schedule_queue_depth{state="ready"}') - before.v('task_schedule_queue_depth{state="ready"}')).to.equal(2);
    } finally {
      await m.services.queue.remove(ids);
    }
    const after = await scrape();
    expect(after.v('task_schedule_queue_depth{state="delayed"}')).to.equal(before.v('task_schedule_queue_depth{state="delayed"}'));
  });

  it('each member has its own registry: a second member in the same process starts at zero', async () => {
    const other = await startTestMember({ ...isolated(), ROLES: 'web' });
    try {
      const res = await fetch(`${other.url}/metrics`);
      expect(res.status).to.equal(200);
      const map = parseMetrics(await res.text());
      expect(map.get('task_schedule_tasks_started_total{type="ECHO"}') ?? 0).to.equal(0);
      expect(map.get('task_schedule_worker_running')).to.equal(0);
    } finally {
      await other.stop(500);
    }
  });

  it('a worker-only member serves /metrics and /healthz on METRICS_PORT, and nothing of the API', async () => {
    const worker = await startTestMember({ ...isolated(), ROLES: 'worker', METRICS_PORT: '0' });
    try {
      expect(worker.url).to.be.a('string');
      const res = await fetch(`${worker.url}/metrics`);
      expect(res.status).to.equal(200);
      expect(parseMetrics(await res.text()).has('task_schedule_worker_running')).to.equal(true);
      expect((await worker.api('GET', '/healthz')).status).to.equal(200);
      expect((await worker.api('POST', '/task', { taskName: 'x', taskType: 'ECHO' })).status).to.equal(404);
    } finally {
      await worker.stop(500);
    }
    const silent = await startTestMember({ ...isolated(), ROLES: 'worker' });
    try {
      expect(silent.url).to.equal(null); // no METRICS_PORT: no listener at all
    } finally {
      await silent.stop(500);
    }
  });

  it('GET /metrics is in the OpenAPI document', async () => {
    const doc = (await m.api('GET', '/openapi.json')).body as any;
    expect(doc.paths['/metrics'].get).to.be.an('object');
    expect(doc.paths['/metrics'].get.security).to.deep.equal([]); // open: this member has neither METRICS_TOKEN nor API_TOKENS
  });
});
