// /ui/cluster: what the admin endpoints show — members with their roles and running counts, the
// leader, the queue's depth (a chart over the last minutes, sampled while the page is open), the task
// instances in flight and the locks. Needs ADMIN_TOKEN, asked for here once and kept for the tab.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, tokens } from '../api.js';
import { ErrorBox, useTitle } from '../components/common.js';
import { LineChart } from '../components/chart.js';
import { duration } from '../format.js';

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60_000;

interface Member { id: string; roles: string[]; host: string; pid: number; started: string; lastBeat: string; running: number; leader: boolean }
interface Leader { memberId: string | null; ttlMs: number | null; self: boolean }
interface QueueStats { ready: number; dueNow: number; delayed: number; inflight: number; oldestWaitingMs: number }
interface Inflight { tiId: number; fiId: number | null; taskId: number | null; taskName?: string | null; worker: string; attempt: number | null; leaseDeadline: string | null; leaseMsLeft: number; runningForMs: number }
interface Lock { key: string; holder: string | null; ttlMs: number | null }

interface LimitWait { taskId: number; waiting: number; running: number; limits: { concurrency: number; rateMax: number; ratePerMs: number } | null }

interface Snapshot { members: Member[]; leader: Leader; queue: QueueStats; inflight: Inflight[]; locks: Lock[]; limits: LimitWait[] }

/** Queue samples of this tab, kept across visits to the page. */
const samples: { t: number; q: QueueStats }[] = [];

async function snapshot(): Promise<Snapshot> {
  const admin = { admin: true };
  const [members, leader, queue, inflight, locks, limits] = await Promise.all([
    get<Member[]>('/admin/members', admin),
    get<Leader>('/admin/leader', admin),
    get<QueueStats>('/admin/queue', admin),
    get<Inflight[]>('/admin/inflight?limit=100', admin),
    get<Lock[]>('/admin/locks?limit=200', admin),
    // A server without flow control's endpoint (older member): shown as nothing waiting.
    get<LimitWait[]>('/admin/limits', admin).catch(() => ({ data: [] as LimitWait[] })),
  ]);
  return { members: members.data, leader: leader.data, queue: queue.data, inflight: inflight.data, locks: locks.data, limits: limits.data };
}

function TokenForm({ message, onToken }: { message: string | null; onToken: (t: string) => void }) {
  const [v, setV] = useState('');
  return html`<form class="form narrow" onSubmit=${(e: Event) => { e.preventDefault(); if (v.trim()) onToken(v.trim()); }}>
    <p>${message ?? 'The cluster view uses the admin endpoints: enter the server\'s ADMIN_TOKEN. It is kept for this tab only.'}</p>
    <div class="field">
      <label for="admin-token">Admin token</label>
      <input id="admin-token" type="password" autocomplete="off" value=${v} onInput=${(e: Event) => setV((e.target as HTMLInputElement).value)} />
    </div>
    <button type="submit" class="primary">Use admin token</button>
  </form>`;
}

