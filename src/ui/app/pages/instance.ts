// /ui/instances/{fiId}: one flow instance — its input and result, its graph coloured by node status,
// the timeline of its task instances, and each node instance's task instances (status, attempt, times,
// worker, error, output, and what the task ran once its templates were filled in). Cancel while
// RUNNING; "retry from this node" on a FAILED/CANCELLED node of a FAILED or CANCELLED instance, its
// answer (a 409 naming the node to retry from instead) shown at that node. Live: any event of this
// instance refetches it.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, post } from '../api.js';
import { ErrorBox, Extras, LongText, Loading, NoticeLine, noticeOf, Status, useLoad, useTitle, type Notice } from '../components/common.js';
import { FlowGraph, nodeKeyAt } from '../components/graph.js';
import { Gantt, retriesOf, rowsOf } from '../components/gantt.js';
import { useLiveRefresh } from '../live.js';
import { between, duration } from '../format.js';
import type { Flow, FlowIns, FlowNode, NodeIns, Task, TaskIns } from '../types.js';
import { NodeInsControl, ParentLink } from '../components/controlFlow.js';

const FI_KNOWN = ['fiId', 'flowId', 'flowName', 'startTime', 'endTime', 'status', 'errorMsg', 'createTime', 'updateTime', 'flowVersion', 'trigger', 'scheduledTime', 'input', 'result', 'failedNode', 'parentFiId'];
const NI_KNOWN = ['niId', 'fiId', 'startTime', 'endTime', 'status', 'errorMsg', 'createTime', 'updateTime', 'nodeId', 'nodeType', 'nodeKey', 'tasks', 'startMs', 'endMs', 'childFiId', 'itemCount', 'output'];
const TI_KNOWN = ['tiId', 'taskId', 'status', 'attempt', 'startTime', 'endTime', 'errorMsg', 'output', 'workerId', 'startMs', 'endMs', 'renderedContent', 'renderedConfig'];

interface View {
  fi: FlowIns;
  nis: NodeIns[];
  flow: Flow | null;
}

async function loadView(fiId: number): Promise<View> {
  const [list, detail] = await Promise.all([post<FlowIns[]>('/monitor/flow', { fiId }), post<NodeIns[]>(`/monitor/flow/detail/${fiId}`)]);
  const fi = list.data[0];
  if (!fi) throw new ApiError(404, `flow instance ${fiId} does not exist`);
  let flow: Flow | null = null;
  try {
    flow = (await get<Flow>(`/flow/${fi.flowId}?version=${fi.flowVersion}`)).data;
  } catch {
    flow = null; // deleted flow: the graph is drawn from the node instances
  }
  return { fi, nis: detail.data, flow };
}

/** The graph's nodes: the flow version's, or (flow deleted) a chain made of the node instances. */
function graphNodes(v: View): FlowNode[] {
  if (v.flow?.flowNodes?.length) return v.flow.flowNodes;
  const seen = new Map<number, FlowNode>();
  for (const ni of v.nis) if (!seen.has(ni.nodeId)) seen.set(ni.nodeId, { nodeId: ni.nodeId, nodeType: ni.nodeType as FlowNode['nodeType'], ...(ni.nodeKey ? { nodeKey: ni.nodeKey } : {}) });
  return [...seen.values()];
}

/** "cancelled by alice" (the API's words) as a sentence a reader expects, with when. */
export function cancelText(fi: FlowIns): string {
  const m = /^cancelled by (.+)$/.exec(fi.errorMsg);
  if (fi.status !== 'CANCELLED' || !m) return fi.errorMsg;
  return `Cancelled by ${m[1]}${fi.endTime ? ` at ${fi.endTime}` : ''}.`;
}

