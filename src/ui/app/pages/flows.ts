// /ui/flows: the flows, newest first, with version, schedule and the status of each one's last run
// (one query per page: POST /monitor/flow/latest), kept current by the live events.
import { html } from 'htm/preact';
import { get, post } from '../api.js';
import { ErrorBox, Loading, Pager, Status, useLoad, useTitle } from '../components/common.js';
import { useLiveRefresh } from '../live.js';
import { withQuery, type Location } from '../router.js';
import type { Flow, Page } from '../types.js';

const PAGE_SIZE = 20;

interface LastRun {
  flowId: number;
  fiId: number;
  status: string;
  startTime: string | null;
}

export function FlowsPage({ loc }: { loc: Location }) {
  useTitle('Flows');
  const page = Math.max(1, Number(loc.query.get('page')) || 1);
  const flows = useLoad(async () => {
    const { data } = await get<Page<Flow>>(`/flow?page=${page}&pageSize=${PAGE_SIZE}`);
    const ids = data.list.map((f) => f.flowId);
    const last = ids.length ? (await post<LastRun[]>('/monitor/flow/latest', { flowIds: ids })).data : [];
    return { page: data, last: new Map(last.map((l) => [l.flowId, l])) };
  }, [page]);
  const shown = new Set(flows.data?.page.list.map((f) => f.flowId) ?? []);
  useLiveRefresh({ kind: 'flow' }, flows.reload, (e) => e.flowId === undefined || shown.has(e.flowId), 1000);

  return html`<section>
    <header class="page-head">
      <h1>Flows</h1>
      <a class="button primary" href="/ui/flows/new">New flow</a>
    </header>
    <${ErrorBox} error=${flows.error} what="Could not load the flows" />
    ${!flows.data ? html`<${Loading} loading=${flows.loading} />` : flows.data.page.list.length === 0
      ? html`<p>No flows yet. <a href="/ui/flows/new">Create one</a> from <a href="/ui/tasks">your tasks</a>.</p>`
      : html`<table class="list" data-testid="flows-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Version</th><th scope="col">Cron</th><th scope="col">Last run</th></tr></thead>
          <tbody>
            ${flows.data.page.list.map((f) => {
              const last = flows.data!.last.get(f.flowId);
              return html`<tr key=${f.flowId}>
                <td><a href=${`/ui/flows/${f.flowId}`}>${f.flowName}</a>${f.flowDescription ? html`<div class="muted small">${f.flowDescription}</div>` : null}</td>
                <td>${f.flowId}</td>
                <td>${f.flowVersion}</td>
                <td>${f.cron ? html`<code>${f.cron}</code> ${f.cronEnabled ? '' : html`<span class="muted">(off)</span>`}` : html`<span class="muted">—</span>`}</td>
                <td>${last ? html`<a href=${`/ui/instances/${last.fiId}`}><${Status} status=${last.status} /></a> <span class="muted small">${last.startTime}</span>` : html`<span class="muted">never run</span>`}</td>
              </tr>`;
            })}
          </tbody>
        </table>
        <${Pager} page=${page} pageSize=${PAGE_SIZE} total=${flows.data.page.total} href=${(p: number) => withQuery('/ui/flows', { page: p })} />`}
  </section>`;
}
