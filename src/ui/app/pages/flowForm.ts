// /ui/flows/new and /ui/flows/{flowId}/edit: a flow in a form — name, description, schedule, and its
// TASK nodes between START and END, each with its tasks (picked from the task list) and completion
// rule, plus an optional key and predecessors ("after", node keys) for flows as graphs, sent only when
// filled. Saved through POST /flow (an edit saves a new version); a 400 is shown next to the field it
// names. A graph flow loaded for editing answers its predecessors as node ids: they are written back
// as keys, and START (which the form does not show as a node) as the word START.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, getAll, post } from '../api.js';
import { ErrorBox, Field, FieldError, Loading, NoticeLine, noticeOf, setFlash, useLoad, useTitle, type Notice } from '../components/common.js';
import { navigate } from '../router.js';
import type { Flow, FlowNode, Task } from '../types.js';
import { ControlFields, CONTROL_FIELDS } from './flowFormControl.js';
import type { NodeDraft } from './flowDraft.js';

export interface Draft {
  /** START's own key, when the flow gave it one (the default is n0, its position). */
  startKey: string | null;
  flowName: string;
  flowDescription: string;
  cron: string;
  cronEnabled: boolean;
  nodes: NodeDraft[];
  /** Flow control (issue 18), as typed: empty = none. */
  timeoutMs?: string;
  maxActiveInstances?: string;
  overflow?: string;
}

let uids = 0;
const newNode = (type: NodeDraft['type'] = 'TASK'): NodeDraft => ({
  uid: ++uids, type, taskIds: [], completion: 'ANY', n: '1', key: '', after: '', pick: '',
  when: '', forEach: '', maxParallel: '', subFlowId: '', subFlowVersion: '', input: '', timeoutMs: '', onTimeout: 'FAIL',
});

/** What "after" says for START. */
export const START_WORD = 'START';
const defaultKey = (position: number) => `n${position}`;

export function draftOf(f: Flow): Draft {
  const all = f.flowNodes ?? [];
  const start = all.find((n) => n.nodeType === 'START');
  // The answer's prevNodes are node ids; the form (and POST /flow) speaks keys.
  const keyOf = new Map(all.filter((n) => n.nodeKey).map((n) => [n.nodeId, n.nodeKey!]));
  if (start) keyOf.set(start.nodeId, START_WORD);
  const nodes = all
    .filter((n) => n.nodeType !== 'START' && n.nodeType !== 'END')
    .map((n: FlowNode): NodeDraft => ({
      ...newNode(n.nodeType as NodeDraft['type']),
      when: n.when ?? '',
      forEach: n.forEach ?? '',
      maxParallel: n.maxParallel !== undefined ? String(n.maxParallel) : '',
      subFlowId: n.flowId !== undefined ? String(n.flowId) : '',
      subFlowVersion: n.flowVersion !== undefined ? String(n.flowVersion) : '',
      input: n.input !== undefined ? JSON.stringify(n.input) : '',
      timeoutMs: n.timeoutMs !== undefined ? String(n.timeoutMs) : '',
      onTimeout: n.onTimeout ?? 'FAIL',
      taskIds: (n.tasks ?? []).map((t) => t.taskId),
      completion: typeof n.completion === 'number' ? 'N' : n.completion === 'ALL' ? 'ALL' : 'ANY',
      n: typeof n.completion === 'number' ? String(n.completion) : '1',
      key: n.nodeKey ?? '',
      // A graph flow answers every node's key, so every id has one; `#id` would be refused, visibly.
      after: (n.prevNodes ?? []).map((p) => keyOf.get(p) ?? `#${p}`).join(', '),
    }));
  const startKey = start?.nodeKey && start.nodeKey !== defaultKey(0) ? start.nodeKey : null;
  return {
    startKey, flowName: f.flowName, flowDescription: f.flowDescription ?? '', cron: f.cron ?? '', cronEnabled: Boolean(f.cronEnabled), nodes,
    timeoutMs: f.timeoutMs != null ? String(f.timeoutMs) : '', maxActiveInstances: f.maxActiveInstances != null ? String(f.maxActiveInstances) : '', overflow: f.overflow ?? 'QUEUE',
  };
}

