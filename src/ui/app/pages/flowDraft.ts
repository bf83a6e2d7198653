// One node of the flow form's draft (flowForm.ts), as its fields hold it: text while it is edited, made
// a flow node on save. Its own module so the form and its control-flow fields (flowFormControl.ts) both
// read it without importing each other.
export interface NodeDraft {
  uid: number;
  /** TASK (tasks, completion, forEach), SIGNAL (timeout) or SUB_FLOW (flow, version, input). */
  type: 'TASK' | 'SIGNAL' | 'SUB_FLOW';
  when: string;
  forEach: string;
  maxParallel: string;
  subFlowId: string;
  subFlowVersion: string;
  /** A SUB_FLOW's input as JSON text. */
  input: string;
  timeoutMs: string;
  onTimeout: 'FAIL' | 'SUCCESS';
  taskIds: number[];
  completion: 'ANY' | 'ALL' | 'N';
  n: string;
  key: string;
  after: string;
  pick: string;
}
