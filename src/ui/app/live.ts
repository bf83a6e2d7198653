// Live updates: GET /events (Server-Sent Events) read with fetch() rather than EventSource, so the
// API token can go in an Authorization header. Reconnects by itself (1 s, doubling to 10 s) sending
// Last-Event-ID: the server replays what was missed, or says `reset` and the page refetches.
// Pages use useLiveRefresh(): "refetch when something I show may have changed", debounced.
import { useEffect, useRef } from 'preact/hooks';
import { authHeader, tokens } from './api.js';
import { askToken } from './tokens.js';

// The server's event type (types only: nothing of the server is bundled).
import type { LiveEvent } from '../../observe/liveEvents.js';

export type { LiveEvent };

export interface LiveFilter {
  fiId?: number;
  flowId?: number;
  kind?: string;
}

export interface LiveHandlers {
  onEvents(events: LiveEvent[]): void;
  /** The stream is (again) live and what was missed cannot be replayed: refetch. */
  onReset(): void;
}

/** Opens the stream and keeps it open until the returned function is called. */
export function subscribe(filter: LiveFilter, h: LiveHandlers): () => void {
  const ctl = new AbortController();
  let lastId: string | null = null;
  /** Whether the current connection was asked to resume from lastId. */
  let resumed = false;
  let delay = 1000;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== '') q.set(k, String(v));
  const url = `/events${q.toString() ? `?${q}` : ''}`;

  const dispatch = (event: string, data: string, id: string | null) => {
    if (id !== null) lastId = id;
    if (event === 'ready') {
      delay = 1000;
      // Connected without an id to resume from: what the page fetched may already be behind. With
      // one, the server replays from it or sends `reset`.
      if (!resumed) h.onReset();
    } else if (event === 'reset') h.onReset();
    else if (event === 'status') {
      try {
        h.onEvents(JSON.parse(data) as LiveEvent[]);
      } catch {
        h.onReset();
      }
    }
  };

  const run = async () => {
    while (!ctl.signal.aborted) {
      try {
        const sent = tokens.api();
        const headers: Record<string, string> = { Accept: 'text/event-stream', ...authHeader() };
        resumed = lastId !== null;
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await fetch(url, { headers, signal: ctl.signal, cache: 'no-store' });
        if (res.status === 401) {
          if (tokens.api() !== sent) continue; // a token came meanwhile (asked for by another request)
          const t = await askToken(tokens.api() ? 'The token was refused.' : 'This server needs an API token.');
          if (t) tokens.setApi(t);
          else return; // no token, no live updates; the page still works by reloading
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        await read(res.body, dispatch);
      } catch {
        // A refused or broken stream (503 when the member is full, a network error): try again below.
      }
      if (ctl.signal.aborted) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  };
  void run();
  return () => ctl.abort();
}

/** Parses a text/event-stream body, calling `dispatch` for each complete message. */
async function read(body: ReadableStream<Uint8Array>, dispatch: (event: string, data: string, id: string | null) => void): Promise<void> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let event = 'message';
  let data: string[] = [];
  let id: string | null = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (data.length || event !== 'message') dispatch(event, data.join('\n'), id);
        event = 'message';
        data = [];
        id = null;
        continue;
      }
      if (line.startsWith(':')) continue; // heartbeat
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = val;
      else if (field === 'data') data.push(val);
      else if (field === 'id') id = val;
    }
  }
}

/**
 * Calls `refresh` when an event matching `filter` (and `accept`, if given) arrives, and when the
 * stream (re)starts without replay; at most every `minGapMs`, never two at once.
 */
export function useLiveRefresh(filter: LiveFilter | null, refresh: () => Promise<unknown> | void, accept?: (e: LiveEvent) => boolean, minGapMs = 250): void {
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;
  const acceptRef = useRef(accept);
  acceptRef.current = accept;
  const key = filter ? JSON.stringify(filter) : null;
  useEffect(() => {
    if (!filter) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let running = false;
    let again = false;
    let last = 0;
    const fire = async () => {
      timer = null;
      if (running) {
        again = true;
        return;
      }
      running = true;
      last = Date.now();
      try {
        await refreshRef.current();
      } catch {
        // the page shows its own errors
      } finally {
        running = false;
        if (again) {
          again = false;
          schedule();
        }
      }
    };
    const schedule = () => {
      if (timer) return;
      timer = setTimeout(fire, Math.max(0, last + minGapMs - Date.now()));
    };
    const stop = subscribe(filter, {
      onEvents: (evs) => {
        if (!acceptRef.current || evs.some(acceptRef.current)) schedule();
      },
      onReset: schedule,
    });
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }, [key]);
}