/** The keys a node's "after" names, START written as its key (unless a TASK node took that word). */
function afterKeys(d: Draft, after: string): string[] {
  const startTaken = d.nodes.some((n) => n.key.trim() === START_WORD);
  return after
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map((k) => (k === START_WORD && !startTaken ? (d.startKey ?? defaultKey(0)) : k));
}

export function bodyOf(d: Draft, flowId: number | null): Record<string, unknown> {
  const flowNodes = [
    d.startKey ? { nodeType: 'START', nodeKey: d.startKey } : { nodeType: 'START' },
    ...d.nodes.map((n) => {
      const node: Record<string, unknown> = { nodeType: n.type };
      // Numbers typed as digits are sent as numbers; anything else as typed, for the API to name.
      const num = (v: string) => (/^\d+$/.test(v.trim()) ? Number(v.trim()) : v.trim());
      if (n.type === 'TASK') {
        node.taskIds = n.taskIds;
        node.completion = n.completion === 'N' ? num(n.n) : n.completion;
        if (n.forEach.trim()) node.forEach = n.forEach.trim();
        if (n.maxParallel.trim()) node.maxParallel = num(n.maxParallel);
      } else if (n.type === 'SIGNAL') {
        if (n.timeoutMs.trim()) node.timeoutMs = num(n.timeoutMs);
        node.onTimeout = n.onTimeout;
      } else {
        node.flowId = num(n.subFlowId);
        if (n.subFlowVersion.trim()) node.flowVersion = num(n.subFlowVersion);
        if (n.input.trim()) {
          try {
            node.input = JSON.parse(n.input);
          } catch {
            node.input = n.input; // the API answers "must be a JSON object", next to the field
          }
        }
      }
      if (n.when.trim()) node.when = n.when.trim();
      if (n.key.trim()) node.nodeKey = n.key.trim();
      if (n.after.trim()) node.prevNodes = afterKeys(d, n.after);
      return node;
    }),
    { nodeType: 'END' },
  ];
  const body: Record<string, unknown> = {
    flowName: d.flowName,
    flowDescription: d.flowDescription.trim() ? d.flowDescription : null,
    cron: d.cron.trim() || null,
    cronEnabled: d.cronEnabled,
    flowNodes,
  };
  // Flow control: a whole number is sent as one, anything else as typed (the server's 400 names it).
  const num = (v: string | undefined) => (!v?.trim() ? null : /^\d+$/.test(v.trim()) ? Number(v.trim()) : v.trim());
  body.timeoutMs = num(d.timeoutMs);
  body.maxActiveInstances = num(d.maxActiveInstances);
  body.overflow = body.maxActiveInstances === null ? null : (d.overflow || 'QUEUE');
  if (flowId) body.flowId = flowId;
  return body;
}