export function InstancePage({ fiId }: { fiId: number }) {
  const view = useLoad(() => loadView(fiId), [fiId]);
  useLiveRefresh({ fiId }, view.reload);
  const v = view.data;
  useTitle(v ? `Instance ${fiId} · ${v.fi.flowName ?? `flow ${v.fi.flowId}`}` : `Instance ${fiId}`);
  // The answer to the last action; a retry's is shown at the node instance it was about.
  const [notice, setNotice] = useState<(Notice & { niId?: number }) | null>(null);
  const [busy, setBusy] = useState(false);

  // Running bars and durations grow while the instance runs.
  const [now, setNow] = useState(Date.now());
  const running = v?.fi.status === 'RUNNING';
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [running]);

  const act = async (question: string, doIt: () => Promise<unknown>, done: string, niId?: number) => {
    if (!window.confirm(question)) return;
    setBusy(true);
    setNotice(null);
    try {
      await doIt();
      setNotice({ ok: true, text: done, niId });
      await view.reload();
    } catch (e) {
      setNotice({ ...noticeOf(e), niId });
    } finally {
      setBusy(false);
    }
  };
  const cancel = () =>
    act(`Cancel instance ${fiId}? Queued tasks are dropped and running ones aborted.`, () => post(`/exec/flow-ins/${fiId}/cancel`), `Cancelled instance ${fiId}: its queued tasks were dropped and running ones told to stop.`);
  const retry = (ni: NodeIns) =>
    act(
      `Retry instance ${fiId} from node ${nodeName(ni)}? It runs again from there with the tasks' current definitions.`,
      () => post(`/exec/flow/${v!.fi.flowId}`, { fiId, niId: ni.niId }),
      `Retrying instance ${fiId} from node ${nodeName(ni)}.`,
      ni.niId,
    );
  // Nodes are named by key (the flow version's, else the one the detail carries); ids are secondary.
  const flowNodes = v?.flow?.flowNodes ?? [];
  const keyOf = new Map(flowNodes.map((n) => [n.nodeId, nodeKeyAt(flowNodes, n)]));
  const nodeName = (ni: NodeIns) => keyOf.get(ni.nodeId) ?? ni.nodeKey ?? (ni.nodeType === 'TASK' ? `node #${ni.nodeId}` : ni.nodeType);

  // WORKER tasks' configs (their queue and input), for the rows of their task instances.
  const workerTaskIds = [...new Set((v?.flow?.flowNodes ?? []).flatMap((n) => (n.tasks ?? []).filter((t) => t.taskType === 'WORKER').map((t) => t.taskId)))].join(',');
  const [taskConfigs, setTaskConfigs] = useState<Record<number, Record<string, unknown>>>({});
  useEffect(() => {
    if (!workerTaskIds) return;
    let stop = false;
    void Promise.all(workerTaskIds.split(',').map((id) => get<Task>(`/task/${id}`).then((a) => [Number(id), a.data.taskConfig ?? {}] as const).catch(() => null)))
      .then((list) => {
        if (!stop) setTaskConfigs(Object.fromEntries(list.filter((x) => x !== null)));
      });
    return () => {
      stop = true;
    };
  }, [workerTaskIds]);

  if (!v) return html`<section><p class="crumbs"><a href="/ui/instances">Instances</a> ›</p><${ErrorBox} error=${view.error} what="Could not load the instance" /><${Loading} loading=${view.loading} /></section>`;

  const taskNames = new Map<number, string>();
  for (const n of v.flow?.flowNodes ?? []) for (const t of n.tasks ?? []) taskNames.set(t.taskId, t.taskName ?? `task ${t.taskId}`);
  const taskName = (id: number) => taskNames.get(id) ?? `task ${id}`;
  const workerConfigs = new Map<number, Record<string, unknown>>();
  for (const n of v.flow?.flowNodes ?? []) for (const t of n.tasks ?? []) if (t.taskType === 'WORKER') workerConfigs.set(t.taskId, taskConfigs[t.taskId] ?? {});
  // The latest node instance of each node decides its colour (a retry makes a new one).
  const nodeStatus = new Map<number, string>();
  for (const ni of v.nis) nodeStatus.set(ni.nodeId, ni.status);
  const ended = v.fi.status === 'FAILED' || v.fi.status === 'CANCELLED';
  const retries = retriesOf(v.nis);
  const fi = v.fi;

  return html`<section>
    <p class="crumbs"><a href="/ui/instances">Instances</a> › <a href=${`/ui/flows/${fi.flowId}`}>${fi.flowName ?? `flow ${fi.flowId}`}</a> ›</p>
    <header class="page-head">
      <h1>Instance ${fiId} <span class="muted">· ${fi.flowName ?? `flow ${fi.flowId}`}</span></h1>
      <div class="actions">
        <${Status} status=${fi.status} testid="fi-status" />
        ${running ? html`<button class="danger" onClick=${cancel} disabled=${busy}>Cancel</button>` : null}
      </div>
    </header>
    <${ErrorBox} error=${view.error} what="Could not refresh" />
    <dl class="meta">
      <div><dt>Flow</dt><dd><a href=${`/ui/flows/${fi.flowId}?version=${fi.flowVersion}`}>#${fi.flowId}, version ${fi.flowVersion}</a></dd></div>
      <div><dt>Started</dt><dd>${fi.startTime}</dd></div>
      <div><dt>Ended</dt><dd>${fi.endTime ?? '—'}</dd></div>
      <div><dt>Took</dt><dd>${fi.endTime ? duration(between(fi.startTime, fi.endTime)) : 'running'}</dd></div>
      ${fi.trigger ? html`<div><dt>Trigger</dt><dd>${fi.trigger}${fi.scheduledTime ? ` (${fi.scheduledTime})` : ''}</dd></div>` : null}
      <${ParentLink} parentFiId=${fi.parentFiId} />
      ${fi.failedNode ? html`<div><dt>Failed at</dt><dd data-testid="fi-failed-at"><a href=${`#ni-${fi.failedNode.niId}`}>${keyOf.get(fi.failedNode.nodeId) ?? fi.failedNode.nodeKey ?? `node #${fi.failedNode.nodeId}`}</a></dd></div>` : null}
      ${fi.errorMsg ? html`<div><dt>${fi.status === 'CANCELLED' ? 'Cancelled' : 'Error'}</dt><dd class=${fi.status === 'CANCELLED' ? '' : 'error-text'} data-testid="fi-error">${cancelText(fi)}</dd></div>` : null}
    </dl>
    <${Extras} obj=${fi} known=${FI_KNOWN} />
    <${NoticeLine} notice=${notice?.niId === undefined ? notice : null} />

    <h2>Data</h2>
    <${FlowData} fi=${fi} />

    <h2>Graph</h2>
    <${FlowGraph} nodes=${graphNodes(v)} statusOf=${(id: number) => nodeStatus.get(id)} label=${`Nodes of instance ${fiId} with their status`} />

    <h2>Timeline</h2>
    <${Gantt} rows=${rowsOf(v.nis, taskName, nodeName)} now=${now} />

    <h2>Node instances</h2>
    ${v.nis.map((ni) => html`<article class="node-ins" id=${`ni-${ni.niId}`} key=${ni.niId} data-node-id=${ni.nodeId} data-ni-id=${ni.niId}>
      <header class="page-head">
        <h3><span class="node-name">${nodeName(ni)}</span>${retries.get(ni.niId) ? html` <span class="badge" data-testid="ni-retry">retry ${retries.get(ni.niId)}</span>` : null} <span class="muted small">${ni.nodeType === 'TASK' ? 'TASK ' : ''}node #${ni.nodeId} · node instance ${ni.niId}</span></h3>
        <div class="actions">
          <${Status} status=${ni.status} />
          ${ended && (ni.status === 'FAILED' || ni.status === 'CANCELLED')
            ? html`<button onClick=${() => retry(ni)} disabled=${busy}>Retry from this node</button>`
            : null}
        </div>
      </header>
      ${ended || notice?.niId === ni.niId ? html`<${NoticeLine} notice=${notice?.niId === ni.niId ? notice : null} testid="ni-notice" />` : null}
      <p class="muted small">${ni.startTime ?? ''}${ni.endTime ? ` → ${ni.endTime}` : ''}</p>
      ${ni.errorMsg ? html`<p class="error-text" data-testid="ni-error">${ni.errorMsg}</p>` : null}
      <${Extras} obj=${ni} known=${NI_KNOWN} />
      <${NodeInsControl} ni=${ni} fiId=${fiId} running=${running} onSent=${view.reload} />
      ${ni.tasks.length ? html`<${TaskInsTable} tasks=${ni.tasks} taskName=${taskName} now=${now} workerConfigs=${workerConfigs} />` : null}
    </article>`)}
  </section>`;
}

