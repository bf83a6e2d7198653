// What the rest of the program may ask of the cluster layer (membership, leadership and the leader's
// duties). Implemented in cluster/index.ts.

export interface MemberInfo {
  id: string;
  roles: string[];
  host: string;
  pid: number;
  /** ISO times. */
  started: string;
  lastBeat: string;
  /** Task instances this member is running now. */
  running: number;
  leader: boolean;
}

export interface ReconcileReport {
  /** PENDING task instances MySQL has that Redis did not know: enqueued again. */
  requeued: number;
  /** RUNNING task instances Redis did not know: put back to PENDING (version + 1) and queued again. */
  released: number;
  /** RUNNING flow instances with nothing queued or in flight: advanced. */
  advanced: number;
}

/** Counters since this member started (for metrics); the leader-only ones count while it led. */
export interface ClusterStats {
  /** Elections this member won. */
  elections: number;
  reaper: { taken: number; requeued: number; failed: number };
  reconciler: ReconcileReport & { passes: number };
  /** Cron ticks: started, found started, of deleted flows, missed (not started in time), and now scheduled flows and waiting ticks. */
  cron: { fired: number; duplicates: number; failed: number; missed: number; scheduled: number; pending: number };
}

export interface Cluster {
  readonly memberId: string;
  isLeader(): boolean;
  members(): Promise<MemberInfo[]>;
  leader(): Promise<{ memberId: string | null; ttlMs: number }>;
  /**
   * One reconcile pass now, from the first row, on this member (leader or not: every write it makes is
   * version-checked or idempotent, so it is safe next to the leader's own passes).
   */
  reconcileNow(): Promise<ReconcileReport>;
  /** Counters for metrics (optional so that stand-ins need not provide it). */
  stats?(): ClusterStats;
  /** Gives up leadership and membership. */
  stop(): Promise<void>;
}
