// /ui/flows/{flowId}[?version=N]: one flow — its nodes drawn as a graph, a version picker, the start
// button (with an optional JSON input), its schedule (pause/resume in place), Delete (after a
// confirmation; the API's refusal shown), and its latest instances, live.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { ApiError, del, get, post } from '../api.js';
import { ErrorBox, Extras, Loading, NoticeLine, noticeOf, setFlash, useFlash, useLoad, useTitle, type Notice } from '../components/common.js';
import { FlowGraph, nodeKeyAt } from '../components/graph.js';
import { CronSwitch } from './flows.js';
import { controlLines } from '../components/controlFlow.js';
import { InstanceTable } from './instances.js';
import { navigate, withQuery, type Location } from '../router.js';
import type { Flow, FlowIns, FlowNode } from '../types.js';
import { useLiveRefresh } from '../live.js';
import { completionText } from '../format.js';

const KNOWN = ['flowId', 'flowName', 'flowDescription', 'flowNodes', 'createTime', 'updateTime', 'flowVersion', 'cron', 'cronEnabled', 'cronMisfire', 'nextRunTime', 'timeoutMs', 'maxActiveInstances', 'overflow'];

export function FlowPage({ flowId, loc }: { flowId: number; loc: Location }) {
  const version = Number(loc.query.get('version')) || undefined;
  const flow = useLoad(() => get<Flow>(withQuery(`/flow/${flowId}`, { version })).then((a) => a.data), [flowId, version]);
  // The current version, for the picker, when an older one is shown.
  const current = useLoad(() => (version ? get<Flow>(`/flow/${flowId}`).then((a) => a.data.flowVersion) : Promise.resolve(null)), [flowId, version]);
  const recent = useLoad(() => post<FlowIns[]>('/monitor/flow', { flowId, page: 1, pageSize: 10 }).then((a) => a.data), [flowId]);
  useLiveRefresh({ flowId, kind: 'flow' }, recent.reload, undefined, 1000);
  const f = flow.data;
  useTitle(f ? `Flow ${f.flowId} · ${f.flowName}` : `Flow ${flowId}`);

  const [input, setInput] = useState('');
  const [priority, setPriority] = useState('0');
  const [inputError, setInputError] = useState<string | null>(null);
  const flash = useFlash();
  const [notice, setNotice] = useState<Notice | null>(flash);
  const [busy, setBusy] = useState(false);

  const start = async () => {
    let body: Record<string, unknown> | undefined;
    setInputError(null);
    setNotice(null);
    // Only text that is not JSON at all is stopped here; what the API makes of the value (it must be
    // an object) is its own 400, shown next to the field.
    if (input.trim()) {
      try {
        body = { input: JSON.parse(input) };
      } catch (e) {
        setInputError(`not valid JSON: ${(e as Error).message}`);
        return;
      }
    }
    if (priority !== '0') body = { ...body, priority: Number(priority) };
    setBusy(true);
    try {
      const a = await post<{ fiId: number }>(`/exec/flow/${flowId}`, body);
      setNotice({ ok: true, text: `${a.status} ${a.message}: started instance ${a.data.fiId}` });
      navigate(`/ui/instances/${a.data.fiId}`);
    } catch (e) {
      // A bad input is said once, next to the field; anything else in the notice line.
      if (e instanceof ApiError && e.status === 400 && e.field?.startsWith('input')) setInputError(e.detail);
      else setNotice(noticeOf(e));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!f || !window.confirm(`Delete flow "${f.flowName}" (#${f.flowId})? It can no longer be started and its schedule stops; running instances go on.`)) return;
    setBusy(true);
    setNotice(null);
    try {
      await del(`/flow/${f.flowId}`);
      setFlash({ ok: true, text: `Deleted flow "${f.flowName}" (#${f.flowId}).` });
      navigate('/ui/flows');
    } catch (e) {
      setNotice(noticeOf(e));
    } finally {
      setBusy(false);
    }
  };

  const latest = current.data ?? f?.flowVersion ?? 1;
  return html`<section>
    <p class="crumbs"><a href="/ui/flows">Flows</a> ›</p>
    <${ErrorBox} error=${flow.error} what="Could not load the flow" />
    ${!f ? html`<${Loading} loading=${flow.loading} />` : html`
      <header class="page-head">
        <h1>${f.flowName} <span class="muted">#${f.flowId}</span></h1>
        <div class="actions">
          <a class="button" href=${`/ui/flows/${f.flowId}/edit`}>Edit</a>
          <label class="inline" for="start-priority">Priority</label>
          <select id="start-priority" value=${priority} onChange=${(e: Event) => setPriority((e.target as HTMLSelectElement).value)} title="Among due tasks, a higher priority's are run first">
            ${Array.from({ length: 10 }, (_, p) => html`<option value=${String(p)}>${p}${p === 0 ? ' (default)' : p === 9 ? ' (highest)' : ''}</option>`)}
          </select>
          <button class="danger" onClick=${remove} disabled=${busy}>Delete</button>
          <button class="primary" onClick=${start} disabled=${busy}>Start</button>
        </div>
      </header>
      ${f.flowDescription ? html`<p>${f.flowDescription}</p>` : null}
      <div class="row">
        <div class="field inline">
          <label for="version">Version</label>
          <select id="version" value=${String(f.flowVersion)} onChange=${(e: Event) => navigate(withQuery(`/ui/flows/${flowId}`, { version: (e.target as HTMLSelectElement).value }), true)}>
            ${Array.from({ length: latest }, (_, i) => latest - i).map((v) => html`<option value=${String(v)}>${v}${v === latest ? ' (current)' : ''}</option>`)}
          </select>
        </div>
        <p class="muted">${f.timeoutMs ? `times out after ${f.timeoutMs} ms · ` : ''}${f.maxActiveInstances ? `at most ${f.maxActiveInstances} running (beyond: ${f.overflow ?? 'QUEUE'}) · ` : ''}updated ${f.updateTime}${version && version !== latest ? ' · a start runs the current version' : ''}</p>
      </div>
      <div class="row"><strong>Schedule</strong> ${f.cron ? html`<${CronSwitch} flow=${f} onChanged=${() => flow.reload()} />` : html`<span class="muted">none (add a cron in <a href=${`/ui/flows/${f.flowId}/edit`}>Edit</a>)</span>`}</div>
      <details class="start-input">
        <summary>Start with an input (JSON)</summary>
        <div class=${`field ${inputError ? 'has-error' : ''}`}>
          <label for="start-input">Flow-instance input</label>
          <textarea id="start-input" rows="3" placeholder='{"key": "value"}' aria-describedby=${inputError ? 'start-input-error' : undefined} value=${input} onInput=${(e: Event) => setInput((e.target as HTMLTextAreaElement).value)}></textarea>
          ${inputError ? html`<span class="field-error" id="start-input-error" role="alert">${inputError}</span>` : null}
          <span class="hint">A JSON object, sent as {"input": …} when not empty. Tasks read it through templates such as <code>${'${input.name}'}</code>.</span>
        </div>
      </details>
      <${NoticeLine} notice=${notice} />
      <h2>Graph</h2>
      <${FlowGraph} nodes=${f.flowNodes ?? []} label=${`Nodes of ${f.flowName}, version ${f.flowVersion}; the list below says which node follows which`} />
      <h2>Nodes</h2>
      <${NodeList} nodes=${f.flowNodes ?? []} />
      <${Extras} obj=${f as unknown as Record<string, unknown>} known=${KNOWN} />
      <h2>Latest instances</h2>
      <${ErrorBox} error=${recent.error} />
      ${recent.data ? html`<${InstanceTable} rows=${recent.data} showFlow=${false} />` : html`<${Loading} loading=${recent.loading} />`}
      <p><a href=${withQuery('/ui/instances', { flowId })}>All instances of this flow</a></p>
    `}
  </section>`;
}

