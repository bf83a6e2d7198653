// Client-side routing with the History API. Every page has a real URL under /ui/ that the server
// answers with index.html (src/api/routes/ui.ts keeps the same list), so a link can be bookmarked
// and survives a reload. Clicks on same-origin /ui/ links are caught once, at the document.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { name: 'instances' }
  | { name: 'instance'; fiId: number }
  | { name: 'flows' }
  | { name: 'flowNew' }
  | { name: 'flow'; flowId: number }
  | { name: 'flowEdit'; flowId: number }
  | { name: 'tasks' }
  | { name: 'taskNew' }
  | { name: 'task'; taskId: number }
  | { name: 'cluster' }
  | { name: 'workers' }
  | { name: 'notFound' };

export function parseRoute(pathname: string): Route {
  const p = pathname.replace(/\/+$/, '');
  let m: RegExpExecArray | null;
  if (p === '/ui' || p === '/ui/instances') return { name: 'instances' };
  if ((m = /^\/ui\/instances\/(\d{1,15})$/.exec(p))) return { name: 'instance', fiId: Number(m[1]) };
  if (p === '/ui/flows') return { name: 'flows' };
  if (p === '/ui/flows/new') return { name: 'flowNew' };
  if ((m = /^\/ui\/flows\/(\d{1,15})$/.exec(p))) return { name: 'flow', flowId: Number(m[1]) };
  if ((m = /^\/ui\/flows\/(\d{1,15})\/edit$/.exec(p))) return { name: 'flowEdit', flowId: Number(m[1]) };
  if (p === '/ui/tasks') return { name: 'tasks' };
  if (p === '/ui/tasks/new') return { name: 'taskNew' };
  if ((m = /^\/ui\/tasks\/(\d{1,15})$/.exec(p))) return { name: 'task', taskId: Number(m[1]) };
  if (p === '/ui/cluster') return { name: 'cluster' };
  if (p === '/ui/workers') return { name: 'workers' };
  return { name: 'notFound' };
}

export interface Location {
  path: string;
  query: URLSearchParams;
  route: Route;
}

const listeners = new Set<() => void>();

function current(): Location {
  return { path: location.pathname, query: new URLSearchParams(location.search), route: parseRoute(location.pathname) };
}

/** Goes to `href` (a /ui/ path) without reloading; `replace` rewrites the history entry instead. */
export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  for (const l of listeners) l();
  if (!replace) window.scrollTo(0, 0);
}

/** `path` with these query parameters (empty values left out). */
export function withQuery(path: string, params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => setLoc(current());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return loc;
}

/** Plain left clicks on <a href="/ui/…"> become navigate() calls. */
export function interceptLinks(): void {
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/ui')) return;
    if (url.hash && url.pathname === location.pathname && url.search === location.search) return; // an anchor on this page
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
}
