// /ui/workers: the external workers — each queue with its waiting, delayed and leased WORKER tasks and
// the oldest waiting; the workers seen polling in the last minutes (workerId, queues, last poll, the
// tasks they hold). From GET /monitor/workers, refreshed every 2 s while the page is open.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { ErrorBox, useTitle } from '../components/common.js';

const POLL_MS = 2000;

interface QueueRow { queue: string; waiting: number; delayed: number; leased: number; oldestWaitingMs: number; workers: number }
interface WorkerRow { workerId: string; queues: string[]; user: string | null; member: string | null; lastPoll: string | null; lastPollMsAgo: number; held: number }
interface Overview { queues: QueueRow[]; workers: WorkerRow[]; pollsWaiting: number }

const ago = (ms: number) => (ms < 1000 ? 'just now' : ms < 60_000 ? `${Math.round(ms / 1000)} s ago` : `${Math.round(ms / 60_000)} min ago`);

export function WorkersPage() {
  useTitle('Workers');
  const [view, setView] = useState<Overview | null>(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const a = await get<Overview>('/monitor/workers');
        if (stop) return;
        setView(a.data);
        setError(null);
      } catch (e) {
        if (stop) return;
        setError(e as Error);
      }
      if (!stop) timer = setTimeout(tick, POLL_MS);
    };
    void tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, []);

  return html`<section>
    <h1>Workers</h1>
    <p class="muted">External workers take WORKER tasks from their queues over HTTP (POST /worker/poll); see the README, <em>External workers</em>.</p>
    <${ErrorBox} error=${error} what="Could not load the workers" />
    ${!view ? html`<p class="muted">Loading…</p>` : html`
      <h2>Queues (${view.queues.length})</h2>
      ${view.queues.length === 0 ? html`<p class="muted">No WORKER task has been queued yet.</p>` : html`<table class="list" data-testid="queues-table">
        <thead><tr><th scope="col">Queue</th><th scope="col">Waiting</th><th scope="col">Delayed</th><th scope="col">In flight</th><th scope="col">Oldest waiting</th><th scope="col">Workers polling</th></tr></thead>
        <tbody>${view.queues.map((q) => html`<tr key=${q.queue} data-queue=${q.queue}>
          <td><code>${q.queue}</code></td><td>${q.waiting}</td><td>${q.delayed}</td><td>${q.leased}</td><td>${q.waiting ? `${q.oldestWaitingMs} ms` : '—'}</td><td>${q.workers}</td>
        </tr>`)}</tbody>
      </table>`}
      <h2>Workers seen in the last 10 minutes (${view.workers.length})</h2>
      ${view.workers.length === 0 ? html`<p class="muted">No worker has polled lately.</p>` : html`<table class="list" data-testid="workers-table">
        <thead><tr><th scope="col">Worker</th><th scope="col">Queues</th><th scope="col">Last poll</th><th scope="col">Tasks held</th><th scope="col">Token</th><th scope="col">Member</th></tr></thead>
        <tbody>${view.workers.map((w) => html`<tr key=${w.workerId} data-worker-id=${w.workerId}>
          <td class="wrap">${w.workerId}</td><td>${w.queues.map((q) => html`<code>${q}</code> `)}</td>
          <td>${w.lastPoll ?? '—'} <span class="muted small">(${ago(w.lastPollMsAgo)})</span></td><td>${w.held}</td>
          <td>${w.user ?? ''}</td><td class="wrap small">${w.member ?? ''}</td>
        </tr>`)}</tbody>
      </table>`}
      <p class="muted small">Polls this member holds waiting now: ${view.pollsWaiting}.</p>
    `}
  </section>`;
}
