// /ui/instances (also /ui/): flow instances newest first, filtered by flow, status and start time
// (typed as YYYY-MM-DD HH:mm:ss, server time, like every time the dashboard shows), paged; the filters
// live in the URL (?flowId=&status=&from=&to=&page=) so a view can be linked. Rows can be selected and
// cancelled or retried together. Flow events (from any member) refresh the page without a reload.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getAll, post } from '../api.js';
import { ErrorBox, Loading, NoticeLine, Pager, Status, useLoad, useTitle, type Notice } from '../components/common.js';
import { useLiveRefresh } from '../live.js';
import { navigate, withQuery, type Location } from '../router.js';
import { FLOW_STATUSES, type Flow, type FlowIns, type NodeIns } from '../types.js';
import { between, duration } from '../format.js';

const PAGE_SIZE = 20;

/** Which rows are ticked, for the bulk actions. */
export interface Selection {
  has(fiId: number): boolean;
  toggle(fiId: number): void;
  all(fiIds: number[], on: boolean): void;
}

export function InstanceTable({ rows, showFlow = true, selection }: { rows: FlowIns[]; showFlow?: boolean; selection?: Selection }) {
  if (!rows.length) return html`<p class="muted">No instances.</p>`;
  const ids = rows.map((r) => r.fiId);
  const allOn = selection ? ids.every((id) => selection.has(id)) : false;
  return html`<table class="list" data-testid="instances-table">
    <thead><tr>
      ${selection ? html`<th scope="col"><input type="checkbox" aria-label="Select all shown" checked=${allOn} onChange=${() => selection.all(ids, !allOn)} /></th>` : null}
      <th scope="col">Instance</th>${showFlow ? html`<th scope="col">Flow</th>` : null}<th scope="col">Version</th><th scope="col">Status</th><th scope="col">Priority</th>
      <th scope="col">Started</th><th scope="col">Took</th><th scope="col">Trigger</th><th scope="col">Failed at</th><th scope="col">Error</th>
    </tr></thead>
    <tbody>
      ${rows.map((r) => html`<tr key=${r.fiId} data-fi-id=${r.fiId}>
        ${selection ? html`<td><input type="checkbox" aria-label=${`Select instance ${r.fiId}`} checked=${selection.has(r.fiId)} onChange=${() => selection.toggle(r.fiId)} /></td>` : null}
        <td><a href=${`/ui/instances/${r.fiId}`}>#${r.fiId}</a></td>
        ${showFlow ? html`<td><a href=${`/ui/flows/${r.flowId}`}>${r.flowName ?? `flow ${r.flowId}`}</a></td>` : null}
        <td>${r.flowVersion}</td>
        <td><${Status} status=${r.status} /></td>
        <td>${r.priority ?? 0}</td>
        <td data-testid="started">${r.startTime}</td>
        <td data-testid="took">${r.endTime ? duration(between(r.startTime, r.endTime)) : html`<span class="muted">${r.status === 'QUEUED' ? 'queued' : 'running'}</span>`}</td>
        <td>${r.trigger ?? ''}</td>
        <td data-testid="failed-at">${r.failedNode ? html`<a href=${`/ui/instances/${r.fiId}#ni-${r.failedNode.niId}`}>${r.failedNode.nodeKey ?? `node #${r.failedNode.nodeId}`}</a>` : ''}</td>
        <td class="wrap">${r.errorMsg}</td>
      </tr>`)}
    </tbody>
  </table>`;
}

const TIME_RE = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2})(:\d{2})?)?$/;

/**
 * A typed start-time bound in the API's own format (YYYY-MM-DD HH:mm:ss, server time), or null when
 * it is not one; a bare date is the whole day, a time without seconds its whole minute.
 */
export function timeBound(v: string, end: boolean): string | null {
  const m = TIME_RE.exec(v.trim());
  if (!m) return null;
  // MySQL keeps milliseconds the wire does not show: "to 08:00:00" takes in all of that second.
  if (!m[2]) return end ? `${m[1]} 23:59:59.999` : `${m[1]} 00:00:00`;
  return `${m[1]} ${m[2]}${m[3] ?? (end ? ':59' : ':00')}${end ? '.999' : ''}`;
}

/** The node instance a retry of this instance starts from: where it failed, else the last one cancelled. */
async function retryPoint(r: FlowIns): Promise<number | null> {
  if (r.failedNode) return r.failedNode.niId;
  const nis = (await post<NodeIns[]>(`/monitor/flow/detail/${r.fiId}`)).data;
  const ended = nis.filter((ni) => ni.status === 'FAILED' || ni.status === 'CANCELLED');
  return ended.length ? ended[ended.length - 1]!.niId : null;
}

/** Runs one action per selected instance, one after another; says how many went through and why others did not. */
async function bulk(rows: FlowIns[], verb: string, one: (r: FlowIns) => Promise<void>): Promise<Notice> {
  let done = 0;
  const refused: string[] = [];
  for (const r of rows) {
    try {
      await one(r);
      done += 1;
    } catch (e) {
      refused.push(`#${r.fiId}: ${e instanceof ApiError ? e.message : (e as Error).message}`);
    }
  }
  const text = `${verb} ${done} of ${rows.length} instance${rows.length === 1 ? '' : 's'}.${refused.length ? ` Not done: ${refused.join('; ')}` : ''}`;
  return { ok: refused.length === 0, text };
}

