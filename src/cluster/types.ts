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
  /** RUNNING task instances Redis did not know: leased again (or put back). */
  released: number;
  /** RUNNING flow instances with nothing queued or in flight: advanced. */
  advanced: number;
}

export interface Cluster {
  readonly memberId: string;
  isLeader(): boolean;
  members(): Promise<MemberInfo[]>;
  leader(): Promise<{ memberId: string | null; ttlMs: number }>;
  reconcileNow(): Promise<ReconcileReport>;
  /** Gives up leadership and membership. */
  stop(): Promise<void>;
}
