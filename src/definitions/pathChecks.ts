// Saving checks a flow's `when` conditions and `forEach` paths (expression.ts): each parses, and reads
// only nodes that have ended when it is evaluated — the nodes its node follows, directly or not. Each
// problem names the node and the field.
import { ancestorsOf, type FlowGraph } from './flowGraph.js';
import { ExpressionError, parseExpression, parsePath, referencedKeys } from './expression.js';

interface NodeWithPaths {
  nodeType: string;
  when?: string | null;
  forEach?: string | null;
}

export function pathIssues(nodes: NodeWithPaths[], graph: FlowGraph): { index: number; field: 'when' | 'forEach'; message: string }[] {
  const issues: { index: number; field: 'when' | 'forEach'; message: string }[] = [];
  if (!nodes.some((n) => n.when != null || n.forEach != null)) return issues;
  const indexOf = new Map(graph.keys.map((k, i) => [k, i]));
  const check = (i: number, field: 'when' | 'forEach', text: string) => {
    const before = ancestorsOf(graph.preds, i);
    try {
      const e = field === 'when' ? parseExpression(text) : parsePath(text);
      for (const key of referencedKeys(e)) {
        const j = indexOf.get(key);
        if (j === undefined) issues.push({ index: i, field, message: `no node has the key "${key}"` });
        else if (!before.has(j)) issues.push({ index: i, field, message: `reads node "${key}", which this node does not follow: it can read only the nodes before it` });
      }
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      issues.push({ index: i, field, message: `is not a valid ${field === 'when' ? 'expression' : 'path'}: ${e.message}` });
    }
  };
  nodes.forEach((n, i) => {
    if (n.nodeType === 'START' || n.nodeType === 'END') return;
    if (n.when != null) check(i, 'when', n.when);
    if (n.forEach != null && n.nodeType === 'TASK') check(i, 'forEach', n.forEach);
  });
  return issues;
}
