// Building blocks every page uses: loading data, a status badge (colour and a text label), the API's
// answer to an action, paging, and a field's error message.
import { html } from 'htm/preact';
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.js';

export interface Loaded<T> {
  data: T | null;
  error: Error | null;
  loading: boolean;
  /** Fetches again, keeping what is shown until the answer comes. */
  reload(): Promise<void>;
}

/** Runs `load` now and whenever `deps` change; the last answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean }>({ data: null, error: null, loading: true });
  const gen = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(async () => {
    const mine = ++gen.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await loadRef.current();
      if (mine === gen.current) setState({ data, error: null, loading: false });
    } catch (e) {
      if (mine === gen.current) setState((s) => ({ data: s.data, error: e as Error, loading: false }));
    }
  }, []);
  useEffect(() => {
    setState({ data: null, error: null, loading: true });
    void reload();
  }, deps);
  return { ...state, reload };
}

/** Sets document.title to "<what> · task-schedule". */
export function useTitle(what: string | null): void {
  useEffect(() => {
    document.title = what ? `${what} · task-schedule` : 'task-schedule';
  }, [what]);
}

const ICON: Record<string, string> = { SUCCESS: '✓', FAILED: '✗', RUNNING: '▶', PENDING: '◷', CANCELLED: '⊘', SKIPPED: '↷' };

/** A status as colour, icon and word: never colour alone. */
export function Status({ status, testid }: { status: string | null | undefined; testid?: string }) {
  const s = status || 'UNKNOWN';
  return html`<span class=${`badge st-${s}`} data-status=${s} data-testid=${testid}><span aria-hidden="true">${ICON[s] ?? '•'} </span>${s}</span>`;
}

/** " (try again in N s)" when the answer said when (Retry-After). */
const retryText = (e: unknown) => (e instanceof ApiError && e.retryAfter !== null ? ` (try again in ${e.retryAfter} s)` : '');

export function ErrorBox({ error, what }: { error: Error | null; what?: string }) {
  if (!error) return null;
  const status = error instanceof ApiError && error.status ? ` (${error.status})` : '';
  return html`<p class="error" role="alert">${what ? `${what}: ` : ''}${error.message}${status}${retryText(error)}</p>`;
}

export function Loading({ loading }: { loading: boolean }) {
  return loading ? html`<p class="muted" aria-live="polite">Loading…</p>` : null;
}

/** The API's answer to an action (start, cancel, retry, save…), announced to screen readers. */
export interface Notice {
  ok: boolean;
  text: string;
}

export function noticeOf(e: unknown): Notice {
  if (e instanceof ApiError) return { ok: false, text: `${e.status || 'error'}: ${e.message}${retryText(e)}` };
  return { ok: false, text: (e as Error)?.message ?? String(e) };
}

export function NoticeLine({ notice, testid = 'notice' }: { notice: Notice | null; testid?: string }) {
  return html`<p class=${`notice ${notice ? (notice.ok ? 'ok' : 'bad') : ''}`} role="status" aria-live="polite" data-testid=${testid}>${notice?.text ?? ''}</p>`;
}

export function Pager({ page, pageSize, total, href }: { page: number; pageSize: number; total: number; href: (page: number) => string }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return html`<nav class="pager" aria-label="Pages">
    ${page > 1 ? html`<a href=${href(page - 1)} rel="prev">← Newer</a>` : html`<span class="muted">← Newer</span>`}
    <span>Page ${page} of ${pages} · ${total} in all</span>
    ${page < pages ? html`<a href=${href(page + 1)} rel="next">Older →</a>` : html`<span class="muted">Older →</span>`}
  </nav>`;
}

/** A field's error from the API, tied to the field with aria-describedby (id = `${id}-error`). */
export function FieldError({ id, error }: { id: string; error: string | null | undefined }) {
  return error ? html`<span class="field-error" id=${`${id}-error`} role="alert">${error}</span>` : null;
}

export function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string | null; hint?: string; children: ComponentChildren }) {
  return html`<div class=${`field ${error ? 'has-error' : ''}`}>
    <label for=${id}>${label}</label>
    ${children}
    ${hint ? html`<span class="hint">${hint}</span>` : null}
    <${FieldError} id=${id} error=${error} />
  </div>`;
}

/** Fields of an object the page does not know (added to the API later), shown as they are. */
export function Extras({ obj, known }: { obj: Record<string, unknown> | null | undefined; known: string[] }) {
  if (!obj) return null;
  const extra = Object.entries(obj).filter(([k, v]) => !known.includes(k) && v !== null && v !== undefined && v !== '');
  if (!extra.length) return null;
  return html`<dl class="extras">
    ${extra.map(([k, v]) => html`<div><dt>${k}</dt><dd>${typeof v === 'object' ? html`<pre>${JSON.stringify(v, null, 2)}</pre>` : String(v)}</dd></div>`)}
  </dl>`;
}

/** A long text (task output), cut short with a way to see all of it. */
export function LongText({ text, max = 200 }: { text: string | null | undefined; max?: number }) {
  if (text === null || text === undefined || text === '') return html`<span class="muted">—</span>`;
  if (text.length <= max && !text.includes('\n')) return html`<code class="text">${text}</code>`;
  return html`<details class="long"><summary><code>${text.slice(0, Math.min(max, text.indexOf('\n') >= 0 ? text.indexOf('\n') : max))}…</code></summary><pre>${text}</pre></details>`;
}

let flash: Notice | null = null;
/** A notice for the next page shown (e.g. "saved" after a form navigates away). */
export function setFlash(n: Notice): void {
  flash = n;
}
/** The pending flash notice, once. */
export function useFlash(): Notice | null {
  const [n] = useState(() => {
    const f = flash;
    flash = null;
    return f;
  });
  return n;
}
