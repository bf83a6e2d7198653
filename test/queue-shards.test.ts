// The work queue in shards (issue 20, phase 2: REDIS_QUEUE_SHARDS), on one real Redis: the layout and
// slots of the keys, and every method of the queue with 4 shards — claims across shards (fair, no id
// twice), leases in the right shard, flow control in a limited task's shard, the leader's scripts on
// every shard fenced by the shard's copy of the lease. test/cluster-mode.test.ts runs it on a cluster.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { WorkQueue } from '../src/queue/workQueue.js';
import { NotLeaderError } from '../src/queue/types.js';
import { homeShard, leaderKey, limitsKey, memberKey, queueKeys, taskLimitKeys, taskShard } from '../src/redis/keys.js';
import { keySlot } from '../src/redis/slot.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { freshPrefix, testRun } from './helpers/env.js';
import { waitFor } from './helpers/wait.js';

const S = 4;

describe('work queue in shards: keys and slots (no Redis)', () => {
  it('one shard is the single queue of phase 1 ({q}); shard n of several has the tag {q:n}', () => {
    const one = queueKeys('p:');
    expect([one.ready, one.inflight, one.owner, one.since, one.leader, one.limited, one.limits]).to.deep.equal(
      ['p:{q}:ready', 'p:{q}:inflight', 'p:{q}:inflight:owner', 'p:{q}:inflight:since', 'p:{q}:leader', 'p:{q}:limited', 'p:{q}:limits'],
    );
    expect(one.leader).to.equal(leaderKey('p:'));
    expect(one.limits).to.equal(limitsKey('p:'));
    expect(taskLimitKeys('p:', 7).slots).to.equal('p:{q}:{task:7}:slots');
    expect(queueKeys('p:', 3, 16).ready).to.equal('p:{q:3}:ready');
    expect(taskLimitKeys('p:', 35, 16).waiting).to.equal('p:{q:3}:{task:35}:waiting');
    expect(() => queueKeys('p:', 16, 16)).to.throw(RangeError);
    expect(() => queueKeys('p:', 0, 257)).to.throw(RangeError);
  });

  it('every key one script takes is in its shard\'s slot (a task\'s limit keys too), and 16 shards spread over slots', () => {
    const shardSlots = new Set<number>();
    for (let n = 0; n < 16; n++) {
      const k = queueKeys('p:', n, 16);
      const slots = new Set([k.ready, k.inflight, k.owner, k.since, k.leader, k.limited, k.limits, k.limitsWaiting, ...k.readyP].map(keySlot));
      expect(slots.size, `shard ${n}`).to.equal(1);
      shardSlots.add([...slots][0]);
      for (const taskId of [n, n + 16, n + 160]) {
        const t = taskLimitKeys('p:', taskId, 16);
        expect(new Set([t.slots, t.rate, t.waiting, k.ready].map(keySlot)).size, `task ${taskId}`).to.equal(1);
      }
    }
    expect(shardSlots.size).to.equal(16);
    expect(homeShard(37, 16)).to.equal(5);
    expect(taskShard(37, 16)).to.equal(5);
  });

  it('REDIS_QUEUE_SHARDS: 1-256, unset = by topology', () => {
    expect(loadConfig({}).redisQueueShards).to.equal(null);
    expect(loadConfig({ REDIS_QUEUE_SHARDS: '8' }).redisQueueShards).to.equal(8);
    for (const bad of ['0', '257', 'x', '1.5']) expect(() => loadConfig({ REDIS_QUEUE_SHARDS: bad }), bad).to.throw(ConfigError, /^REDIS_QUEUE_SHARDS/);
  });
});