export function InstancesPage({ loc }: { loc: Location }) {
  useTitle('Instances');
  const q = loc.query;
  const flowId = Number(q.get('flowId')) || undefined;
  const status = q.get('status') || undefined;
  // Links made before the filters took typed times carry datetime-local values (…T…): read those too.
  const from = (q.get('from') || '').replace('T', ' ');
  const to = (q.get('to') || '').replace('T', ' ');
  const page = Math.max(1, Number(q.get('page')) || 1);

  const flows = useLoad(() => getAll<Flow>('/flow', 1000), []);
  const list = useLoad(async () => {
    const a = await post<FlowIns[]>('/monitor/flow', { flowId, status, from: timeBound(from, false) ?? undefined, to: timeBound(to, true) ?? undefined, page, pageSize: PAGE_SIZE });
    return { rows: a.data, total: a.total ?? a.data.length };
  }, [flowId, status, from, to, page]);
  useLiveRefresh({ kind: 'flow', flowId }, list.reload, undefined, 1000);

  // The form edits a draft; Apply (or Enter) puts it in the URL.
  const [draft, setDraft] = useState({ flowId: flowId ? String(flowId) : '', status: status ?? '', from, to });
  useEffect(() => setDraft({ flowId: flowId ? String(flowId) : '', status: status ?? '', from, to }), [loc.query.toString()]);
  const set = (k: keyof typeof draft) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  const badTime = (v: string) => v.trim() !== '' && timeBound(v, false) === null;
  const apply = (e: Event) => {
    e.preventDefault();
    if (badTime(draft.from) || badTime(draft.to)) return;
    navigate(withQuery('/ui/instances', { ...draft, from: draft.from.trim(), to: draft.to.trim() }));
  };

  // Bulk cancel / retry of the ticked rows (kept across live refreshes, dropped on a new filter).
  const [picked, setPicked] = useState<Set<number>>(new Set());
  useEffect(() => setPicked(new Set()), [loc.query.toString()]);
  const selection: Selection = {
    has: (id) => picked.has(id),
    toggle: (id) => setPicked((p) => { const n = new Set(p); if (n.has(id)) n.delete(id); else n.add(id); return n; }),
    all: (ids, on) => setPicked((p) => { const n = new Set(p); for (const id of ids) if (on) n.add(id); else n.delete(id); return n; }),
  };
  const chosen = (list.data?.rows ?? []).filter((r) => picked.has(r.fiId));
  const running = chosen.filter((r) => r.status === 'RUNNING');
  const ended = chosen.filter((r) => r.status === 'FAILED' || r.status === 'CANCELLED');
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState(false);
  const runBulk = async (question: string, verb: string, rows: FlowIns[], one: (r: FlowIns) => Promise<void>) => {
    if (!rows.length || !window.confirm(question)) return;
    setBusy(true);
    setNotice(null);
    try {
      setNotice(await bulk(rows, verb, one));
      setPicked(new Set());
      await list.reload();
    } finally {
      setBusy(false);
    }
  };
  const cancelPicked = () =>
    runBulk(`Cancel ${running.length} running instance${running.length === 1 ? '' : 's'}?`, 'Cancelled', running, async (r) => { await post(`/exec/flow-ins/${r.fiId}/cancel`); });
  const retryPicked = () =>
    runBulk(`Retry ${ended.length} failed or cancelled instance${ended.length === 1 ? '' : 's'}, each from the node it stopped at?`, 'Retried', ended, async (r) => {
      const niId = await retryPoint(r);
      if (niId === null) throw new Error('no failed or cancelled node to retry from');
      await post(`/exec/flow/${r.flowId}`, { fiId: r.fiId, niId });
    });
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
      ${(['from', 'to'] as const).map((k) => html`<div class=${`field inline ${badTime(draft[k]) ? 'has-error' : ''}`}>
        <label for=${`f-${k}`}>${k === 'from' ? 'Started from' : 'to'}</label>
        <input id=${`f-${k}`} type="text" inputmode="numeric" size="19" placeholder="YYYY-MM-DD HH:mm:ss" autocomplete="off"
          aria-describedby=${badTime(draft[k]) ? `f-${k}-error` : 'f-time-hint'} value=${draft[k]} onInput=${set(k)} />
        ${badTime(draft[k]) ? html`<span class="field-error" id=${`f-${k}-error`} role="alert">not a time like 2026-11-27 08:00:00</span>` : null}
      </div>`)}
      <button type="submit">Apply</button>
      <a class="button" href="/ui/instances">Clear</a>
      <span class="hint" id="f-time-hint">Times as YYYY-MM-DD HH:mm:ss (or a date), server time</span>
    </form>
    <div class="bulk" role="group" aria-label="Selected instances">
      <span class="muted small">${picked.size} selected</span>
      <button onClick=${cancelPicked} disabled=${busy || !running.length}>Cancel selected${running.length ? ` (${running.length})` : ''}</button>
      <button onClick=${retryPicked} disabled=${busy || !ended.length}>Retry selected${ended.length ? ` (${ended.length})` : ''}</button>
    </div>
    <${NoticeLine} notice=${notice} testid="bulk-notice" />
    <${ErrorBox} error=${list.error} what="Could not load the instances" />
    ${list.data ? html`<${InstanceTable} rows=${list.data.rows} selection=${selection} />
      <${Pager} page=${page} pageSize=${PAGE_SIZE} total=${list.data.total} href=${href} />` : html`<${Loading} loading=${list.loading} />`}
  </section>`;
}
