// Placeholder until the cluster duties land (issue 4): a member that is alone and leads nothing.
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Cluster } from './types.js';

export async function startCluster(s: Services, _engine: Engine): Promise<Cluster> {
  return {
    memberId: s.memberId,
    isLeader: () => false,
    members: async () => [],
    leader: async () => ({ memberId: null, ttlMs: 0 }),
    reconcileNow: async () => ({ requeued: 0, released: 0, advanced: 0 }),
    stop: async () => {},
  };
}