describe(`work queue in shards (${S} shards, Redis)`, () => {
  const conns: Redis[] = [];
  const queues: WorkQueue[] = [];
  let redis: Redis;
  let q: WorkQueue;
  let prefix: string;

  function conn(): Redis {
    const r = new Redis(testRun.redisUrl);
    conns.push(r);
    return r;
  }
  function queue(r: Redis = redis): WorkQueue {
    const wq = new WorkQueue(r, prefix, S);
    queues.push(wq);
    return wq;
  }
  /** Per shard: the ids in its ready sets (every priority), or in flight. */
  const sizes = async (what: 'ready' | 'inflight') => Promise.all(Array.from({ length: S }, async (_, n) => {
    const k = queueKeys(prefix, n, S);
    const keys = what === 'ready' ? [k.ready, ...k.readyP] : [k.inflight];
    return (await Promise.all(keys.map((key) => redis.zcard(key)))).reduce((a, b) => a + b, 0);
  }));
  const lim = (concurrency: number) => ({ concurrency, rateMax: 0, ratePerMs: 0 });

  beforeEach(() => {
    prefix = freshPrefix();
    redis = conn();
    q = queue();
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((x) => x.close()));
    for (const r of conns.splice(0)) r.disconnect();
  });

  it('ids land in their home shard; 12 concurrent claimers get every id once, from every shard', async () => {
    const ids = Array.from({ length: 400 }, (_, i) => 1000 + i);
    await q.enqueue(ids.map((tiId) => ({ tiId })));
    expect(await sizes('ready')).to.deep.equal([100, 100, 100, 100]);
    const claimers = Array.from({ length: 12 }, (_, i) => ({ owner: `w${i}`, q: queue(conn()) }));
    const got = await Promise.all(claimers.map(async ({ owner, q: cq }) => {
      const mine: number[] = [];
      for (;;) {
        const r = await cq.claim(owner, 7, 30_000);
        if (!r.ids.length) return mine;
        mine.push(...r.ids);
      }
    }));
    const all = got.flat();
    expect(all.length).to.equal(400);
    expect([...new Set(all)].sort((a, b) => a - b)).to.deep.equal(ids);
    expect(await sizes('inflight')).to.deep.equal([100, 100, 100, 100]);
    const byId = new Map((await q.inflight(1000)).map((e) => [e.tiId, e.owner]));
    got.forEach((mine, i) => mine.forEach((id) => expect(byId.get(id)).to.equal(`w${i}`)));
    expect(await q.stats()).to.include({ ready: 0, inflight: 400 });
  });

  it('claims take turns over the shards: one id at a time, four claims drain four shards', async () => {
    await q.enqueue(Array.from({ length: 40 }, (_, i) => ({ tiId: i + 1, delayMs: -1000 })));
    const first = [];
    for (let i = 0; i < S; i++) first.push(...(await q.claim('w|1', 1, 30_000)).ids);
    expect(new Set(first.map((id) => homeShard(id, S))).size).to.equal(S);
    // A claim larger than one shard holds is filled from the others.
    const big = await q.claim('w|2', 30, 30_000);
    expect(big.ids).to.have.length(30);
    expect(big.nextDueInMs).to.equal(0);
    expect((await q.claim('w|2', 30, 30_000)).ids).to.have.length(6);
  });

  it('a shard found empty is asked again at a wake-up naming it, and delayed work sets nextDueInMs', async () => {
    expect(await q.claim('w|1', 5, 30_000)).to.deep.include({ ids: [], nextDueInMs: null });
    await q.waitForWork(1); // subscribes
    await waitFor('the subscription', async () => ((await redis.pubsub('NUMSUB', q.keys.wake)) as [string, number])[1] === 1);
    const other = queue(conn());
    await other.enqueue([{ tiId: 7, delayMs: 300 }]);
    await q.waitForWork(60_000); // the wake-up naming shard 3
    const early = await q.claim('w|1', 5, 30_000);
    expect(early.ids).to.deep.equal([]);
    expect(early.nextDueInMs).to.be.within(1, 300);
    // Shard 2 was found empty just now: only the wake-up (not a timeout, far beyond this test's) has it asked.
    const woken = q.waitForWork(3_600_000);
    await other.enqueue([{ tiId: 6 }]);
    await woken;
    expect((await q.claim('w|1', 5, 30_000)).ids).to.deep.equal([6]);
  });

  it('a claim asks the shard with the most urgent work first: a higher priority, then the oldest due', async () => {
    await q.enqueue(Array.from({ length: 40 }, (_, i) => ({ tiId: i + 1, delayMs: -1000 + i })));
    // Subscribes; its first look (work already due) wakes it. Waited for, so that this wake-up, which
    // names no shard, cannot arrive later and answer the wait below before the enqueue's own does.
    await q.waitForWork(10_000);
    await waitFor('the subscription', async () => ((await redis.pubsub('NUMSUB', q.keys.wake)) as [string, number])[1] === 1);
    expect((await q.claim('w|1', 4, 30_000)).ids).to.have.length(4);
    const other = queue(conn());
    const woken = q.waitForWork(3_600_000);
    await other.enqueue([{ tiId: 102, priority: 9 }, { tiId: 107, priority: 3 }]);
    await woken;
    expect((await q.claim('w|1', 1, 30_000)).ids).to.deep.equal([102]);
    expect((await q.claim('w|1', 1, 30_000)).ids).to.deep.equal([107]);
    // Then the oldest due first, whichever shard it is in: 40 ids, 4 claimed, in the order they came due.
    const rest: number[] = [];
    for (let i = 0; i < 8; i++) rest.push(...(await q.claim('w|1', 1, 30_000)).ids);
    expect(rest).to.have.length(8);
    expect(rest.every((id) => id <= 16), String(rest)).to.equal(true);
  });

  it('ack, requeue, extend and lease go to each id\'s shard; remove and known see every shard', async () => {
    await q.enqueue([1, 2, 3, 4, 5, 6].map((tiId) => ({ tiId })));
    const c = await q.claim('a', 6, 30_000);
    expect(c.ids.sort()).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(await q.ackMany([1, 2].map((tiId) => ({ tiId, owner: 'a' })))).to.equal(2);
    expect(await q.requeue([{ tiId: 3, owner: 'a', delayMs: 0 }])).to.equal(1);
    expect((await q.extend([4, 5, 6, 1].map((tiId) => ({ tiId, owner: 'a' })), 60_000)).map((l) => l.tiId)).to.deep.equal([1]);
    expect(await q.lease([10, 11], 'b', 30_000)).to.equal(2);
    expect(await sizes('inflight')).to.deep.equal([1, 1, 2, 1]); // 4; 5; 6 and 10; 11
    expect([...(await q.known([1, 3, 4, 10, 99]))].sort((x, y) => x - y)).to.deep.equal([3, 4, 10]);
    await q.remove([3, 4, 10]);
    expect([...(await q.known([3, 4, 10, 5]))]).to.deep.equal([5]);
    expect(await q.stats()).to.include({ ready: 0, inflight: 3 });
  });

  it('a limited task\'s ids live in its shard: concurrency holds over ids of every home shard, an ack starts the next', async () => {
    const task = 6; // shard 2
    await q.setLimits(new Map([[task, lim(2)]]));
    for (let n = 0; n < S; n++) expect(await redis.hgetall(queueKeys(prefix, n, S).limits), `shard ${n}'s copy`).to.deep.equal({ [task]: '2:0:0' });
    // Another member's view (no limits read yet): home shards answer the ids back, they go to shard 2.
    await queue(conn()).enqueue([1, 2, 3, 4, 5].map((tiId) => ({ tiId, taskId: task, delayMs: -1000 + 100 * tiId })));
    expect(await sizes('ready')).to.deep.equal([0, 0, 5, 0]);
    const a = await q.claim('w|1', 10, 30_000);
    expect(a.ids).to.deep.equal([1, 2]);
    expect(await q.limitWaits()).to.deep.equal([{ taskId: task, waiting: 3, running: 2, limits: lim(2) }]);
    expect([...(await q.known([3, 4, 5]))].sort()).to.deep.equal([3, 4, 5]);
    // The leases are in shard 2, not in 1's and 2's home shards: ack and extend find them there.
    expect(await q.extend([{ tiId: 1, owner: 'w|1' }], 30_000)).to.deep.equal([]);
    expect(await q.ackMany([{ tiId: 1, owner: 'w|1' }])).to.equal(1);
    expect((await q.claim('w|2', 10, 30_000)).ids).to.deep.equal([3]);
    await q.remove([5]);
    expect(await q.limitWaits()).to.deep.equal([{ taskId: task, waiting: 1, running: 2, limits: lim(2) }]);
    // leaseLimited takes the task's slot in its shard; a requeue of that lease goes back there.
    expect(await q.ackMany([{ tiId: 2, owner: 'w|1' }, { tiId: 3, owner: 'w|2' }])).to.equal(2);
    expect((await q.claim('w|3', 10, 30_000)).ids).to.deep.equal([4]);
    expect(await q.leaseLimited([{ tiId: 9, taskId: task }, { tiId: 13, taskId: task }], 'w|4', 30_000)).to.deep.equal([13]);
    expect(await q.requeue([{ tiId: 9, owner: 'w|4', delayMs: 0 }])).to.equal(1);
    expect(await sizes('ready')).to.deep.equal([0, 0, 1, 0]); // back in its task's shard, not its home (1)
  });

  it('ids queued before their task got limits move to its shard (markLimited), and wait there', async () => {
    await q.enqueue([1, 2, 3, 4].map((tiId) => ({ tiId, taskId: 7, delayMs: -10 * tiId, priority: tiId === 4 ? 5 : 0 })));
    expect(await sizes('ready')).to.deep.equal([1, 1, 1, 1]);
    await q.setLimits(new Map([[7, lim(1)]]));
    await q.markLimited([1, 2, 3, 4].map((tiId) => ({ tiId, taskId: 7 })));
    expect(await sizes('ready')).to.deep.equal([0, 0, 0, 4]);
    expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([4]); // its priority kept
    expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([]);
    expect(await q.setLimits(new Map())).to.deep.equal({ added: [], changed: [], removed: [7] });
    expect(await q.pumpLimits(false)).to.equal(3);
    expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([3, 2, 1]);
  });

  it('the leader\'s scripts run on every shard, each fenced by its copy of the lease', async () => {
    await q.enqueue([1, 2, 3].map((tiId) => ({ tiId })));
    await q.claim('short', 3, 50);
    await q.enqueue([{ tiId: 4 }]);
    await q.claim('long', 1, 60_000);
    await new Promise((r) => setTimeout(r, 100));
    const notLeader = async (p: Promise<unknown>) => {
      let err: unknown;
      try {
        await p;
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(NotLeaderError);
    };
    await redis.set(leaderKey(prefix), 'me|1', 'PX', 60_000);
    await notLeader(q.expiredLeases('me|1', 10)); // the shards have no copy yet
    await q.copyFence('me|1', 60_000, true);
    const expired = await q.expiredLeases('me|1', 10);
    expect(expired.map((e) => [e.tiId, e.shard]).sort()).to.deep.equal([[1, 1], [2, 2], [3, 3]]);
    expect(await q.expiredLeases('me|1', 2)).to.have.length(2);
    expect(await q.settleExpired('me|1', expired.map((entry) => ({ entry, requeue: entry.tiId !== 1 })))).to.equal(3);
    expect(await q.stats()).to.include({ ready: 2, inflight: 1 });
    // A stale leader's late copy leaves the new leader's alone; the new leader's is the fence now.
    await q.copyFence('you|2', 60_000, true);
    await q.copyFence('me|1', 60_000, false);
    await notLeader(q.expiredLeases('me|1', 10));
    await notLeader(q.settleExpired('me|1', [{ entry: { tiId: 4, owner: 'long', claimedAt: 0, leaseDeadline: 0, shard: 0 }, requeue: true }]));
    // Orphans: the leases of a member without a heartbeat, on every shard.
    await redis.set(memberKey(prefix, 'alive'), '{}', 'PX', 60_000);
    expect(await q.ackMany([{ tiId: 4, owner: 'long' }])).to.equal(1);
    expect((await q.claim('dead|t', 2, 60_000)).ids.sort()).to.deep.equal([2, 3]);
    await q.lease([8], 'alive|t', 60_000);
    await notLeader(q.expireOrphans('me|1', 0));
    expect(await q.expireOrphans('you|2', 0)).to.deep.equal({ expired: 2, goneMembers: ['dead'] });
    expect((await q.expiredLeases('you|2', 10)).map((e) => e.tiId).sort()).to.deep.equal([2, 3]);
  });
});
