// The rows decide() reads, as plain views (decide.ts and its control-flow helpers, decideControl.ts,
// both read them; kept apart so neither imports the other's types).

export interface NodeInsView {
  /** null for an instance this pass enters. */
  ni_id: number | null;
  node_id: number;
  status: string;
  error_msg: string | null;
  /** A waiting SIGNAL's due time (epoch ms), if it has a timeout. */
  due_ms?: number | null;
  /** A SUB_FLOW node instance's child, and the child's status and error (read with it). */
  child_fi_id?: number | null;
  child_status?: string | null;
  child_error?: string | null;
  /** A forEach node instance's number of items. */
  item_count?: number | null;
}

export interface TaskInsView {
  ti_id: number;
  ni_id: number;
  exec_status: string;
  error_msg: string | null;
  /** Which item of a forEach node it runs. */
  item_index?: number | null;
}

/** A flow instance as a pass reads it. */
export interface FiRow {
  fi_id: number;
  flow_id: number;
  flow_version: number;
  status: string;
  version: number;
  start_time: Date;
  /** A sub-flow's parent instance (null: started on its own), and its depth. */
  parent_fi_id?: number | null;
  depth?: number;
  /** 0-9; absent on rows made before priorities (read as 0). */
  priority?: number;
}