function TaskInsTable({ tasks, taskName, now, workerConfigs }: { tasks: TaskIns[]; taskName: (id: number) => string; now: number; workerConfigs: Map<number, Record<string, unknown>> }) {
  return html`<table class="list tasks-ins">
    <thead><tr><th scope="col">Task instance</th><th scope="col">Task</th><th scope="col">Status</th><th scope="col">Attempt</th><th scope="col">Started</th><th scope="col">Took</th><th scope="col">Worker</th><th scope="col">Error</th><th scope="col">Output</th></tr></thead>
    <tbody>
      ${tasks.map((t) => html`<tr key=${t.tiId} data-ti-id=${t.tiId}>
        <td>${t.tiId}</td>
        <td><a href=${`/ui/tasks/${t.taskId}`}>${taskName(t.taskId)}</a></td>
        <td><${Status} status=${t.status} /></td>
        <td>${t.attempt}</td>
        <td>${t.startTime ?? '—'}</td>
        <td>${typeof t.startMs === 'number' ? duration((t.endMs ?? now) - t.startMs) : ''}</td>
        <td class="wrap small">${t.workerId ?? ''}</td>
        <td class="wrap error-text">${t.errorMsg}</td>
        <td><${LongText} text=${t.output} />${html`<${Extras} obj=${t} known=${TI_KNOWN} />`}</td>
      </tr>
      ${workerConfigs.has(t.taskId) ? workerRow(t, workerConfigs.get(t.taskId)!) : ranWith(t)}`)}
    </tbody>
  </table>`;
}

