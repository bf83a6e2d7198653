// A flow drawn as a graph, START → … → END, laid out by dagre from nodes and edges: edges come from
// each node's `prevNodes` when the API sends them (flows as graphs), else from `prevNode`, else from
// the nodes' order. Each node shows its tasks and completion rule and, on an instance's page, its
// status as colour, icon and word.
import { html } from 'htm/preact';
import { useMemo } from 'preact/hooks';
import { Graph, layout } from '@dagrejs/dagre';
import type { FlowNode } from '../types.js';
import { completionText } from '../format.js';
import { controlLines, controlTitle } from './controlFlow.js';

const LINE = 16;
const PAD = 8;
const MAX_TASK_LINES = 4;
const CHAR_W = 7;

export interface Box {
  node: FlowNode;
  lines: { text: string; cls: string }[];
  width: number;
  height: number;
  x: number;
  y: number;
}

const cut = (s: string, n = 34) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * A node's name as readers use it: its key (what templates and retries name it by; on a chain without
 * keys the default `n<position>`), or START / END. Ids are secondary text.
 */
export function nodeKeyAt(nodes: FlowNode[], n: FlowNode): string {
  if (n.nodeType === 'START' || n.nodeType === 'END') return n.nodeType;
  return n.nodeKey ?? `n${nodes.indexOf(n)}`;
}

function linesOf(n: FlowNode, key: string, status: string | undefined): Box['lines'] {
  const lines: Box['lines'] = [];
  lines.push({ text: controlTitle(n) ?? key, cls: 'g-title' });
  if (n.nodeType === 'TASK') {
    lines.push({ text: `node #${n.nodeId}`, cls: 'g-id' });
    const tasks = n.tasks ?? [];
    for (const t of tasks.slice(0, MAX_TASK_LINES)) lines.push({ text: cut(`${t.taskName ?? `task ${t.taskId}`} (${t.taskType ?? '?'})`), cls: 'g-task' });
    if (tasks.length > MAX_TASK_LINES) lines.push({ text: `+ ${tasks.length - MAX_TASK_LINES} more`, cls: 'g-task' });
    lines.push({ text: completionText(n.completion), cls: 'g-rule' });
  }
  lines.push(...controlLines(n));
  if (status) lines.push({ text: status, cls: 'g-status' });
  return lines;
}

/** Each node's predecessors, by the rules in the header. */
export function edgesOf(nodes: FlowNode[]): [number, number][] {
  const ids = new Set(nodes.map((n) => n.nodeId));
  const explicit = nodes.some((n) => (n.prevNodes && n.prevNodes.length) || n.prevNode !== undefined);
  const edges: [number, number][] = [];
  nodes.forEach((n, i) => {
    const prev = n.prevNodes && n.prevNodes.length ? n.prevNodes : n.prevNode !== undefined ? [n.prevNode] : !explicit && i > 0 ? [nodes[i - 1]!.nodeId] : [];
    for (const p of prev) if (ids.has(p) && p !== n.nodeId) edges.push([p, n.nodeId]);
  });
  return edges;
}

export interface Drawn {
  boxes: Box[];
  /** One per edge, from node id `from` to node id `to`. */
  paths: { key: string; from: number; to: number; d: string }[];
  width: number;
  height: number;
}

/** Where each node's box and each edge go (dagre, left to right). */
export function layoutGraph(nodes: FlowNode[], statusOf?: (nodeId: number) => string | undefined): Drawn {
  const g = new Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 20, ranksep: 36, marginx: 4, marginy: 4 });
  g.setDefaultEdgeLabel(() => ({}));
  const boxes = new Map<number, Box>();
  for (const n of nodes) {
    const lines = linesOf(n, nodeKeyAt(nodes, n), statusOf?.(n.nodeId));
    const width = Math.max(90, Math.min(260, Math.max(...lines.map((l) => l.text.length)) * CHAR_W + 2 * PAD));
    const height = lines.length * LINE + 2 * PAD - 2;
    boxes.set(n.nodeId, { node: n, lines, width, height, x: 0, y: 0 });
    g.setNode(String(n.nodeId), { width, height });
  }
  const edges = edgesOf(nodes);
  for (const [a, b] of edges) g.setEdge(String(a), String(b));
  layout(g);
  for (const b of boxes.values()) {
    const p = g.node(String(b.node.nodeId));
    b.x = p.x! - b.width / 2;
    b.y = p.y! - b.height / 2;
  }
  const paths = edges.map(([a, b]) => {
    const pts = (g.edge(String(a), String(b))?.points ?? []) as { x: number; y: number }[];
    return { key: `${a}-${b}`, from: a, to: b, d: pts.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ') };
  });
  const gl = g.graph();
  return { boxes: [...boxes.values()], paths, width: Math.ceil(gl.width ?? 100), height: Math.ceil(gl.height ?? 50) };
}

export function FlowGraph({ nodes, statusOf, label }: { nodes: FlowNode[]; statusOf?: (nodeId: number) => string | undefined; label: string }) {
  const statuses = nodes.map((n) => statusOf?.(n.nodeId) ?? '').join(',');
  const drawn = useMemo(() => layoutGraph(nodes, statusOf), [nodes, statuses]);

  return html`<figure class="graph" data-testid="flow-graph">
    <div class="graph-scroll">
      <svg viewBox=${`0 0 ${drawn.width} ${drawn.height}`} width=${drawn.width} height=${drawn.height} role="img" aria-label=${label}>
        <defs>
          <marker id="ts-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="g-arrow" />
          </marker>
        </defs>
        ${drawn.paths.map((p) => html`<path key=${p.key} d=${p.d} class="g-edge" data-from=${p.from} data-to=${p.to} marker-end="url(#ts-arrow)" />`)}
        ${drawn.boxes.map((b) => {
          const status = statusOf?.(b.node.nodeId);
          return html`<g key=${b.node.nodeId} class=${`g-node g-${b.node.nodeType} ${status ? `st-${status}` : ''}`} data-node-id=${b.node.nodeId} data-node-key=${b.node.nodeKey} data-status=${status ?? ''} transform=${`translate(${b.x.toFixed(1)},${b.y.toFixed(1)})`}>
            <title>${b.lines.map((l) => l.text).join('\n')}</title>
            <rect width=${b.width} height=${b.height} rx="6" ry="6" />
            ${b.lines.map((l, i) => html`<text x=${PAD} y=${PAD + (i + 1) * LINE - 4} class=${l.cls}>${l.text}</text>`)}
          </g>`;
        })}
      </svg>
    </div>
  </figure>`;
}
