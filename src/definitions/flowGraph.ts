// A flow's shape, from the nodes of a save: which node follows which. Two forms:
// - a chain (no node has `prevNodes`): the list order is the chain, exactly as the original API had it;
// - a graph (some node has `prevNodes`, a list of node keys): a TASK node without `prevNodes` follows
//   START, and END follows every node that nothing follows.
// A node's key is its `nodeKey`, or `n<position>` (its index in the list). Saving checks the graph —
// unknown keys, duplicate keys, a cycle, a node START cannot reach — and each problem is a 400 naming
// the node, before anything is written.

export const NODE_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/** Predecessor references in one flow, all nodes together. */
export const MAX_FLOW_EDGES = 5_000;

export interface NodeShape {
  nodeType: 'START' | 'TASK' | 'END' | 'SIGNAL' | 'SUB_FLOW';
  nodeKey?: string | null;
  prevNodes?: string[] | null;
}

export interface FlowGraph {
  /** True when some node has prevNodes (the answers then show every node's key and predecessors). */
  graph: boolean;
  /** Each node's key. */
  keys: string[];
  /** Each node's predecessors, as indexes into the node list (START: none). */
  preds: number[][];
}

export interface GraphIssue {
  /** Index of the node, and the field, the problem is about. */
  index: number;
  field: 'nodeKey' | 'prevNodes' | 'nodeType';
  message: string;
}

/** The graph of a save's nodes, or the problems that make it no graph (first problem first). */
export function flowGraph(nodes: NodeShape[]): { ok: true; value: FlowGraph } | { ok: false; issues: GraphIssue[] } {
  const issues: GraphIssue[] = [];
  const keys = nodes.map((n, i) => n.nodeKey ?? `n${i}`);
  const indexOf = new Map<string, number>();
  keys.forEach((k, i) => {
    const first = indexOf.get(k);
    if (first !== undefined) issues.push({ index: i, field: 'nodeKey', message: `"${k}" is the key of flowNodes[${first}] too: node keys must be unique` });
    else indexOf.set(k, i);
  });
  const graph = nodes.some((n) => n.prevNodes != null);
  const start = nodes.findIndex((n) => n.nodeType === 'START');
  const end = nodes.findIndex((n) => n.nodeType === 'END');
  let edges = 0;
  const preds: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const inner = n.nodeType !== 'START' && n.nodeType !== 'END'; // TASK, SIGNAL, SUB_FLOW
    if (n.prevNodes != null && !inner) {
      issues.push({ index: i, field: 'prevNodes', message: `a ${n.nodeType} node does not take prevNodes (${n.nodeType === 'START' ? 'it comes first' : 'it follows every node that nothing follows'})` });
      return;
    }
    if (!graph) {
      if (i > 0) preds[i] = [i - 1];
      return;
    }
    if (!inner) return; // END: below, once every node's predecessors are known
    if (n.prevNodes == null) {
      preds[i] = start >= 0 ? [start] : [];
      return;
    }
    const seen = new Set<string>();
    for (const key of n.prevNodes) {
      const j = indexOf.get(key);
      if (seen.has(key)) issues.push({ index: i, field: 'prevNodes', message: `lists "${key}" twice` });
      else if (j === undefined) issues.push({ index: i, field: 'prevNodes', message: `no node has the key "${key}"` });
      else if (j === end) issues.push({ index: i, field: 'prevNodes', message: 'END comes last: no node can follow it' });
      else preds[i].push(j);
      seen.add(key);
    }
    edges += n.prevNodes.length;
  });
  if (edges > MAX_FLOW_EDGES) issues.push({ index: 0, field: 'prevNodes', message: `a flow may name at most ${MAX_FLOW_EDGES} predecessors in all, got ${edges}` });
  if (issues.length) return { ok: false, issues };
  if (graph && end >= 0) {
    const followed = new Set(preds.flat());
    preds[end] = nodes.map((_, i) => i).filter((i) => i !== end && !followed.has(i) && nodes[i].nodeType !== 'START');
  }

  const cycle = findCycle(preds);
  if (cycle) {
    const path = [...cycle, cycle[0]].map((i) => keys[i]).join(' → ');
    return { ok: false, issues: [{ index: cycle[0], field: 'prevNodes', message: `node "${keys[cycle[0]]}" is in a cycle: ${path}` }] };
  }
  if (start >= 0) {
    const reached = reachable(start, preds);
    const lost = nodes.findIndex((_, i) => !reached.has(i));
    if (lost >= 0) return { ok: false, issues: [{ index: lost, field: 'prevNodes', message: `node "${keys[lost]}" cannot be reached from START` }] };
  }
  return { ok: true, value: { graph, keys, preds } };
}

/** One cycle (as node indexes in order), or null. Iterative depth-first search: no recursion on big flows. */
function findCycle(preds: number[][]): number[] | null {
  const state = preds.map(() => 0); // 0 new, 1 on the path, 2 done
  for (let root = 0; root < preds.length; root++) {
    if (state[root]) continue;
    const path: number[] = [root];
    const next: number[] = [0];
    state[root] = 1;
    while (path.length) {
      const v = path[path.length - 1];
      const k = next[next.length - 1]++;
      if (k >= preds[v].length) {
        state[v] = 2;
        path.pop();
        next.pop();
        continue;
      }
      const u = preds[v][k];
      if (state[u] === 1) return path.slice(path.indexOf(u)).reverse();
      if (state[u] === 0) {
        state[u] = 1;
        path.push(u);
        next.push(0);
      }
    }
  }
  return null;
}

function reachable(start: number, preds: number[][]): Set<number> {
  const succs: number[][] = preds.map(() => []);
  preds.forEach((ps, i) => ps.forEach((p) => succs[p].push(i)));
  const seen = new Set([start]);
  const todo = [start];
  while (todo.length) for (const s of succs[todo.pop()!]) if (!seen.has(s)) (seen.add(s), todo.push(s));
  return seen;
}

/** The nodes node `i` follows, directly or not (an iterative walk back: no recursion on long chains). */
export function ancestorsOf(preds: number[][], i: number): Set<number> {
  const seen = new Set<number>();
  const todo = [...preds[i]];
  while (todo.length) {
    const p = todo.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    todo.push(...preds[p]);
  }
  return seen;
}