/** The start's input and, once the instance succeeded, its result (the outputs END follows, by node key). */
function FlowData({ fi }: { fi: FlowIns }) {
  return html`<dl class="data">
    <div><dt>Input</dt><dd>${fi.input !== undefined ? html`<pre data-testid="fi-input">${JSON.stringify(fi.input, null, 2)}</pre>` : html`<span class="muted">none given</span>`}</dd></div>
    <div><dt>Result</dt><dd>${fi.result !== undefined
      ? html`<pre data-testid="fi-result">${JSON.stringify(fi.result, null, 2)}</pre>`
      : html`<span class="muted">${fi.status === 'SUCCESS' ? 'none' : 'once the instance has succeeded'}</span>`}</dd></div>
  </dl>`;
}

/** A row under a WORKER task instance: its queue and the input its worker was handed (the worker, attempt and output are in the row above). */
function workerRow(t: TaskIns, taskConfig: Record<string, unknown>) {
  const cfg = t.renderedConfig && Object.keys(t.renderedConfig).length ? t.renderedConfig : taskConfig;
  return html`<tr class="ran-with" data-worker-for=${t.tiId}>
    <td></td>
    <td colspan="8">
      <dl class="data">
        <div><dt>Queue</dt><dd data-testid="worker-queue"><code>${String(cfg.queue ?? '')}</code> <span class="muted small">(an external worker's task: the worker column is its workerId)</span></dd></div>
        <div><dt>Input</dt><dd data-testid="worker-input"><pre>${JSON.stringify(cfg.input ?? {}, null, 2)}</pre></dd></div>
        ${t.renderedContent !== undefined ? html`<div><dt>Content</dt><dd><${LongText} text=${t.renderedContent} max=${400} /></dd></div>` : null}
      </dl>
    </td>
  </tr>`;
}

/** A row under a task instance: what it ran once its templates were filled in, when they were. */
function ranWith(t: TaskIns) {
  const config = t.renderedConfig && Object.keys(t.renderedConfig).length ? t.renderedConfig : null;
  if (t.renderedContent === undefined && !config) return null;
  return html`<tr class="ran-with" data-rendered-for=${t.tiId}>
    <td></td>
    <td colspan="8">
      <dl class="data">
        ${t.renderedContent !== undefined ? html`<div><dt>Ran with content</dt><dd data-testid="rendered-content"><${LongText} text=${t.renderedContent} max=${400} /></dd></div>` : null}
        ${config ? html`<div><dt>Ran with config</dt><dd data-testid="rendered-config"><pre>${JSON.stringify(config, null, 2)}</pre></dd></div>` : null}
      </dl>
    </td>
  </tr>`;
}