/** The nodes in words (what the graph draws): key, tasks, completion and, on a graph, what each follows. */
function NodeList({ nodes }: { nodes: FlowNode[] }) {
  const name = new Map(nodes.map((n) => [n.nodeId, nodeKeyAt(nodes, n)]));
  return html`<ol class="nodes" data-testid="node-list">
    ${nodes.map((n) => html`<li key=${n.nodeId} data-node-id=${n.nodeId}>
      <strong>${name.get(n.nodeId)}</strong> <span class="muted small">${n.nodeType === 'TASK' ? `node #${n.nodeId}` : n.nodeType === 'START' || n.nodeType === 'END' ? `#${n.nodeId}` : `${n.nodeType} #${n.nodeId}`}</span>${n.prevNodes?.length ? html`, <span class="after">after ${n.prevNodes.map((p) => name.get(p) ?? `#${p}`).join(', ')}</span>` : null}
      ${n.nodeType === 'TASK' ? html`: ${(n.tasks ?? []).map((t, i) => html`${i ? ', ' : ''}<a href=${`/ui/tasks/${t.taskId}`}>${t.taskName}</a> <span class="muted">(${t.taskType})</span>`)} — ${completionText(n.completion)}` : null}
      ${controlLines(n).length ? html` <span class="muted" data-testid="node-control">· ${controlLines(n).map((l) => l.text).join(' · ')}</span>` : null}
      ${n.nodeType === 'SUB_FLOW' && n.flowId ? html` <a href=${`/ui/flows/${n.flowId}${n.flowVersion ? `?version=${n.flowVersion}` : ''}`}>open flow #${n.flowId}</a>` : null}
    </li>`)}
  </ol>`;
}