export function ClusterPage() {
  useTitle('Cluster');
  const [token, setToken] = useState(tokens.admin());
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [ask, setAsk] = useState<string | null>(null);

  useEffect(() => {
    if (!token) return;
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const s = await snapshot();
        if (stop) return;
        samples.push({ t: Date.now(), q: s.queue });
        while (samples.length && samples[0]!.t < Date.now() - WINDOW_MS) samples.shift();
        setSnap(s);
        setError(null);
      } catch (e) {
        if (stop) return;
        if (e instanceof ApiError && e.status === 401) {
          tokens.setAdmin(null);
          setToken(null);
          setAsk(`The admin token was refused (${e.message}). Enter it again.`);
          return;
        }
        if (e instanceof ApiError && e.status === 404) {
          setError(new Error('The admin endpoints are off on this server: start it with ADMIN_TOKEN set.'));
          return;
        }
        setError(e as Error);
      }
      if (!stop) timer = setTimeout(tick, POLL_MS);
    };
    void tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [token]);

  if (!token) {
    return html`<section><h1>Cluster</h1><${TokenForm} message=${ask} onToken=${(t: string) => { tokens.setAdmin(t); setAsk(null); setToken(t); }} /></section>`;
  }
  const times = samples.map((s) => s.t);
  return html`<section>
    <header class="page-head">
      <h1>Cluster</h1>
      <button type="button" onClick=${() => { tokens.setAdmin(null); setToken(null); setSnap(null); }}>Forget admin token</button>
    </header>
    <${ErrorBox} error=${error} what="Could not load the cluster" />
    ${!snap ? html`<p class="muted">Loading…</p>` : html`
      <h2>Members</h2>
      <p>Leader: ${snap.leader.memberId ? html`<strong data-testid="leader">${snap.leader.memberId}</strong> <span class="muted">(lease ${duration(snap.leader.ttlMs)} left${snap.leader.self ? ', the member answering' : ''})</span>` : html`<strong>nobody leads right now</strong>`}</p>
      <table class="list" data-testid="members-table">
        <thead><tr><th scope="col">Member</th><th scope="col">Roles</th><th scope="col">Host</th><th scope="col">PID</th><th scope="col">Started</th><th scope="col">Last beat</th><th scope="col">Running</th><th scope="col">Leader</th></tr></thead>
        <tbody>
          ${snap.members.map((m) => html`<tr key=${m.id} data-member-id=${m.id}>
            <td class="wrap">${m.id}</td><td>${m.roles.join(', ')}</td><td>${m.host}</td><td>${m.pid}</td><td>${m.started}</td><td>${m.lastBeat}</td><td>${m.running}</td>
            <td>${m.leader ? html`<span class="badge st-SUCCESS">★ leader</span>` : ''}</td>
          </tr>`)}
        </tbody>
      </table>
      <h2>Queue</h2>
      <dl class="meta">
        <div><dt>Ready</dt><dd>${snap.queue.ready}</dd></div>
        <div><dt>Due now</dt><dd>${snap.queue.dueNow}</dd></div>
        <div><dt>Delayed</dt><dd>${snap.queue.delayed}</dd></div>
        <div><dt>In flight</dt><dd>${snap.queue.inflight}</dd></div>
        <div><dt>Oldest waiting</dt><dd>${duration(snap.queue.oldestWaitingMs) || '0 ms'}</dd></div>
      </dl>
      <${LineChart} times=${times} windowMs=${WINDOW_MS} label="Queue depth over the last minutes: ready, due, delayed and in flight"
        series=${[
          { key: 'ready', label: 'ready', values: samples.map((s) => s.q.ready) },
          { key: 'due', label: 'due', values: samples.map((s) => s.q.dueNow) },
          { key: 'delayed', label: 'delayed', values: samples.map((s) => s.q.delayed) },
          { key: 'inflight', label: 'in flight', values: samples.map((s) => s.q.inflight) },
        ]} />
      <h2>Waiting on a limit (${snap.limits.length})</h2>
      ${snap.limits.length === 0 ? html`<p class="muted">No task waits on its concurrency or rate limit.</p>` : html`<table class="list" data-testid="limits-table">
        <thead><tr><th scope="col">Task</th><th scope="col">Waiting</th><th scope="col">Holding a slot</th><th scope="col">Limits</th></tr></thead>
        <tbody>${snap.limits.map((l) => html`<tr key=${l.taskId} data-task-id=${l.taskId}>
          <td><a href=${`/ui/tasks/${l.taskId}`}>#${l.taskId}</a></td><td>${l.waiting}</td><td>${l.running}</td>
          <td>${!l.limits ? 'removed' : [l.limits.concurrency ? `${l.limits.concurrency} at once` : '', l.limits.rateMax ? `${l.limits.rateMax} per ${l.limits.ratePerMs} ms` : ''].filter(Boolean).join(', ')}</td>
        </tr>`)}</tbody>
      </table>`}
      <h2>In flight (${snap.inflight.length})</h2>
      ${snap.inflight.length === 0 ? html`<p class="muted">Nothing in flight.</p>` : html`<table class="list">
        <thead><tr><th scope="col">Task instance</th><th scope="col">Instance</th><th scope="col">Task</th><th scope="col">Worker</th><th scope="col">Attempt</th><th scope="col">Running for</th><th scope="col">Lease left</th></tr></thead>
        <tbody>${snap.inflight.map((f) => html`<tr key=${f.tiId}>
          <td>${f.tiId}</td><td>${f.fiId ? html`<a href=${`/ui/instances/${f.fiId}`}>#${f.fiId}</a>` : '—'}</td><td>${f.taskId ? html`<a href=${`/ui/tasks/${f.taskId}`}>${f.taskName ?? `task ${f.taskId}`}</a> <span class="muted small">#${f.taskId}</span>` : '—'}</td>
          <td class="wrap small">${f.worker}</td><td>${f.attempt ?? ''}</td><td data-testid="running-for">${duration(f.runningForMs)}</td><td>${duration(f.leaseMsLeft)}</td>
        </tr>`)}</tbody>
      </table>`}
      <h2>Locks (${snap.locks.length})</h2>
      ${snap.locks.length === 0 ? html`<p class="muted">No locks held.</p>` : html`<table class="list">
        <thead><tr><th scope="col">Key</th><th scope="col">Holder</th><th scope="col">TTL left</th></tr></thead>
        <tbody>${snap.locks.map((l) => html`<tr key=${l.key}><td class="wrap"><code>${l.key}</code></td><td class="wrap small">${l.holder ?? '—'}</td><td>${l.ttlMs === null ? 'no expiry' : duration(l.ttlMs)}</td></tr>`)}</tbody>
      </table>`}
    `}
  </section>`;
}
