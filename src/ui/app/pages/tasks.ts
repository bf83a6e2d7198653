// /ui/tasks: the tasks, newest first (or those whose name holds ?name=), each with a "Run once" button
// (POST /exec/task/{taskId}, with an optional JSON input for a task whose templates read one) that
// follows the run (GET /monitor/task/{tiId}) until it ends and shows its result.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, post } from '../api.js';
import { NameSearch } from './flows.js';
import { ErrorBox, Loading, LongText, NoticeLine, Pager, Status, noticeOf, useFlash, useLoad, useTitle, type Notice } from '../components/common.js';
import { withQuery, type Location } from '../router.js';
import type { Page, Task } from '../types.js';
import { shortJson } from '../format.js';

const PAGE_SIZE = 20;
const DONE = ['SUCCESS', 'FAILED', 'CANCELLED'];

interface Run {
  tiId: number;
  status: string;
  output?: string | null;
  errorMsg?: string;
}

/** Whether the task's content or config reads the start's input (so a run needs one). */
const readsInput = (t: Task) => /\$\{input[.}]/.test(`${t.taskContent ?? ''} ${JSON.stringify(t.taskConfig ?? {})}`);

function RunOnce({ task }: { task: Task }) {
  const [run, setRun] = useState<Run | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const needsInput = readsInput(task);
  const [input, setInput] = useState('');
  const [inputError, setInputError] = useState<string | null>(null);
  const alive = useRef(true);
  useEffect(() => () => { alive.current = false; }, []);
  const inputId = `run-input-${task.taskId}`;

  const go = async () => {
    setNotice(null);
    setInputError(null);
    let body: unknown;
    if (input.trim()) {
      try {
        body = { input: JSON.parse(input) };
      } catch (e) {
        setInputError(`not valid JSON: ${(e as Error).message}`);
        return;
      }
    }
    try {
      const { data } = await post<{ tiId: number }>(`/exec/task/${task.taskId}`, body);
      let r: Run = { tiId: data.tiId, status: 'PENDING' };
      setRun(r);
      // A standalone run has no flow instance to filter live events by: follow it by polling.
      for (let wait = 200; alive.current && !DONE.includes(r.status); wait = Math.min(wait * 1.5, 2000)) {
        await new Promise((res) => setTimeout(res, wait));
        r = (await get<Run>(`/monitor/task/${data.tiId}`)).data;
        if (alive.current) setRun(r);
      }
    } catch (e) {
      // A bad input is said once, at the input.
      if (e instanceof ApiError && e.status === 400 && e.field === 'input') setInputError(e.detail);
      else setNotice(noticeOf(e));
    }
  };
  const busy = run !== null && !DONE.includes(run.status);
  return html`<div class="run-once" data-testid=${`run-${task.taskId}`}>
    <div class="run-row">
      <button class="small-button" onClick=${go} disabled=${busy} aria-label=${`Run ${task.taskName} once`}>Run once</button>
      <details class="run-input" open=${needsInput}>
        <summary>input</summary>
        <label class="sr-only" for=${inputId}>Input for ${task.taskName} (JSON)</label>
        <textarea id=${inputId} rows="2" placeholder='{"name": "Ada"}' value=${input} aria-describedby=${inputError ? `${inputId}-error` : undefined}
          onInput=${(e: Event) => setInput((e.target as HTMLTextAreaElement).value)}></textarea>
        ${needsInput ? html`<span class="hint">its templates read <code>${'${input.…}'}</code></span>` : null}
      </details>
    </div>
    ${inputError ? html`<span class="field-error" id=${`${inputId}-error`} role="alert">${inputError}</span>` : null}
    ${run ? html`<div role="status" aria-live="polite"><span class="small">ti ${run.tiId}</span> <${Status} status=${run.status} /> ${run.errorMsg ? html`<span class="error-text">${run.errorMsg}</span>` : null} ${DONE.includes(run.status) && run.output ? html`<${LongText} text=${run.output} max=${60} />` : null}</div>` : null}
    ${notice ? html`<p class="notice bad" role="alert">${notice.text}</p>` : null}
  </div>`;
}

export function TasksPage({ loc }: { loc: Location }) {
  useTitle('Tasks');
  const flash = useFlash();
  const page = Math.max(1, Number(loc.query.get('page')) || 1);
  const name = loc.query.get('name') ?? '';
  const tasks = useLoad(() => get<Page<Task>>(withQuery('/task', { page, pageSize: PAGE_SIZE, name: name || undefined })).then((a) => a.data), [page, name]);
  return html`<section>
    <header class="page-head">
      <h1>Tasks</h1>
      <a class="button primary" href="/ui/tasks/new">New task</a>
    </header>
    <${NameSearch} base="/ui/tasks" name=${name} what="tasks" />
    <${NoticeLine} notice=${flash} />
    <${ErrorBox} error=${tasks.error} what="Could not load the tasks" />
    ${!tasks.data ? html`<${Loading} loading=${tasks.loading} />` : tasks.data.list.length === 0 ? (name ? html`<p>No task's name contains “${name}”.</p>` : html`<p>No tasks yet. <a href="/ui/tasks/new">Create one</a>.</p>`) : html`
      <table class="list" data-testid="tasks-table">
        <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Type</th><th scope="col">Content</th><th scope="col">Config</th><th scope="col" class="run-col">Run</th></tr></thead>
        <tbody>
          ${tasks.data.list.map((t) => html`<tr key=${t.taskId} data-task-id=${t.taskId}>
            <td><a href=${`/ui/tasks/${t.taskId}`}>${t.taskName}</a>${t.taskDescription ? html`<div class="muted small">${t.taskDescription}</div>` : null}</td>
            <td>${t.taskId}</td>
            <td>${t.taskType}</td>
            <td class="wrap"><code>${shortJson(t.taskContent, 80)}</code></td>
            <td class="wrap small"><code>${shortJson(t.taskConfig, 80)}</code></td>
            <td class="run-col"><${RunOnce} task=${t} /></td>
          </tr>`)}
        </tbody>
      </table>
      <${Pager} page=${page} pageSize=${PAGE_SIZE} total=${tasks.data.total} href=${(p: number) => withQuery('/ui/tasks', { page: p, name: name || undefined })} />`}
  </section>`;
}
