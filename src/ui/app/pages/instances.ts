// /ui/instances (also /ui/): flow instances newest first, filtered by flow, status and start time,
// paged; the filters live in the URL (?flowId=&status=&from=&to=&page=) so a view can be linked.
// Flow events (from any member) refresh the page without a reload.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { getAll, post } from '../api.js';
import { ErrorBox, Loading, Pager, Status, useLoad, useTitle } from '../components/common.js';
import { useLiveRefresh } from '../live.js';
import { navigate, withQuery, type Location } from '../router.js';
import { FLOW_STATUSES, type Flow, type FlowIns } from '../types.js';
import { between, duration } from '../format.js';

const PAGE_SIZE = 20;

export function InstanceTable({ rows, showFlow = true }: { rows: FlowIns[]; showFlow?: boolean }) {
  if (!rows.length) return html`<p class="muted">No instances.</p>`;
  return html`<table class="list" data-testid="instances-table">
    <thead><tr>
      <th scope="col">Instance</th>${showFlow ? html`<th scope="col">Flow</th>` : null}<th scope="col">Version</th><th scope="col">Status</th><th scope="col">Priority</th>
      <th scope="col">Started</th><th scope="col">Took</th><th scope="col">Trigger</th><th scope="col">Error</th>
    </tr></thead>
    <tbody>
      ${rows.map((r) => html`<tr key=${r.fiId} data-fi-id=${r.fiId}>
        <td><a href=${`/ui/instances/${r.fiId}`}>#${r.fiId}</a></td>
        ${showFlow ? html`<td><a href=${`/ui/flows/${r.flowId}`}>${r.flowName ?? `flow ${r.flowId}`}</a></td>` : null}
        <td>${r.flowVersion}</td>
        <td><${Status} status=${r.status} /></td>
        <td>${r.priority ?? 0}</td>
        <td>${r.startTime}</td>
        <td>${r.endTime ? duration(between(r.startTime, r.endTime)) : html`<span class="muted">${r.status === 'QUEUED' ? 'queued' : 'running'}</span>`}</td>
        <td>${r.trigger ?? ''}</td>
        <td class="wrap">${r.errorMsg}</td>
      </tr>`)}
    </tbody>
  </table>`;
}

/** A datetime-local value (browser time) as epoch ms for the API, or undefined. */
const epoch = (v: string | null) => {
  if (!v) return undefined;
  const t = new Date(v).getTime();
  return Number.isNaN(t) ? undefined : t;
};

export function InstancesPage({ loc }: { loc: Location }) {
  useTitle('Instances');
  const q = loc.query;
  const flowId = Number(q.get('flowId')) || undefined;
  const status = q.get('status') || undefined;
  const from = q.get('from') || '';
  const to = q.get('to') || '';
  const page = Math.max(1, Number(q.get('page')) || 1);

  const flows = useLoad(() => getAll<Flow>('/flow', 1000), []);
  const list = useLoad(async () => {
    const a = await post<FlowIns[]>('/monitor/flow', { flowId, status, from: epoch(from), to: epoch(to), page, pageSize: PAGE_SIZE });
    return { rows: a.data, total: a.total ?? a.data.length };
  }, [flowId, status, from, to, page]);
  useLiveRefresh({ kind: 'flow', flowId }, list.reload, undefined, 1000);

  // The form edits a draft; Apply (or Enter) puts it in the URL.
  const [draft, setDraft] = useState({ flowId: flowId ? String(flowId) : '', status: status ?? '', from, to });
  useEffect(() => setDraft({ flowId: flowId ? String(flowId) : '', status: status ?? '', from, to }), [loc.query.toString()]);
  const set = (k: keyof typeof draft) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  const apply = (e: Event) => {
    e.preventDefault();
    navigate(withQuery('/ui/instances', { ...draft }));
  };
  const href = (p: number) => withQuery('/ui/instances', { flowId, status, from, to, page: p });

  return html`<section>
    <header class="page-head"><h1>Instances</h1></header>
    <form class="filters" onSubmit=${apply} aria-label="Filter instances">
      <div class="field inline">
        <label for="f-flow">Flow</label>
        <select id="f-flow" value=${draft.flowId} onChange=${set('flowId')}>
          <option value="">All flows</option>
          ${(flows.data ?? []).map((f) => html`<option value=${String(f.flowId)}>${f.flowName} (#${f.flowId})</option>`)}
        </select>
      </div>
      <div class="field inline">
        <label for="f-status">Status</label>
        <select id="f-status" value=${draft.status} onChange=${set('status')}>
          <option value="">Any</option>
          ${FLOW_STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </div>
      <div class="field inline">
        <label for="f-from">Started from</label>
        <input id="f-from" type="datetime-local" step="1" value=${draft.from} onInput=${set('from')} />
      </div>
      <div class="field inline">
        <label for="f-to">to</label>
        <input id="f-to" type="datetime-local" step="1" value=${draft.to} onInput=${set('to')} />
      </div>
      <button type="submit">Apply</button>
      <a class="button" href="/ui/instances">Clear</a>
    </form>
    <${ErrorBox} error=${list.error} what="Could not load the instances" />
    ${list.data ? html`<${InstanceTable} rows=${list.data.rows} />
      <${Pager} page=${page} pageSize=${PAGE_SIZE} total=${list.data.total} href=${href} />` : html`<${Loading} loading=${list.loading} />`}
  </section>`;
}