export function FlowForm({ flowId }: { flowId: number | null }) {
  useTitle(flowId ? `Edit flow ${flowId}` : 'New flow');
  const loaded = useLoad(async () => {
    const [tasks, flow] = await Promise.all([getAll<Task>('/task'), flowId ? get<Flow>(`/flow/${flowId}`).then((a) => a.data) : Promise.resolve(null)]);
    return { tasks, flow };
  }, [flowId]);
  const [d, setD] = useState<Draft>(() => ({ startKey: null, flowName: '', flowDescription: '', cron: '', cronEnabled: false, nodes: [newNode()] }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState(false);
  // An existing flow's form is drawn only once the flow is in it: drawn empty first, a keystroke made
  // before the flow arrived would be replaced by it.
  const [filled, setFilled] = useState(false);
  useEffect(() => {
    if (!loaded.data?.flow) return;
    setD(draftOf(loaded.data.flow));
    setFilled(true);
  }, [loaded.data]);

  if (!loaded.data || (flowId && !filled)) return html`<section><p class="crumbs"><a href="/ui/flows">Flows</a> ›</p><${ErrorBox} error=${loaded.error} what="Could not load the form" /><${Loading} loading=${loaded.loading} /></section>`;
  const tasks = loaded.data.tasks;
  const taskById = new Map(tasks.map((t) => [t.taskId, t]));

  const set = (k: 'flowName' | 'flowDescription' | 'cron' | 'timeoutMs' | 'maxActiveInstances' | 'overflow') => (e: Event) => setD({ ...d, [k]: (e.target as HTMLInputElement).value });
  const setNode = (i: number, patch: Partial<NodeDraft>) => setD({ ...d, nodes: d.nodes.map((n, j) => (j === i ? { ...n, ...patch } : n)) });
  const move = (i: number, by: number) => {
    const nodes = [...d.nodes];
    const [n] = nodes.splice(i, 1);
    nodes.splice(i + by, 0, n!);
    setD({ ...d, nodes });
  };
  const err = (path: string) => errors[path];
  const described = (id: string, path: string) => (errors[path] ? `${id}-error` : undefined);

  const save = async (e: Event) => {
    e.preventDefault();
    setNotice(null);
    setErrors({});
    setBusy(true);
    try {
      const a = await post<Flow>('/flow', bodyOf(d, flowId));
      setFlash({ ok: true, text: `${a.status} ${a.message}: saved flow ${a.data.flowId} version ${a.data.flowVersion}` });
      navigate(`/ui/flows/${a.data.flowId}`);
    } catch (x) {
      if (x instanceof ApiError && x.status === 400 && x.field) setErrors({ [x.field]: x.detail });
      setNotice(noticeOf(x));
    } finally {
      setBusy(false);
    }
  };

  // Errors the form has no field for (e.g. about START or END) are shown above the nodes.
  const shown = (path: string) => ['flowName', 'flowDescription', 'cron', 'cronEnabled', 'timeoutMs', 'maxActiveInstances', 'overflow'].includes(path) || d.nodes.some((_, i) => path.startsWith(`flowNodes[${i + 1}].`));
  const loose = Object.entries(errors).filter(([k]) => !shown(k));

  return html`<section>
    <p class="crumbs"><a href="/ui/flows">Flows</a> ›${flowId ? html` <a href=${`/ui/flows/${flowId}`}>${loaded.data.flow?.flowName}</a> ›` : null}</p>
    <h1>${flowId ? `Edit flow ${flowId}` : 'New flow'}</h1>
    ${flowId ? html`<p class="muted">Saving makes version ${(loaded.data.flow?.flowVersion ?? 0) + 1}; running instances keep the version they started with.</p>` : null}
    <form class="form" onSubmit=${save} novalidate data-testid="flow-form">
      <${Field} id="flowName" label="Name" error=${err('flowName')}>
        <input id="flowName" value=${d.flowName} onInput=${set('flowName')} aria-describedby=${described('flowName', 'flowName')} />
      </${Field}>
      <${Field} id="flowDescription" label="Description (optional)" error=${err('flowDescription')}>
        <input id="flowDescription" value=${d.flowDescription} onInput=${set('flowDescription')} />
      </${Field}>
      <div class="row">
        <${Field} id="cron" label="Cron (optional)" hint="node-cron syntax, seconds allowed: */30 * * * * *" error=${err('cron')}>
          <input id="cron" value=${d.cron} onInput=${set('cron')} aria-describedby=${described('cron', 'cron')} />
        </${Field}>
        <div class=${`field check ${err('cronEnabled') ? 'has-error' : ''}`}>
          <label><input id="cronEnabled" type="checkbox" checked=${d.cronEnabled} onChange=${(e: Event) => setD({ ...d, cronEnabled: (e.target as HTMLInputElement).checked })} /> Schedule on</label>
          <span class="hint">Off (the default), a cron does nothing; pause or resume it later from the flow list</span>
          <${FieldError} id="cronEnabled" error=${err('cronEnabled')} />
        </div>
      </div>
      <div class="row">
        <${Field} id="timeoutMs" label="Timeout (ms, optional)" hint="An instance still running this long after it started is FAILED (1000-604800000)." error=${err('timeoutMs')}>
          <input id="timeoutMs" inputmode="numeric" value=${d.timeoutMs ?? ''} onInput=${set('timeoutMs')} aria-describedby=${described('timeoutMs', 'timeoutMs')} />
        </${Field}>
        <${Field} id="maxActiveInstances" label="Max active instances (optional)" hint="Most instances running at once (1-10000)." error=${err('maxActiveInstances')}>
          <input id="maxActiveInstances" inputmode="numeric" value=${d.maxActiveInstances ?? ''} onInput=${set('maxActiveInstances')} aria-describedby=${described('maxActiveInstances', 'maxActiveInstances')} />
        </${Field}>
        <${Field} id="overflow" label="Beyond that" error=${err('overflow')}>
          <select id="overflow" value=${d.overflow ?? 'QUEUE'} onChange=${set('overflow')}>
            <option value="QUEUE">QUEUE: start later, oldest first</option>
            <option value="SKIP">SKIP: refuse the start (409)</option>
          </select>
        </${Field}>
      </div>

      <fieldset class="flow-nodes">
        <legend>Nodes</legend>
        <p class="hint" id="nodes-help">
          <strong>Key</strong>: the node's name in <em>After</em> and in templates (<code>${'${nodes.<key>.output}'}</code>); by default <code>n</code> and its position.${' '}
          <strong>After</strong>: the keys of the nodes it follows, comma-separated (<code>${START_WORD}</code> for the start); it starts once all of them have succeeded.${' '}
          Leave every <em>After</em> empty for a chain in list order; once a node names what it follows, a node with none follows START, and END follows every node that nothing follows.
        </p>
        ${loose.map(([k, v]) => html`<p class="field-error" role="alert">${k}: ${v}</p>`)}
        ${tasks.length === 0 ? html`<p class="notice bad" data-testid="no-tasks">There are no tasks to put in a node yet: <a href="/ui/tasks/new">create a task</a> first, then come back to this form.</p>` : null}
        <p class="node-fixed">START</p>
        <ol class="node-list">
          ${d.nodes.map((n, i) => {
            const at = `flowNodes[${i + 1}]`;
            const id = `node-${i + 1}`;
            return html`<li key=${n.uid}>
              <fieldset class="node" data-testid=${id}>
                <legend>${n.type} node ${i + 1}</legend>
                <div class="field inline">
                  <label for=${`${id}-type`}>Type</label>
                  <select id=${`${id}-type`} value=${n.type} onChange=${(e: Event) => setNode(i, { type: (e.target as HTMLSelectElement).value as NodeDraft['type'] })}>
                    <option value="TASK">TASK: runs its tasks</option>
                    <option value="SIGNAL">SIGNAL: waits for a signal</option>
                    <option value="SUB_FLOW">SUB_FLOW: runs another flow</option>
                  </select>
                </div>
                ${n.type === 'TASK' ? html`<div class=${`field ${err(`${at}.taskIds`) ? 'has-error' : ''}`}>
                  <span class="label" id=${`${id}-tasks-label`}>Tasks</span>
                  <ul class="chips" aria-labelledby=${`${id}-tasks-label`}>
                    ${n.taskIds.length === 0 ? html`<li class="muted">none yet</li>` : null}
                    ${n.taskIds.map((tid, k) => {
                      const t = taskById.get(tid);
                      const name = t ? `${t.taskName} (${t.taskType})` : `task ${tid}`;
                      return html`<li class="chip">${name} <button type="button" class="icon" aria-label=${`Remove ${name} from node ${i + 1}`} onClick=${() => setNode(i, { taskIds: n.taskIds.filter((_, m) => m !== k) })}>×</button></li>`;
                    })}
                  </ul>
                  <div class="row">
                    <label class="sr-only" for=${`${id}-pick`}>Task to add to node ${i + 1}</label>
                    <select id=${`${id}-pick`} value=${n.pick} onChange=${(e: Event) => setNode(i, { pick: (e.target as HTMLSelectElement).value })} aria-describedby=${described(`${id}-tasks`, `${at}.taskIds`)}>
                      <option value="">Choose a task…</option>
                      ${tasks.map((t) => html`<option value=${String(t.taskId)}>${t.taskName} (${t.taskType}, #${t.taskId})</option>`)}
                    </select>
                    <button type="button" disabled=${!n.pick} onClick=${() => setNode(i, { taskIds: [...n.taskIds, Number(n.pick)], pick: '' })}>Add task</button>
                  </div>
                  <${FieldError} id=${`${id}-tasks`} error=${err(`${at}.taskIds`)} />
                </div>` : null}
                <div class="row">
                  ${n.type === 'TASK' ? html`<div class=${`field inline ${err(`${at}.completion`) ? 'has-error' : ''}`}>
                    <label for=${`${id}-completion`}>Completion</label>
                    <select id=${`${id}-completion`} value=${n.completion} onChange=${(e: Event) => setNode(i, { completion: (e.target as HTMLSelectElement).value as NodeDraft['completion'] })} aria-describedby=${described(`${id}-completion`, `${at}.completion`)}>
                      <option value="ANY">ANY: one success is enough</option>
                      <option value="ALL">ALL: every task must succeed</option>
                      <option value="N">At least N successes</option>
                    </select>
                    ${n.completion === 'N' ? html`<label class="sr-only" for=${`${id}-n`}>N</label><input id=${`${id}-n`} class="short" inputmode="numeric" value=${n.n} onInput=${(e: Event) => setNode(i, { n: (e.target as HTMLInputElement).value })} />` : null}
                    <${FieldError} id=${`${id}-completion`} error=${err(`${at}.completion`)} />
                  </div>` : null}
                  <div class=${`field inline ${err(`${at}.nodeKey`) ? 'has-error' : ''}`}>
                    <label for=${`${id}-key`}>Key (optional)</label>
                    <input id=${`${id}-key`} class="short" value=${n.key} placeholder=${defaultKey(i + 1)} aria-describedby=${['nodes-help', described(`${id}-key`, `${at}.nodeKey`)].filter(Boolean).join(' ')} onInput=${(e: Event) => setNode(i, { key: (e.target as HTMLInputElement).value })} />
                    <${FieldError} id=${`${id}-key`} error=${err(`${at}.nodeKey`)} />
                  </div>
                  <div class=${`field inline ${err(`${at}.prevNodes`) ? 'has-error' : ''}`}>
                    <label for=${`${id}-after`}>After (keys, optional)</label>
                    <input id=${`${id}-after`} value=${n.after} placeholder="e.g. a, b" aria-describedby=${['nodes-help', described(`${id}-after`, `${at}.prevNodes`)].filter(Boolean).join(' ')} onInput=${(e: Event) => setNode(i, { after: (e.target as HTMLInputElement).value })} />
                    <${FieldError} id=${`${id}-after`} error=${err(`${at}.prevNodes`)} />
                  </div>
                </div>
                <${ControlFields} n=${n} id=${id} at=${at} err=${err} set=${(patch: Partial<NodeDraft>) => setNode(i, patch)} />
                ${Object.entries(errors).filter(([k]) => k.startsWith(`${at}.`) && !['taskIds', 'completion', 'nodeKey', 'prevNodes', ...CONTROL_FIELDS].some((f) => k === `${at}.${f}`)).map(([k, v]) => html`<p class="field-error" role="alert">${k}: ${v}</p>`)}
                <div class="actions">
                  <button type="button" disabled=${i === 0} onClick=${() => move(i, -1)} aria-label=${`Move node ${i + 1} up`}>↑ Up</button>
                  <button type="button" disabled=${i === d.nodes.length - 1} onClick=${() => move(i, 1)} aria-label=${`Move node ${i + 1} down`}>↓ Down</button>
                  <button type="button" class="danger" disabled=${d.nodes.length === 1} onClick=${() => setD({ ...d, nodes: d.nodes.filter((_, j) => j !== i) })} aria-label=${`Remove node ${i + 1}`}>Remove</button>
                </div>
              </fieldset>
            </li>`;
          })}
        </ol>
        <button type="button" onClick=${() => setD({ ...d, nodes: [...d.nodes, newNode()] })}>Add TASK node</button>
        <button type="button" onClick=${() => setD({ ...d, nodes: [...d.nodes, newNode('SIGNAL')] })}>Add SIGNAL node</button>
        <button type="button" onClick=${() => setD({ ...d, nodes: [...d.nodes, newNode('SUB_FLOW')] })}>Add SUB_FLOW node</button>
        <p class="node-fixed">END</p>
      </fieldset>
      <${NoticeLine} notice=${notice} />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${flowId ? 'Save new version' : 'Create flow'}</button>
        <a class="button" href=${flowId ? `/ui/flows/${flowId}` : '/ui/flows'}>Cancel</a>
      </div>
    </form>
  </section>`;
}
