// The flow form's control-flow fields of one node (issue 19): `when` on every node; forEach and
// maxParallel on TASK nodes; a SIGNAL's timeout and what it does; a SUB_FLOW's flow, version and input
// (JSON). Each shows the API's 400 next to it.
import { html } from 'htm/preact';
import { FieldError } from '../components/common.js';
import type { NodeDraft } from './flowDraft.js';

export const CONTROL_FIELDS = ['when', 'forEach', 'maxParallel', 'flowId', 'flowVersion', 'input', 'timeoutMs', 'onTimeout'];

interface Props {
  n: NodeDraft;
  id: string;
  at: string;
  err: (path: string) => string | undefined;
  set: (patch: Partial<NodeDraft>) => void;
}

export function ControlFields({ n, id, at, err, set }: Props) {
  const text = (field: string, key: keyof NodeDraft, label: string, placeholder = '', cls = '') => html`<div class=${`field inline ${err(`${at}.${field}`) ? 'has-error' : ''}`}>
    <label for=${`${id}-${field}`}>${label}</label>
    <input id=${`${id}-${field}`} class=${cls} value=${n[key] as string} placeholder=${placeholder} aria-describedby=${err(`${at}.${field}`) ? `${id}-${field}-error` : undefined} onInput=${(e: Event) => set({ [key]: (e.target as HTMLInputElement).value } as Partial<NodeDraft>)} />
    <${FieldError} id=${`${id}-${field}`} error=${err(`${at}.${field}`)} />
  </div>`;
  return html`<div class="row control-fields">
    ${text('when', 'when', 'When (optional condition)', 'e.g. nodes.check.output.score > 100')}
    ${n.type === 'TASK' ? html`${text('forEach', 'forEach', 'For each (optional path)', 'e.g. input.items')}${text('maxParallel', 'maxParallel', 'At once', 'all', 'short')}` : null}
    ${n.type === 'SIGNAL' ? html`${text('timeoutMs', 'timeoutMs', 'Timeout ms (optional)', 'waits for ever', 'short')}
      <div class="field inline">
        <label for=${`${id}-onTimeout`}>On timeout</label>
        <select id=${`${id}-onTimeout`} value=${n.onTimeout} onChange=${(e: Event) => set({ onTimeout: (e.target as HTMLSelectElement).value as NodeDraft['onTimeout'] })}>
          <option value="FAIL">FAIL the node</option>
          <option value="SUCCESS">SUCCESS with a null output</option>
        </select>
      </div>` : null}
    ${n.type === 'SUB_FLOW' ? html`${text('flowId', 'subFlowId', 'Flow id', 'e.g. 7', 'short')}${text('flowVersion', 'subFlowVersion', 'Version (optional)', 'current', 'short')}${text('input', 'input', 'Input (JSON, optional)', '{"order": "${input.order}"}')}` : null}
  </div>`;
}
