// A small line chart of the queue's depth over the last minutes (cluster page): one line per
// series, told apart by dash pattern as well as colour, with a legend giving the latest values.
import { html } from 'htm/preact';

export interface Series {
  key: string;
  label: string;
  values: number[];
}

const W = 600;
const H = 140;
const DASH = ['', '6 3', '2 3', '10 3 2 3'];

export function LineChart({ times, series, label, windowMs }: { times: number[]; series: Series[]; label: string; windowMs: number }) {
  const now = times.length ? times[times.length - 1]! : Date.now();
  const from = now - windowMs;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (t: number) => ((t - from) / windowMs) * W;
  const y = (v: number) => H - 4 - (v / max) * (H - 20);
  return html`<figure class="chart" data-testid="queue-chart">
    <svg viewBox=${`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label=${label}>
      <line x1="0" x2=${W} y1=${y(0)} y2=${y(0)} class="c-axis" />
      <line x1="0" x2=${W} y1=${y(max)} y2=${y(max)} class="c-grid" />
      <text x="4" y=${y(max) - 3} class="c-tick">${max}</text>
      ${series.map((s, i) => html`<polyline key=${s.key} class=${`c-line c-${i}`} stroke-dasharray=${DASH[i % DASH.length] || undefined}
          points=${s.values.map((v, j) => `${x(times[j]!).toFixed(1)},${y(v).toFixed(1)}`).join(' ')} />`)}
    </svg>
    <figcaption>
      <span class="muted">Last ${Math.round(windowMs / 60000)} minutes · </span>
      <ul class="legend">
        ${series.map((s, i) => html`<li key=${s.key}><svg width="24" height="8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" class=${`c-line c-${i}`} stroke-dasharray=${DASH[i % DASH.length] || undefined} /></svg> ${s.label}: <strong>${s.values.length ? s.values[s.values.length - 1] : '—'}</strong></li>`)}
      </ul>
    </figcaption>
  </figure>`;
}
