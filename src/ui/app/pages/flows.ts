// /ui/flows: the flows, newest first (or those whose name holds ?name=), with version, schedule (its
// next run and a switch pausing or resuming it: PATCH /flow/{flowId}) and the status of each one's last
// run (one query per page: POST /monitor/flow/latest), kept current by the live events.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, patch, post } from '../api.js';
import { ErrorBox, Loading, NoticeLine, Pager, Status, noticeOf, useFlash, useLoad, useTitle, type Notice } from '../components/common.js';
import { useLiveRefresh } from '../live.js';
import { navigate, withQuery, type Location } from '../router.js';
import type { Flow, Page } from '../types.js';

const PAGE_SIZE = 20;

interface LastRun {
  flowId: number;
  fiId: number;
  status: string;
  startTime: string | null;
}

/** A name filter that lives in the URL (?name=), applied on Enter or the Search button. */
export function NameSearch({ base, name, what }: { base: string; name: string; what: string }) {
  const [draft, setDraft] = useState(name);
  useEffect(() => setDraft(name), [name]);
  return html`<form class="filters" role="search" aria-label=${`Search ${what}`} onSubmit=${(e: Event) => { e.preventDefault(); navigate(withQuery(base, { name: draft.trim() || undefined })); }}>
    <div class="field inline">
      <label for="name-search">Name contains</label>
      <input id="name-search" type="search" maxlength="255" value=${draft} onInput=${(e: Event) => setDraft((e.target as HTMLInputElement).value)} />
    </div>
    <button type="submit">Search</button>
    ${name ? html`<a class="button" href=${base}>Clear</a>` : null}
  </form>`;
}

/** A flow's schedule: its cron, next run, and a switch pausing or resuming it in place. */
export function CronSwitch({ flow, onChanged }: { flow: Flow; onChanged: (f: Flow) => void }) {
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<Notice | null>(null);
  if (!flow.cron) return html`<span class="muted">—</span>`;
  const on = Boolean(flow.cronEnabled);
  const toggle = async () => {
    setBusy(true);
    setNotice(null);
    try {
      onChanged((await patch<Flow>(`/flow/${flow.flowId}`, { cronEnabled: !on })).data);
    } catch (e) {
      setNotice(noticeOf(e));
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="cron" data-testid=${`cron-${flow.flowId}`}>
    <code>${flow.cron}</code>
    <button class=${`switch ${on ? 'on' : ''}`} role="switch" aria-checked=${on ? 'true' : 'false'} disabled=${busy} onClick=${toggle}
      aria-label=${`Schedule of ${flow.flowName}`} title=${on ? 'Pause the schedule' : 'Resume the schedule'}>${on ? 'on' : 'off'}</button>
    <div class="small" data-testid="next-run">${on ? (flow.nextRunTime ? html`next ${flow.nextRunTime}` : html`<span class="muted">no next run</span>`) : html`<span class="muted">paused</span>`}</div>
    ${notice ? html`<p class="notice bad" role="alert">${notice.text}</p>` : null}
  </div>`;
}

export function FlowsPage({ loc }: { loc: Location }) {
  useTitle('Flows');
  const page = Math.max(1, Number(loc.query.get('page')) || 1);
  const name = loc.query.get('name') ?? '';
  const flows = useLoad(async () => {
    const { data } = await get<Page<Flow>>(withQuery('/flow', { page, pageSize: PAGE_SIZE, name: name || undefined }));
    const ids = data.list.map((f) => f.flowId);
    const last = ids.length ? (await post<LastRun[]>('/monitor/flow/latest', { flowIds: ids })).data : [];
    return { page: data, last: new Map(last.map((l) => [l.flowId, l])) };
  }, [page, name]);
  const shown = new Set(flows.data?.page.list.map((f) => f.flowId) ?? []);
  useLiveRefresh({ kind: 'flow' }, flows.reload, (e) => e.flowId === undefined || shown.has(e.flowId), 1000);
  const flash = useFlash();

  return html`<section>
    <header class="page-head">
      <h1>Flows</h1>
      <a class="button primary" href="/ui/flows/new">New flow</a>
    </header>
    <${NameSearch} base="/ui/flows" name=${name} what="flows" />
    <${NoticeLine} notice=${flash} />
    <${ErrorBox} error=${flows.error} what="Could not load the flows" />
    ${!flows.data ? html`<${Loading} loading=${flows.loading} />` : flows.data.page.list.length === 0
      ? name ? html`<p>No flow's name contains “${name}”.</p>` : html`<p>No flows yet. <a href="/ui/flows/new">Create one</a> from <a href="/ui/tasks">your tasks</a>.</p>`
      : html`<table class="list" data-testid="flows-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Version</th><th scope="col">Schedule</th><th scope="col">Last run</th></tr></thead>
          <tbody>
            ${flows.data.page.list.map((f) => {
              const last = flows.data!.last.get(f.flowId);
              return html`<tr key=${f.flowId} data-flow-id=${f.flowId}>
                <td><a href=${`/ui/flows/${f.flowId}`}>${f.flowName}</a>${f.flowDescription ? html`<div class="muted small">${f.flowDescription}</div>` : null}</td>
                <td>${f.flowId}</td>
                <td>${f.flowVersion}</td>
                <td><${CronSwitch} flow=${f} onChanged=${() => flows.reload()} /></td>
                <td>${last ? html`<a href=${`/ui/instances/${last.fiId}`}><${Status} status=${last.status} /></a> <span class="muted small">${last.startTime}</span>` : html`<span class="muted">never run</span>`}</td>
              </tr>`;
            })}
          </tbody>
        </table>
        <${Pager} page=${page} pageSize=${PAGE_SIZE} total=${flows.data.page.total} href=${(p: number) => withQuery('/ui/flows', { page: p, name: name || undefined })} />`}
  </section>`;
}
