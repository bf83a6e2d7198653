// /ui/tasks/new and /ui/tasks/{taskId}: create or edit a task, with the taskConfig fields of its type
// (run policy for all; waitMs for WAIT; method, url, headers, body, idempotencyHeader for HTTP). Saved through
// POST /task; a 400 is shown next to the field it names.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, del, get, post } from '../api.js';
import { ErrorBox, Field, Loading, NoticeLine, noticeOf, setFlash, useLoad, useTitle, type Notice } from '../components/common.js';
import { navigate } from '../router.js';
import { TASK_TYPES, type Task, type TaskType } from '../types.js';

const CONTENT_LABEL: Record<TaskType, [string, string]> = {
  ECHO: ['Output', 'The text the task returns as its output.'],
  WAIT: ['Milliseconds to wait', 'Used when waitMs below is empty (default 1000).'],
  EXCEPTION: ['Error message', 'The task fails with this message.'],
  SHELL: ['Command', 'Run with /bin/sh -c; refused unless the server has SHELL_TASKS_ENABLED=true.'],
  HTTP: ['Content', 'Not used by HTTP tasks: see the request fields below.'],
  WORKER: ['Content', 'Handed to the external worker as `content` (templates filled in).'],
};

const NUMBERS: { key: string; label: string; hint: string; types?: TaskType[] }[] = [
  { key: 'waitMs', label: 'Wait (ms)', hint: 'How long the task waits.', types: ['WAIT'] },
  { key: 'leaseMs', label: 'Lease (ms)', hint: 'How long a worker may hold it without a heartbeat (default 30000).', types: ['WORKER'] },
  { key: 'timeoutMs', label: 'Timeout (ms)', hint: 'An attempt is aborted after this long (default 1 h).' },
  { key: 'maxRetries', label: 'Retries', hint: 'Attempts after the first when it fails (default 0).' },
  { key: 'retryBackoffMs', label: 'Retry back-off (ms)', hint: 'Before the next attempt, doubled each time (default 1000).' },
  { key: 'concurrencyLimit', label: 'Concurrency limit', hint: 'At most this many running at once, cluster-wide (1-10000; empty: no limit).' },
];
/** taskConfig.rateLimit {max, perMs}, edited as two fields. */
const RATE = [
  { key: 'max', label: 'Rate limit: starts', hint: 'At most this many starts per window, cluster-wide (1-10000; empty: no rate limit).' },
  { key: 'perMs', label: 'Rate limit: window (ms)', hint: 'The window (1-86400000), e.g. 1000 for "per second".' },
];
const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

interface Draft {
  taskName: string;
  taskType: TaskType;
  taskContent: string;
  taskDescription: string;
  cfg: Record<string, string>;
}

const empty: Draft = { taskName: '', taskType: 'ECHO', taskContent: '', taskDescription: '', cfg: {} };

function draftOf(t: Task): Draft {
  const c = t.taskConfig ?? {};
  const cfg: Record<string, string> = {};
  for (const [k, v] of Object.entries(c)) cfg[k] = typeof v === 'string' ? v : JSON.stringify(v);
  const rate = c.rateLimit as { max?: number; perMs?: number } | undefined;
  if (rate && typeof rate === 'object') for (const r of RATE) cfg[`rateLimit.${r.key}`] = String(rate[r.key as 'max' | 'perMs'] ?? '');
  return { taskName: t.taskName, taskType: t.taskType, taskContent: t.taskContent ?? '', taskDescription: t.taskDescription ?? '', cfg };
}

/** The taskConfig of the draft's type, or field errors found before sending. */
function configOf(d: Draft): { config: Record<string, unknown> | null; errors: Record<string, string> } {
  const out: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const n of NUMBERS) {
    if (n.types && !n.types.includes(d.taskType)) continue;
    const raw = (d.cfg[n.key] ?? '').trim();
    if (raw === '') continue;
    if (!/^\d+$/.test(raw)) errors[`taskConfig.${n.key}`] = 'must be a whole number';
    else out[n.key] = Number(raw);
  }
  if (d.taskType === 'WORKER') {
    out.queue = (d.cfg.queue ?? '').trim();
    const input = (d.cfg.input ?? '').trim();
    if (input) {
      try {
        out.input = JSON.parse(input);
      } catch {
        errors['taskConfig.input'] = 'must be JSON, e.g. {"url": "${input.url}"}';
      }
    }
  }
  const rate: Record<string, number> = {};
  for (const r of RATE) {
    const raw = (d.cfg[`rateLimit.${r.key}`] ?? '').trim();
    if (raw === '') continue;
    if (!/^\d+$/.test(raw)) errors[`taskConfig.rateLimit.${r.key}`] = 'must be a whole number';
    else rate[r.key] = Number(raw);
  }
  if (Object.keys(rate).length) out.rateLimit = rate; // one half left empty is the server's 400, naming it
  if (d.taskType === 'HTTP') {
    if (d.cfg.method) out.method = d.cfg.method;
    out.url = (d.cfg.url ?? '').trim();
    const headers = (d.cfg.headers ?? '').trim();
    if (headers) {
      try {
        out.headers = JSON.parse(headers);
      } catch {
        errors['taskConfig.headers'] = 'must be a JSON object like {"Accept": "text/plain"}';
      }
    }
    // Kept across an edit: a form without it would turn a task's idempotency key back on.
    const idem = (d.cfg.idempotencyHeader ?? '').trim();
    if (idem) out.idempotencyHeader = idem === 'false' ? false : idem;
    const body = d.cfg.body ?? '';
    if (body.trim()) {
      try {
        out.body = JSON.parse(body);
      } catch {
        out.body = body; // plain text is sent as it is
      }
    }
  }
  return { config: Object.keys(out).length ? out : null, errors };
}

