// What the dashboard's Workers page shows (GET /monitor/workers): the external queues with their waiting,
// delayed and leased tasks and the oldest waiting (Redis), and the workers seen polling in the last
// minutes (the `wq:workers` hash, written at most every 5 s per worker and member) with the tasks each
// holds now (RUNNING WORKER task instances in MySQL, by worker id).
import type { Services } from '../../services.js';
import { formatTime } from '../../infra/time.js';
import type { PollHub } from './pollHub.js';

/** Workers whose last poll is older than this are not shown; older than a day, they are forgotten. */
const SEEN_WINDOW_MS = 10 * 60_000;
const FORGET_MS = 24 * 3600_000;
const MAX_QUEUES = 200;

export interface WorkersOverview {
  queues: { queue: string; waiting: number; delayed: number; leased: number; oldestWaitingMs: number; workers: number }[];
  workers: { workerId: string; queues: string[]; user: string | null; member: string | null; lastPoll: string | null; lastPollMsAgo: number; held: number }[];
  /** Polls the answering member holds waiting now. */
  pollsWaiting: number;
}

export async function workersOverview(s: Services, hub: PollHub): Promise<WorkersOverview> {
  const key = `${s.config.redisPrefix}wq:workers`;
  const [names, seenRaw, heldRows] = await Promise.all([
    s.queue.external.queues(),
    s.redis.hgetall(key),
    s.knex('task_ins as ti').join('task as t', 't.task_id', 'ti.task_id')
      .where('ti.exec_status', 'RUNNING').where('t.task_type', 'WORKER')
      .groupBy('ti.worker_id').select('ti.worker_id').count({ n: '*' }) as unknown as Promise<{ worker_id: string | null; n: number }[]>,
  ]);
  const now = Date.now();
  const held = new Map(heldRows.map((r) => [r.worker_id ?? '', Number(r.n)]));
  const workers: WorkersOverview['workers'] = [];
  const forget: string[] = [];
  for (const [id, raw] of Object.entries(seenRaw)) {
    let w: { queues?: string[]; user?: string; member?: string; lastPoll?: number };
    try {
      w = JSON.parse(raw);
    } catch {
      forget.push(id);
      continue;
    }
    const ago = now - (w.lastPoll ?? 0);
    if (ago > FORGET_MS) forget.push(id);
    if (ago > SEEN_WINDOW_MS && !held.get(id)) continue;
    workers.push({ workerId: id, queues: w.queues ?? [], user: w.user ?? null, member: w.member ?? null, lastPoll: formatTime(new Date(w.lastPoll ?? 0)), lastPollMsAgo: ago, held: held.get(id) ?? 0 });
  }
  if (forget.length) await s.redis.hdel(key, ...forget).catch(() => 0);
  workers.sort((a, b) => a.lastPollMsAgo - b.lastPollMsAgo || a.workerId.localeCompare(b.workerId));
  const stats = await Promise.all(names.slice(0, MAX_QUEUES).map((q) => s.queue.external.stats(q)));
  const queues = stats.map((st) => ({
    queue: st.queue,
    waiting: st.dueNow,
    delayed: st.ready - st.dueNow,
    leased: st.leased,
    oldestWaitingMs: st.oldestWaitingMs,
    workers: workers.filter((w) => w.lastPollMsAgo <= SEEN_WINDOW_MS && w.queues.includes(st.queue)).length,
  }));
  return { queues, workers, pollsWaiting: hub.waiting };
}
