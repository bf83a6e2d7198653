// The Redis work queue against a real Redis: every test gets an empty queue of its own (freshPrefix).
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { WorkQueue } from '../src/queue/workQueue.js';
import { NotLeaderError } from '../src/queue/types.js';
import { memberKey, queueKeys } from '../src/redis/keys.js';
import { PrivateRedis } from './helpers/privateServices.js';
import { freshPrefix, testRun } from './helpers/env.js';

describe('work queue (Redis)', () => {
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
  function queue(r: Redis = redis, p: string = prefix): WorkQueue {
    const wq = new WorkQueue(r, p);
    queues.push(wq);
    return wq;
  }
  /** The Redis server's clock, as the scripts see it. */
  async function redisNow(): Promise<number> {
    const [s, us] = await redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  }

  beforeEach(() => {
    prefix = freshPrefix();
    redis = conn();
    q = queue();
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((x) => x.close()));
    for (const r of conns.splice(0)) r.disconnect();
  });

  it('keeps delayed items back until they are due, then hands them out', async () => {
    await q.enqueue([{ tiId: 1, delayMs: 400 }, { tiId: 2 }]);
    const first = await q.claim('w1', 10, 30_000);
    expect(first.ids).to.deep.equal([2]);
    expect(first.nextDueInMs).to.be.within(1, 400);
    const early = await q.claim('w1', 10, 30_000);
    expect(early.ids).to.deep.equal([]);
    await new Promise((r) => setTimeout(r, early.nextDueInMs! + 20));
    const late = await q.claim('w1', 10, 30_000);
    expect(late.ids).to.deep.equal([1]);
    expect(late.nextDueInMs).to.equal(null);
  });

  describe('priority', () => {
    it('claims due ids of a higher priority first, FIFO within one priority, across the ready sets', async () => {
      await q.enqueue([{ tiId: 1, delayMs: -300 }, { tiId: 2, delayMs: -200 }, { tiId: 3, delayMs: -100, priority: 5 }, { tiId: 4, delayMs: -50, priority: 9 }, { tiId: 5, delayMs: -400, priority: 5 }]);
      expect((await q.claim('w1', 2, 30_000)).ids).to.deep.equal([4, 5]);
      expect((await q.claim('w1', 2, 30_000)).ids).to.deep.equal([3, 1]);
      expect((await q.claim('w1', 5, 30_000)).ids).to.deep.equal([2]);
    });

    it('keeps a delayed high-priority id back until it is due (nextDueInMs counts it), then serves it first', async () => {
      await q.enqueue([{ tiId: 1, delayMs: 300, priority: 9 }, { tiId: 2, delayMs: 1_000 }]);
      const early = await q.claim('w1', 10, 30_000);
      expect(early.ids).to.deep.equal([]);
      expect(early.nextDueInMs).to.be.within(1, 300);
      await q.enqueue([{ tiId: 3, delayMs: -5_000 }]);
      expect((await q.claim('w1', 10, 30_000)).ids).to.deep.equal([3]);
      await new Promise((r) => setTimeout(r, 350));
      expect((await q.claim('w1', 10, 30_000)).ids).to.deep.equal([1]);
    });

    it('a requeued or reaped id goes back to its priority; stats, known and remove see every ready set', async () => {
      await q.enqueue([{ tiId: 7, priority: 3 }, { tiId: 8 }]);
      const s = await q.stats();
      expect([s.ready, s.dueNow]).to.deep.equal([2, 2]);
      expect([...(await q.known([7, 8, 9]))].sort()).to.deep.equal([7, 8]);
      expect((await q.claim('a', 1, 30_000)).ids).to.deep.equal([7]);
      expect(await q.requeue([{ tiId: 7, owner: 'a', delayMs: 0, priority: 3 }])).to.equal(1);
      await q.enqueue([{ tiId: 10, delayMs: -60_000 }]);
      expect((await q.claim('b', 1, 30_000)).ids).to.deep.equal([7]); // ahead of an older priority-0 id
      await q.remove([7, 10]);
      expect((await q.stats()).ready).to.equal(1);
      expect((await q.claim('c', 5, 30_000)).ids).to.deep.equal([8]);
    });
  });

  describe('task limits (flow control)', () => {
    const lim = (concurrency: number, rateMax = 0, ratePerMs = 0) => ({ concurrency, rateMax, ratePerMs });

    it('claims at most `concurrency` ids of a limited task; the rest wait in order and an ack starts the next', async () => {
      await q.setLimits(new Map([[5, lim(2)]]));
      await q.enqueue([1, 2, 3, 4].map((tiId) => ({ tiId, taskId: 5, delayMs: -100 + tiId })).concat([{ tiId: 9, taskId: 6, delayMs: 0 }]));
      const a = await q.claim('w|1', 10, 30_000);
      expect(a.ids).to.deep.equal([1, 2, 9]); // 3 and 4 wait; task 6 has no limits
      expect(await q.limitWaits()).to.deep.equal([{ taskId: 5, waiting: 2, running: 2, limits: lim(2) }]);
      expect((await q.claim('w|2', 10, 30_000)).ids).to.deep.equal([]);
      expect([...(await q.known([3, 4]))].sort()).to.deep.equal([3, 4]); // waiting ids are known (no reconciler double)
      await q.enqueue([{ tiId: 3, taskId: 5 }]); // already waiting: left there
      expect(await q.ackMany([{ tiId: 1, owner: 'w|1' }])).to.equal(1);
      expect((await q.claim('w|3', 10, 30_000)).ids).to.deep.equal([3]);
      await q.remove([4]); // a cancel takes a waiting id out of its line
      expect(await q.limitWaits()).to.deep.equal([]);
    });

    it('a reaped lease gives its slot back; a requeue too, and the requeued id waits its turn again', async () => {
      await redis.set(queueKeys(prefix).leader, 'me|1');
      await q.setLimits(new Map([[5, lim(1)]]));
      await q.enqueue([{ tiId: 1, taskId: 5, delayMs: -10 }, { tiId: 2, taskId: 5 }]);
      expect((await q.claim('gone|1', 10, 1)).ids).to.deep.equal([1]);
      await new Promise((r) => setTimeout(r, 10));
      const expired = await q.expiredLeases('me|1', 10);
      expect(await q.settleExpired('me|1', expired.map((entry) => ({ entry, requeue: true })))).to.equal(1);
      // Slot free: 2 was moved back to ready ahead of the requeued 1 (its ready score is older now).
      expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([2]);
      expect(await q.requeue([{ tiId: 2, owner: 'w|1', delayMs: 0 }])).to.equal(1);
      const next = await q.claim('w|2', 10, 30_000);
      expect(next.ids).to.have.length(1);
    });

    it('leaseLimited (continued runs) takes slots like a claim and answers the ids refused, which are not leased', async () => {
      await q.setLimits(new Map([[5, lim(1)]]));
      expect(await q.leaseLimited([{ tiId: 1, taskId: 5 }, { tiId: 2, taskId: 5 }, { tiId: 3, taskId: 6 }], 'w|1', 30_000)).to.deep.equal([2]);
      expect((await q.inflight(10)).map((e) => e.tiId).sort()).to.deep.equal([1, 3]);
      expect(await q.leaseLimited([{ tiId: 1, taskId: 5 }], 'w|1', 30_000)).to.deep.equal([]); // sent twice: still ours
      await q.enqueue([{ tiId: 2, taskId: 5 }]);
      expect((await q.claim('w|2', 10, 30_000)).ids).to.deep.equal([]); // 1 holds the only slot
      expect(await q.ackMany([{ tiId: 1, owner: 'w|1' }])).to.equal(1);
      expect((await q.claim('w|2', 10, 30_000)).ids).to.deep.equal([2]);
    });

    it('WORKER ids queued before their task got limits are listed in their external queue; a removed limit lets the waiting through', async () => {
      await q.enqueue([1, 2, 3].map((tiId) => ({ tiId, taskId: 9, queue: 'wl', delayMs: -10 })));
      await q.setLimits(new Map([[9, lim(1)]]));
      await q.markLimited([1, 2, 3].map((tiId) => ({ tiId, taskId: 9, queue: 'wl' })));
      const first = await q.external.claim('wl', ['t1', 't2', 't3'], 30_000);
      expect(first.leases.map((l) => l.tiId)).to.deep.equal([1]);
      expect(await q.external.known([2, 3].map((tiId) => ({ tiId, queue: 'wl' })))).to.deep.equal(new Set([2, 3])); // waiting, still known
      expect(await q.external.release([{ queue: 'wl', tiId: 1, token: 't1', delayMs: -1 }])).to.equal(1);
      expect((await q.external.claim('wl', ['t4', 't5'], 30_000)).leases.map((l) => l.tiId)).to.deep.equal([2]);
      await q.setLimits(new Map()); // the leader's pass deletes the queue's copy
      expect((await q.external.claim('wl', ['t6'], 30_000)).leases.map((l) => l.tiId)).to.deep.equal([3]);
    });

    it('a rate limit lets `rateMax` starts through per window; the pump lets the waiting ones through when it opens', async () => {
      await q.setLimits(new Map([[7, lim(0, 2, 300)]]));
      await q.enqueue([1, 2, 3, 4, 5].map((tiId) => ({ tiId, taskId: 7, delayMs: -100 + tiId })));
      expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([1, 2]);
      await q.ackMany([{ tiId: 1, owner: 'w|1' }, { tiId: 2, owner: 'w|1' }]);
      expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([]); // the window is used up, acks or not
      expect(await q.pumpLimits(false)).to.equal(0);
      await new Promise((r) => setTimeout(r, 320));
      expect(await q.pumpLimits(false)).to.equal(2);
      expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([3, 4]);
    });

    it('removing or raising a limit lets the waiting ids go at the next pump; ids queued before a limit are marked by the caller', async () => {
      await q.setLimits(new Map([[5, lim(1)]]));
      await q.enqueue([1, 2, 3].map((tiId) => ({ tiId, taskId: 5, delayMs: -100 + tiId })));
      expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([1]);
      expect(await q.setLimits(new Map([[5, lim(3)]]))).to.deep.equal({ added: [], changed: [5], removed: [] });
      expect(await q.pumpLimits(false)).to.equal(2);
      expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([2, 3]);
      await q.enqueue([{ tiId: 8, taskId: 6 }, { tiId: 9, taskId: 6 }]);
      await q.setLimits(new Map([[5, lim(3)], [6, lim(1)]]));
      await q.markLimited([{ tiId: 8, taskId: 6 }, { tiId: 9, taskId: 6 }]);
      expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([8]);
      expect((await q.setLimits(new Map())).removed.sort()).to.deep.equal([5, 6]);
      expect(await q.pumpLimits(true)).to.equal(1);
      expect((await q.claim('w|1', 10, 30_000)).ids).to.deep.equal([9]);
    });
  });

  it('claims at most max ids, earliest due first, and reports 0 when more are due', async () => {
    await q.enqueue([{ tiId: 10, delayMs: -100 }, { tiId: 11, delayMs: -300 }, { tiId: 12, delayMs: -200 }, { tiId: 13 }]);
    const a = await q.claim('w1', 2, 30_000);
    expect(a.ids).to.deep.equal([11, 12]);
    expect(a.nextDueInMs).to.equal(0);
    const b = await q.claim('w1', 5, 30_000);
    expect(b.ids).to.deep.equal([10, 13]);
    expect(b.nextDueInMs).to.equal(null);
  });

  it('20 concurrent claimers over 500 ids never get an id twice and together get them all', async () => {
    const ids = Array.from({ length: 500 }, (_, i) => 1000 + i);
    await q.enqueue(ids.map((tiId) => ({ tiId })));
    const claimers = Array.from({ length: 20 }, (_, i) => ({ owner: `w${i}`, q: queue(conn()) }));
    const got = await Promise.all(
      claimers.map(async ({ owner, q: cq }) => {
        const mine: number[] = [];
        for (;;) {
          const r = await cq.claim(owner, 7, 30_000);
          if (!r.ids.length) return mine;
          mine.push(...r.ids);
        }
      }),
    );
    const all = got.flat();
    expect(all.length).to.equal(500);
    expect(new Set(all).size).to.equal(500);
    expect([...all].sort((x, y) => x - y)).to.deep.equal(ids);
    expect(got.filter((g) => g.length > 0).length).to.be.greaterThan(1);
    const owners = await q.inflight(1000);
    const byId = new Map(owners.map((e) => [e.tiId, e.owner]));
    got.forEach((mine, i) => mine.forEach((id) => expect(byId.get(id)).to.equal(`w${i}`)));
  });

  it('acks a lease only for the owner that holds it', async () => {
    await q.enqueue([{ tiId: 5 }]);
    expect((await q.claim('owner-a', 1, 30_000)).ids).to.deep.equal([5]);
    expect(await q.ackMany([{ tiId: 5, owner: 'owner-b' }])).to.equal(0);
    expect((await q.stats()).inflight).to.equal(1);
    expect(await q.ackMany([{ tiId: 5, owner: 'owner-a' }])).to.equal(1);
    expect(await q.ackMany([{ tiId: 5, owner: 'owner-a' }])).to.equal(0);
    const s = await q.stats();
    expect(s.inflight).to.equal(0);
    expect(s.ready).to.equal(0);
    expect(await redis.hlen(queueKeys(prefix).owner)).to.equal(0);
    expect(await redis.hlen(queueKeys(prefix).since)).to.equal(0);
  });

  it('two claims of one member are two owners: one cannot ack or extend the other\'s lease', async () => {
    await q.enqueue([{ tiId: 9 }]);
    await q.claim('m|first', 1, 300);
    await new Promise((r) => setTimeout(r, 350)); // expired: the reaper would hand it out again
    await q.remove([9]);
    await q.enqueue([{ tiId: 9 }]);
    await q.claim('m|second', 1, 30_000);
    expect(await q.extend([{ tiId: 9, owner: 'm|first' }], 30_000)).to.deep.equal([{ tiId: 9, owner: 'm|first' }]);
    expect(await q.ackMany([{ tiId: 9, owner: 'm|first' }])).to.equal(0);
    expect((await q.inflight(10)).map((e) => e.owner)).to.deep.equal(['m|second']);
  });

  it('requeue releases the lease and puts the id back after the delay', async () => {
    await q.enqueue([{ tiId: 6 }]);
    await q.claim('a', 1, 30_000);
    expect(await q.requeue([{ tiId: 6, owner: 'b', delayMs: 0 }])).to.equal(0);
    const before = await redisNow();
    expect(await q.requeue([{ tiId: 6, owner: 'a', delayMs: 5_000 }])).to.equal(1);
    expect((await q.stats()).inflight).to.equal(0);
    const score = Number(await redis.zscore(queueKeys(prefix).ready, '6'));
    expect(score).to.be.within(before + 5_000, before + 5_000 + 1_000);
    const c = await q.claim('a', 1, 30_000);
    expect(c.ids).to.deep.equal([]);
    expect(c.nextDueInMs).to.be.within(4_000, 5_000);
    expect(await q.requeue([{ tiId: 6, owner: 'a', delayMs: 0 }])).to.equal(0); // not held any more
  });

  it('extend keeps a lease alive, reports the ones the owner lost, and never revives an expired lease', async () => {
    await q.enqueue([{ tiId: 1 }, { tiId: 2 }, { tiId: 3 }, { tiId: 4 }]);
    await q.claim('a', 2, 300); // 1 and 2
    await q.claim('b', 1, 300); // 3
    await q.claim('a', 1, 100); // 4
    await q.ackMany([{ tiId: 2, owner: 'a' }]);
    await new Promise((r) => setTimeout(r, 150)); // 4's lease is over
    const leases = [1, 2, 3, 4].map((tiId) => ({ tiId, owner: 'a' }));
    const lost = await q.extend(leases, 60_000);
    expect(lost.map((l) => l.tiId)).to.deep.equal([2, 3, 4]);
    const left = await q.inflight(10);
    expect(left.map((e) => e.tiId)).to.deep.equal([4, 3, 1]);
    expect(left[2].leaseDeadline).to.be.greaterThan((await redisNow()) + 55_000);
  });

  describe('leader-only operations (the reaper\'s), fenced by the leader lease', () => {
    const lead = async (value: string) => redis.set(queueKeys(prefix).leader, value, 'PX', 60_000);

    it('expiredLeases lists expired leases without taking them; settleExpired takes them only if unchanged', async () => {
      await lead('me|1');
      await q.enqueue([{ tiId: 1 }, { tiId: 2 }, { tiId: 3 }]);
      const t0 = await redisNow();
      await q.claim('short', 2, 50); // 1, 2
      await q.claim('long', 1, 60_000); // 3
      expect(await q.expiredLeases('me|1', 10)).to.deep.equal([]);
      await new Promise((r) => setTimeout(r, 100));
      const expired = await q.expiredLeases('me|1', 10);
      expect(expired.map((e) => e.tiId)).to.deep.equal([1, 2]);
      expect(expired[0].owner).to.equal('short');
      expect(expired[0].claimedAt).to.be.within(t0, t0 + 1_000);
      expect(expired[0].leaseDeadline).to.equal(expired[0].claimedAt + 50);
      expect((await q.expiredLeases('me|1', 1)).length).to.equal(1);
      expect((await q.stats()).inflight).to.equal(3); // still there until settled

      // 2 changed hands since it was listed: settling leaves the new lease alone.
      await q.ackMany([{ tiId: 2, owner: 'short' }]);
      await q.enqueue([{ tiId: 2 }]);
      await q.claim('other', 1, 60_000);
      expect(await q.settleExpired('me|1', expired.map((entry) => ({ entry, requeue: true })))).to.equal(1);
      expect((await q.inflight(10)).map((e) => [e.tiId, e.owner])).to.deep.equal([[3, 'long'], [2, 'other']]);
      expect((await q.claim('next', 10, 1000)).ids).to.deep.equal([1]); // requeued
      expect(await redis.hexists(queueKeys(prefix).owner, '1')).to.equal(1); // now next's
    });

    it('a caller that does not hold the leader lease gets NotLeaderError and changes nothing', async () => {
      await lead('someone-else|9');
      await q.enqueue([{ tiId: 1 }]);
      await q.claim('short', 1, 10);
      await new Promise((r) => setTimeout(r, 50));
      for (const call of [
        () => q.expiredLeases('me|1', 10),
        () => q.settleExpired('me|1', [{ entry: { tiId: 1, owner: 'short', claimedAt: 0, leaseDeadline: 0 }, requeue: true }]),
        () => q.expireOrphans('me|1', 0),
      ]) {
        let err: unknown;
        try {
          await call();
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(NotLeaderError);
      }
      expect((await q.inflight(10)).map((e) => e.tiId)).to.deep.equal([1]);
    });

    it('expireOrphans makes the leases of members without a heartbeat expire now, and leaves live members\' alone', async () => {
      await lead('me|1');
      await redis.set(memberKey(prefix, 'alive'), '{}', 'PX', 60_000);
      await q.enqueue([1, 2, 3].map((tiId) => ({ tiId })));
      await q.claim('alive|t1', 1, 60_000); // 1
      await q.claim('dead|t2', 2, 60_000); // 2, 3
      expect((await q.expireOrphans('me|1', 60_000)).expired).to.equal(0); // too young to judge
      const r = await q.expireOrphans('me|1', 0);
      expect(r).to.deep.equal({ expired: 2, goneMembers: ['dead'] });
      expect((await q.expiredLeases('me|1', 10)).map((e) => e.tiId).sort()).to.deep.equal([2, 3]);
    });
  });

  it('under maxmemory (noeviction), scripts that only move or delete still run and those that add refuse whole', async function () {
    // A private Redis: a full shared one would hurt everyone else.
    const priv = await PrivateRedis.start();
    try {
      const r = new Redis(priv.url);
      conns.push(r);
      const pq = queue(r, 'oom:');
      await pq.enqueue([1, 2, 3, 4].map((tiId) => ({ tiId })));
      await pq.claim('w|1', 1, 60_000); // 1
      const used = Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1]);
      await r.config('SET', 'maxmemory-policy', 'noeviction');
      await r.config('SET', 'maxmemory', String(used - 1024 * 64));
      let refused: unknown;
      try {
        await pq.enqueue([{ tiId: 99 }]);
      } catch (e) {
        refused = e;
      }
      expect(String(refused)).to.match(/OOM/);
      expect(await pq.known([99])).to.deep.equal(new Set()); // nothing half-written
      expect((await pq.claim('w|2', 1, 60_000)).ids).to.deep.equal([2]); // moves are allowed
      expect(await pq.extend([{ tiId: 1, owner: 'w|1' }], 60_000)).to.deep.equal([]); // leases are kept
      expect(await pq.ackMany([{ tiId: 1, owner: 'w|1' }])).to.equal(1);
      expect(await pq.requeue([{ tiId: 2, owner: 'w|2', delayMs: 0 }])).to.equal(1);
      await r.config('SET', 'maxmemory', '0');
    } finally {
      await priv.stop();
    }
  });

  it('does not duplicate an id that is already in flight or already ready', async () => {
    await q.enqueue([{ tiId: 7 }, { tiId: 8, delayMs: 60_000 }]);
    await q.claim('a', 1, 30_000);
    await q.enqueue([{ tiId: 7 }, { tiId: 8 }]);
    const s = await q.stats();
    expect(s).to.include({ ready: 1, inflight: 1, dueNow: 0, delayed: 1 });
    expect((await q.claim('b', 10, 30_000)).ids).to.deep.equal([]);
    expect(await q.ackMany([{ tiId: 7, owner: 'a' }])).to.equal(1);
  });

  it('remove drops ids from ready and inflight', async () => {
    await q.enqueue([1, 2, 3].map((tiId) => ({ tiId })));
    await q.claim('a', 1, 30_000); // 1 (equal scores: by member)
    await q.remove([1, 2, 99]);
    expect([...(await q.known([1, 2, 3, 99]))]).to.deep.equal([3]);
    expect(await q.ackMany([{ tiId: 1, owner: 'a' }])).to.equal(0);
    expect(await q.stats()).to.include({ ready: 1, inflight: 0 });
  });

  it('known lists ids in ready or inflight', async () => {
    await q.enqueue([{ tiId: 21 }, { tiId: 22, delayMs: 60_000 }, { tiId: 23 }]);
    await q.claim('a', 1, 30_000);
    const k = await q.known([21, 22, 23, 24]);
    expect([...k].sort()).to.deep.equal([21, 22, 23]);
    expect((await q.known([])).size).to.equal(0);
  });

  it('stats and inflight listing describe the queue', async () => {
    expect(await q.stats()).to.deep.equal({ ready: 0, dueNow: 0, delayed: 0, inflight: 0, oldestWaitingMs: 0 });
    await q.enqueue([{ tiId: 1, delayMs: -2_000 }, { tiId: 2 }, { tiId: 3, delayMs: 60_000 }, { tiId: 4, delayMs: -5_000 }]);
    await q.claim('m1', 1, 10_000); // 4, the earliest
    const s = await q.stats();
    expect(s).to.include({ ready: 3, dueNow: 2, delayed: 1, inflight: 1 });
    expect(s.oldestWaitingMs).to.be.within(2_000, 3_000);
    await q.claim('m2', 1, 20_000); // 1
    const list = await q.inflight(10);
    expect(list.map((e) => [e.tiId, e.owner])).to.deep.equal([[4, 'm1'], [1, 'm2']]);
    for (const e of list) expect(e.leaseDeadline - e.claimedAt).to.equal(e.owner === 'm1' ? 10_000 : 20_000);
    expect(await q.inflight(1)).to.have.length(1);
  });

  describe('waitForWork', () => {
    it('resolves on an enqueue made through another connection and queue instance', async () => {
      const other = queue(conn());
      const t0 = Date.now();
      const waiting = q.waitForWork(20_000);
      const waiting2 = q.waitForWork(20_000); // several waiters in one process
      await other.enqueue([{ tiId: 42 }]);
      await Promise.all([waiting, waiting2]);
      expect(Date.now() - t0).to.be.below(5_000);
      expect((await q.claim('a', 1, 30_000)).ids).to.deep.equal([42]);
    });

    it('is woken by a wake-up published after it subscribed (not only by the initial check)', async () => {
      const other = queue(conn());
      await q.waitForWork(50); // subscribes; nothing due
      const t0 = Date.now();
      const waiting = q.waitForWork(20_000);
      await other.enqueue([{ tiId: 43, delayMs: 60_000 }]); // not due: only the published wake-up can end the wait
      await waiting;
      expect(Date.now() - t0).to.be.below(5_000);
    });

    it('resolves at the timeout when nothing comes', async () => {
      const t0 = Date.now();
      await q.waitForWork(300);
      const took = Date.now() - t0;
      expect(took).to.be.within(280, 2_000);
    });

    it('returns at once when woken before the call, until the next claim', async () => {
      const other = queue(conn());
      await q.waitForWork(50);
      const first = q.waitForWork(20_000);
      await other.enqueue([{ tiId: 44, delayMs: 60_000 }]);
      await first; // the wake-up has arrived
      let t0 = Date.now();
      await q.waitForWork(20_000);
      expect(Date.now() - t0).to.be.below(1_000);
      await q.claim('a', 1, 30_000); // clears it
      t0 = Date.now();
      await q.waitForWork(300);
      expect(Date.now() - t0).to.be.at.least(280);
    });

    it('returns when the signal aborts, and at once when already aborted', async () => {
      const ac = new AbortController();
      const t0 = Date.now();
      const waiting = q.waitForWork(20_000, ac.signal);
      setTimeout(() => ac.abort(), 50);
      await waiting;
      expect(Date.now() - t0).to.be.within(40, 5_000);
      const t1 = Date.now();
      await q.waitForWork(20_000, ac.signal);
      expect(Date.now() - t1).to.be.below(100);
    });

    it('close() releases waiters', async () => {
      const t0 = Date.now();
      const waiting = q.waitForWork(20_000);
      await new Promise((r) => setImmediate(r));
      await q.close();
      await waiting;
      expect(Date.now() - t0).to.be.below(5_000);
    });
  });
});
