// The dashboard's shell: a skip link, the main navigation, the page the URL names, and the API token
// dialog. Focus moves to the page's heading on navigation so keyboard and screen-reader users land
// on the new content.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { actingUser, DEFAULT_USER } from './api.js';
import { useLocation, type Route } from './router.js';
import { TokenDialog } from './components/tokenDialog.js';
import { useTitle } from './components/common.js';
import { InstancesPage } from './pages/instances.js';
import { InstancePage } from './pages/instance.js';
import { FlowsPage } from './pages/flows.js';
import { FlowPage } from './pages/flow.js';
import { FlowForm } from './pages/flowForm.js';
import { TasksPage } from './pages/tasks.js';
import { TaskForm } from './pages/taskForm.js';
import { ClusterPage } from './pages/cluster.js';
import { WorkersPage } from './pages/workers.js';

const NAV: { href: string; label: string; section: Route['name'][] }[] = [
  { href: '/ui/flows', label: 'Flows', section: ['flows', 'flow', 'flowNew', 'flowEdit'] },
  { href: '/ui/instances', label: 'Instances', section: ['instances', 'instance'] },
  { href: '/ui/tasks', label: 'Tasks', section: ['tasks', 'task', 'taskNew'] },
  { href: '/ui/workers', label: 'Workers', section: ['workers'] },
  { href: '/ui/cluster', label: 'Cluster', section: ['cluster'] },
];

/** The name the dashboard's changes are recorded under when the server has no API tokens (X-User). */
function ActingAs() {
  const [name, setName] = useState(() => (actingUser.get() === DEFAULT_USER ? '' : actingUser.get()));
  return html`<label class="acting-as small">You
    <input id="acting-as" size="12" maxlength="64" placeholder=${DEFAULT_USER} value=${name}
      title="Recorded as who acted (X-User) when the server has no API tokens; with a token, the token's name is"
      onInput=${(e: Event) => { const v = (e.target as HTMLInputElement).value; setName(v); actingUser.set(v); }} />
  </label>`;
}

function NotFound({ path }: { path: string }) {
  useTitle('Not found');
  return html`<section><h1>Not found</h1><p>The dashboard has no page at <code>${path}</code>. Try <a href="/ui/flows">Flows</a> or <a href="/ui/instances">Instances</a>.</p></section>`;
}

export function App() {
  const loc = useLocation();
  const r = loc.route;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    // After a navigation, once the new page has rendered its heading.
    const t = setTimeout(() => {
      const h = document.querySelector<HTMLElement>('main h1') ?? document.getElementById('main');
      if (!h) return;
      if (!h.hasAttribute('tabindex')) h.setAttribute('tabindex', '-1');
      h.focus({ preventScroll: true });
    }, 50);
    return () => clearTimeout(t);
  }, [loc.path]);

  let page;
  switch (r.name) {
    case 'instances': page = html`<${InstancesPage} loc=${loc} />`; break;
    case 'instance': page = html`<${InstancePage} key=${r.fiId} fiId=${r.fiId} />`; break;
    case 'flows': page = html`<${FlowsPage} loc=${loc} />`; break;
    case 'flowNew': page = html`<${FlowForm} key="new" flowId=${null} />`; break;
    case 'flow': page = html`<${FlowPage} key=${r.flowId} flowId=${r.flowId} loc=${loc} />`; break;
    case 'flowEdit': page = html`<${FlowForm} key=${r.flowId} flowId=${r.flowId} />`; break;
    case 'tasks': page = html`<${TasksPage} loc=${loc} />`; break;
    case 'taskNew': page = html`<${TaskForm} key="new" taskId=${null} />`; break;
    case 'task': page = html`<${TaskForm} key=${r.taskId} taskId=${r.taskId} />`; break;
    case 'cluster': page = html`<${ClusterPage} />`; break;
    case 'workers': page = html`<${WorkersPage} />`; break;
    default: page = html`<${NotFound} path=${loc.path} />`;
  }
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="/ui/">task-schedule</a>
      <nav aria-label="Main">
        <ul>
          ${NAV.map((n) => html`<li><a href=${n.href} aria-current=${n.section.includes(r.name) ? 'page' : undefined}>${n.label}</a></li>`)}
        </ul>
      </nav>
      <a class="docs-link" href="/docs">API reference</a>
      <${ActingAs} />
    </header>
    <main id="main" tabindex="-1">${page}</main>
    <${TokenDialog} />
  `;
}