export function TaskForm({ taskId }: { taskId: number | null }) {
  const loaded = useLoad(() => (taskId ? get<Task>(`/task/${taskId}`).then((a) => a.data) : Promise.resolve(null)), [taskId]);
  useTitle(taskId ? `Task ${taskId}${loaded.data ? ` · ${loaded.data.taskName}` : ''}` : 'New task');
  const [d, setD] = useState<Draft>(empty);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState(false);
  // The form is drawn only once the task is in it: drawn empty first, a keystroke made before the task
  // arrived would be replaced by it.
  const [filled, setFilled] = useState(false);
  useEffect(() => {
    if (!loaded.data) return;
    setD(draftOf(loaded.data));
    setFilled(true);
  }, [loaded.data]);

  const set = (k: keyof Omit<Draft, 'cfg'>) => (e: Event) => setD({ ...d, [k]: (e.target as HTMLInputElement).value });
  const setCfg = (k: string) => (e: Event) => setD({ ...d, cfg: { ...d.cfg, [k]: (e.target as HTMLInputElement).value } });
  const described = (id: string, key: string) => (errors[key] ? `${id}-error` : undefined);

  const save = async (e: Event) => {
    e.preventDefault();
    setNotice(null);
    const { config, errors: local } = configOf(d);
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    setErrors({});
    const body: Record<string, unknown> = { taskName: d.taskName, taskType: d.taskType, taskContent: d.taskContent === '' ? null : d.taskContent };
    if (d.taskDescription.trim()) body.taskDescription = d.taskDescription;
    else if (taskId) body.taskDescription = null;
    // On an edit the config is always sent: a stored one may not fit a new type.
    if (config || taskId) body.taskConfig = config;
    if (taskId) body.taskId = taskId;
    setBusy(true);
    try {
      const a = await post<Task>('/task', body);
      setFlash({ ok: true, text: `${a.status} ${a.message}: saved task ${a.data.taskId} (${a.data.taskName})` });
      navigate('/ui/tasks');
    } catch (err) {
      if (err instanceof ApiError && err.status === 400 && err.field) setErrors({ [err.field]: err.detail });
      setNotice(noticeOf(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!taskId || !window.confirm(`Delete task ${taskId} (${d.taskName})?`)) return;
    try {
      const a = await del(`/task/${taskId}`);
      setFlash({ ok: true, text: `${a.status} ${a.message}: deleted task ${taskId}` });
      navigate('/ui/tasks');
    } catch (err) {
      setNotice(noticeOf(err));
    }
  };

  if (taskId && (!loaded.data || !filled)) return html`<section><p class="crumbs"><a href="/ui/tasks">Tasks</a> ›</p><${ErrorBox} error=${loaded.error} what="Could not load the task" /><${Loading} loading=${loaded.loading} /></section>`;
  const [contentLabel, contentHint] = CONTENT_LABEL[d.taskType];
  const known = new Set(['taskName', 'taskType', 'taskContent', 'taskDescription', ...NUMBERS.map((n) => `taskConfig.${n.key}`), ...RATE.map((r) => `taskConfig.rateLimit.${r.key}`), 'taskConfig.method', 'taskConfig.url', 'taskConfig.headers', 'taskConfig.body', 'taskConfig.idempotencyHeader', 'taskConfig.queue', 'taskConfig.input']);
  const otherError = Object.entries(errors).find(([k]) => !known.has(k));

  return html`<section>
    <p class="crumbs"><a href="/ui/tasks">Tasks</a> ›</p>
    <h1>${taskId ? `Task ${taskId}: ${loaded.data?.taskName ?? ''}` : 'New task'}</h1>
    <form class="form" onSubmit=${save} novalidate>
      <${Field} id="taskName" label="Name" error=${errors.taskName}>
        <input id="taskName" value=${d.taskName} onInput=${set('taskName')} required aria-describedby=${described('taskName', 'taskName')} />
      </${Field}>
      <${Field} id="taskType" label="Type" error=${errors.taskType}>
        <select id="taskType" value=${d.taskType} onChange=${set('taskType')} aria-describedby=${described('taskType', 'taskType')}>
          ${TASK_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
        </select>
      </${Field}>
      <${Field} id="taskContent" label=${contentLabel} hint=${contentHint} error=${errors.taskContent}>
        <textarea id="taskContent" rows="3" value=${d.taskContent} onInput=${set('taskContent')} aria-describedby=${described('taskContent', 'taskContent')}></textarea>
      </${Field}>
      <${Field} id="taskDescription" label="Description (optional)" error=${errors.taskDescription}>
        <input id="taskDescription" value=${d.taskDescription} onInput=${set('taskDescription')} />
      </${Field}>
      <fieldset>
        <legend>Configuration (taskConfig)</legend>
        ${otherError && otherError[0].startsWith('taskConfig') ? html`<p class="field-error" role="alert">${otherError[0]}: ${otherError[1]}</p>` : null}
        ${d.taskType === 'WORKER' ? html`
          <${Field} id="cfg-queue" label="Queue" hint="External workers polling this queue take the task (letters, digits, _.:-)." error=${errors['taskConfig.queue']}>
            <input id="cfg-queue" value=${d.cfg.queue ?? ''} onInput=${setCfg('queue')} aria-describedby=${described('cfg-queue', 'taskConfig.queue')} />
          </${Field}>
          <${Field} id="cfg-input" label="Input (JSON)" hint="Handed to the worker; its strings take templates." error=${errors['taskConfig.input']}>
            <textarea id="cfg-input" rows="3" value=${d.cfg.input ?? ''} onInput=${setCfg('input')} aria-describedby=${described('cfg-input', 'taskConfig.input')}></textarea>
          </${Field}>` : null}
        ${d.taskType === 'HTTP' ? html`
          <${Field} id="cfg-method" label="Method" error=${errors['taskConfig.method']}>
            <select id="cfg-method" value=${d.cfg.method ?? ''} onChange=${setCfg('method')}>
              <option value="">GET (default)</option>
              ${HTTP_METHODS.map((m) => html`<option value=${m}>${m}</option>`)}
            </select>
          </${Field}>
          <${Field} id="cfg-url" label="URL" error=${errors['taskConfig.url']}>
            <input id="cfg-url" type="url" value=${d.cfg.url ?? ''} onInput=${setCfg('url')} aria-describedby=${described('cfg-url', 'taskConfig.url')} />
          </${Field}>
          <${Field} id="cfg-headers" label="Headers (JSON object)" error=${errors['taskConfig.headers']}>
            <textarea id="cfg-headers" rows="2" value=${d.cfg.headers ?? ''} onInput=${setCfg('headers')} aria-describedby=${described('cfg-headers', 'taskConfig.headers')}></textarea>
          </${Field}>
          <${Field} id="cfg-body" label="Body (JSON, or text)" error=${errors['taskConfig.body']}>
            <textarea id="cfg-body" rows="3" value=${d.cfg.body ?? ''} onInput=${setCfg('body')}></textarea>
          </${Field}>
          <${Field} id="cfg-idempotencyHeader" label="Idempotency header" hint="Carries the run's idempotency key, the same on every run of one task instance (default Idempotency-Key); false sends none." error=${errors['taskConfig.idempotencyHeader']}>
            <input id="cfg-idempotencyHeader" value=${d.cfg.idempotencyHeader ?? ''} placeholder="Idempotency-Key" onInput=${setCfg('idempotencyHeader')} aria-describedby=${described('cfg-idempotencyHeader', 'taskConfig.idempotencyHeader')} />
          </${Field}>` : null}
        ${NUMBERS.filter((n) => !n.types || n.types.includes(d.taskType)).map((n) => html`
          <${Field} key=${n.key} id=${`cfg-${n.key}`} label=${n.label} hint=${n.hint} error=${errors[`taskConfig.${n.key}`]}>
            <input id=${`cfg-${n.key}`} inputmode="numeric" value=${d.cfg[n.key] ?? ''} onInput=${setCfg(n.key)} aria-describedby=${described(`cfg-${n.key}`, `taskConfig.${n.key}`)} />
          </${Field}>`)}
        ${RATE.map((r) => html`
          <${Field} key=${`rate-${r.key}`} id=${`cfg-rate-${r.key}`} label=${r.label} hint=${r.hint} error=${errors[`taskConfig.rateLimit.${r.key}`]}>
            <input id=${`cfg-rate-${r.key}`} inputmode="numeric" value=${d.cfg[`rateLimit.${r.key}`] ?? ''} onInput=${setCfg(`rateLimit.${r.key}`)} aria-describedby=${described(`cfg-rate-${r.key}`, `taskConfig.rateLimit.${r.key}`)} />
          </${Field}>`)}
      </fieldset>
      ${otherError && !otherError[0].startsWith('taskConfig') ? html`<p class="field-error" role="alert">${otherError[0]}: ${otherError[1]}</p>` : null}
      <${NoticeLine} notice=${notice} />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${taskId ? 'Save task' : 'Create task'}</button>
        <a class="button" href="/ui/tasks">Cancel</a>
        ${taskId ? html`<button type="button" class="danger" onClick=${remove}>Delete</button>` : null}
      </div>
    </form>
  </section>`;
}
