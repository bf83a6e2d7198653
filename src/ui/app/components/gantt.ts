// The timeline (Gantt chart) of a flow instance's task instances: one row per task instance, a bar
// from its start to its end (to now while it runs), coloured by status and labelled with status,
// attempt (and "retry N" for a node run again by a retry, whose attempts start again at 1) and duration. Times are the API's epoch milliseconds (startMs/endMs); a row without a
// start (still queued) says so instead of drawing a bar.
import { html } from 'htm/preact';
import type { NodeIns } from '../types.js';
import { clock, duration } from '../format.js';

export interface GanttRow {
  key: string;
  label: string;
  status: string;
  attempt: number;
  /** 0 for a node's first run; N for its N-th run by a manual retry. */
  retry: number;
  startMs: number | null | undefined;
  endMs: number | null | undefined;
}

/** Per node instance, how many earlier node instances of the same node this instance has (its retry number). */
export function retriesOf(nis: NodeIns[]): Map<number, number> {
  const seen = new Map<number, number>();
  const out = new Map<number, number>();
  for (const ni of [...nis].sort((a, b) => a.niId - b.niId)) {
    const n = seen.get(ni.nodeId) ?? 0;
    out.set(ni.niId, n);
    seen.set(ni.nodeId, n + 1);
  }
  return out;
}

export function rowsOf(nis: NodeIns[], taskName: (taskId: number) => string, nodeName: (ni: NodeIns) => string = (ni) => `node #${ni.nodeId}`): GanttRow[] {
  const retries = retriesOf(nis);
  return nis.flatMap((ni) =>
    ni.tasks.map((t) => ({
      key: String(t.tiId),
      label: `${nodeName(ni)} · ${taskName(t.taskId)}`,
      status: t.status,
      attempt: t.attempt,
      retry: retries.get(ni.niId) ?? 0,
      startMs: t.startMs,
      endMs: t.endMs,
    })),
  );
}

export function Gantt({ rows, now }: { rows: GanttRow[]; now: number }) {
  const started = rows.filter((r) => typeof r.startMs === 'number');
  if (!rows.length) return html`<p class="muted">No task instances yet.</p>`;
  const t0 = started.length ? Math.min(...started.map((r) => r.startMs!)) : now;
  const t1 = Math.max(t0 + 1, ...started.map((r) => r.endMs ?? now));
  const span = t1 - t0;
  const pct = (ms: number) => `${(((ms - t0) / span) * 100).toFixed(3)}%`;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return html`<figure class="gantt" data-testid="gantt">
    <figcaption class="muted">From ${clock(t0)}, ${duration(span)} in all</figcaption>
    <div class="gantt-axis" aria-hidden="true">
      <span class="gantt-label"></span>
      <span class="gantt-track">${ticks.map((f) => html`<span class="tick" style=${{ left: `${f * 100}%` }}>+${duration(f * span) || '0 ms'}</span>`)}</span>
    </div>
    <ol class="gantt-rows">
      ${rows.map((r) => {
        const has = typeof r.startMs === 'number';
        const end = r.endMs ?? now;
        const text = `${r.status}${r.retry ? ` · retry ${r.retry}` : ''} · attempt ${r.attempt}${has ? ` · ${duration(end - r.startMs!)}` : ' · not started'}`;
        return html`<li key=${r.key} class="gantt-row" data-status=${r.status} data-ti-id=${r.key}>
          <span class="gantt-label" title=${`${r.label} (task instance ${r.key})`}>${r.label}</span>
          <span class="gantt-track">
            ${has
              ? html`<span class=${`bar st-${r.status}`} style=${{ left: pct(r.startMs!), width: `max(3px, ${(((end - r.startMs!) / span) * 100).toFixed(3)}%)` }}></span>`
              : null}
            <span class="bar-text">${text}</span>
          </span>
        </li>`;
      })}
    </ol>
  </figure>`;
}
