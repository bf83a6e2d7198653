// Control flow on the dashboard (issue 19), kept apart from the pages it joins: what a node's box says
// about its condition, forEach, signal or sub-flow; a SUB_FLOW node instance's link to its child (and a
// child's to its parent); a waiting SIGNAL's "Send signal" form (a JSON payload); a forEach node's runs.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { NoticeLine, noticeOf, type Notice } from './common.js';
import type { FlowNode, NodeIns } from '../types.js';

const cut = (s: string, n = 34) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Lines a node's box adds for its control flow (after its tasks). */
export function controlLines(n: FlowNode): { text: string; cls: string }[] {
  const lines: { text: string; cls: string }[] = [];
  if (n.nodeType === 'SIGNAL') lines.push({ text: n.timeoutMs ? `waits ${n.timeoutMs} ms, then ${n.onTimeout ?? 'FAIL'}` : 'waits for a signal', cls: 'g-rule' });
  if (n.nodeType === 'SUB_FLOW') lines.push({ text: `runs flow #${n.flowId}${n.flowVersion ? ` v${n.flowVersion}` : ''}`, cls: 'g-task' });
  if (n.forEach) lines.push({ text: cut(`forEach ${n.forEach}${n.maxParallel ? ` (${n.maxParallel} at once)` : ''}`), cls: 'g-rule' });
  if (n.when) lines.push({ text: cut(`when ${n.when}`), cls: 'g-rule' });
  return lines;
}

/** A node's title in its box: SIGNAL and SUB_FLOW nodes by type and key. */
export function controlTitle(n: FlowNode): string | null {
  return n.nodeType === 'SIGNAL' || n.nodeType === 'SUB_FLOW' ? `${n.nodeType} · ${n.nodeKey ?? `#${n.nodeId}`}` : null;
}

/** What a node instance adds on the instance page: its child link, its payload, its forEach runs, a Send signal form. */
export function NodeInsControl({ ni, fiId, running, onSent }: { ni: NodeIns; fiId: number; running: boolean; onSent: () => Promise<void> }) {
  const child = ni.childFiId as number | undefined;
  const items = ni.itemCount as number | undefined;
  return html`<div class="control" data-testid="ni-control">
    ${child ? html`<p>Sub-flow: <a href=${`/ui/instances/${child}`} data-testid="child-link">child instance ${child}</a></p>` : null}
    ${items !== undefined ? html`<p data-testid="foreach-runs">forEach: ${items} item${items === 1 ? '' : 's'}, ${ni.tasks.length} run${ni.tasks.length === 1 ? '' : 's'} made, ${ni.tasks.filter((t) => t.status === 'SUCCESS').length} succeeded</p>` : null}
    ${ni.output !== undefined ? html`<p>Signal payload: <code data-testid="signal-payload">${JSON.stringify(ni.output)}</code></p>` : null}
    ${ni.nodeType === 'SIGNAL' && ni.status === 'RUNNING' && running && ni.nodeKey ? html`<${SendSignal} fiId=${fiId} nodeKey=${ni.nodeKey as string} onSent=${onSent} />` : null}
  </div>`;
}

function SendSignal({ fiId, nodeKey, onSent }: { fiId: number; nodeKey: string; onSent: () => Promise<void> }) {
  const [text, setText] = useState('{}');
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState(false);
  const id = `signal-${nodeKey}`;
  const send = async (e: Event) => {
    e.preventDefault();
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch (x) {
      setNotice({ ok: false, text: `payload: not valid JSON (${(x as Error).message})` });
      return;
    }
    setBusy(true);
    try {
      const a = await post(`/exec/flow-ins/${fiId}/signal/${encodeURIComponent(nodeKey)}`, { payload });
      setNotice({ ok: true, text: `${a.status} ${a.message}: ${JSON.stringify(a.data)}` });
      await onSent();
    } catch (x) {
      setNotice(noticeOf(x));
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="form signal" onSubmit=${send} data-testid="signal-form">
    <label for=${id}>Signal payload (JSON)</label>
    <textarea id=${id} rows="3" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea>
    <button type="submit" class="primary" disabled=${busy}>Send signal</button>
    <${NoticeLine} notice=${notice} testid="signal-notice" />
  </form>`;
}

/** A sub-flow instance's link back to its parent. */
export function ParentLink({ parentFiId }: { parentFiId: unknown }) {
  return typeof parentFiId === 'number' ? html`<div><dt>Parent</dt><dd><a href=${`/ui/instances/${parentFiId}`} data-testid="parent-link">instance ${parentFiId}</a></dd></div>` : null;
}
