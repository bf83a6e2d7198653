// Membership and leadership, seen through the Cluster interface of in-process members and through the
// Redis keys, with one real child process to show pids and a graceful SIGTERM.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { freshPrefix } from './helpers/env.js';
import { FAST, Processes, type MemberProc } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';

describe('cluster: membership and leadership', function () {
  this.timeout(60_000);
  const prefix = freshPrefix();
  const procs = new Processes(prefix);
  let a: TestMember;
  let b: TestMember;
  let c: MemberProc;
  const stopped = new Set<TestMember>();
  const stop = async (m: TestMember) => {
    if (stopped.has(m)) return;
    stopped.add(m);
    await m.stop(1000);
  };

  before(async () => {
    a = await startTestMember({ ...FAST, REDIS_PREFIX: prefix, ROLES: 'web', MEMBER_ID: 'mem-a' });
    b = await startTestMember({ ...FAST, REDIS_PREFIX: prefix, ROLES: 'worker', MEMBER_ID: 'mem-b' });
    c = await procs.start({ id: 'mem-c', roles: 'worker' });
  });
  after(async () => {
    await Promise.all([a && stop(a), b && stop(b)]);
    await procs.killAll();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(procs.dump());
  });

  it('a member whose REDIS_QUEUE_SHARDS differs from the live members\' refuses to start, naming it', async () => {
    const shards = a.services.queue.shards;
    let err: unknown;
    try {
      const m = await startTestMember({ ...FAST, REDIS_PREFIX: prefix, ROLES: 'worker', MEMBER_ID: 'mem-x', REDIS_QUEUE_SHARDS: String(shards === 4 ? 8 : 4) });
      await m.stop(100);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(new RegExp(`REDIS_QUEUE_SHARDS: the members running on REDIS_PREFIX .* use a work queue of ${shards} shard\\(s\\), this member ${shards === 4 ? 8 : 4}`));
  });

  it('members() lists every live member with its roles, host and pid, and marks the one leader', async () => {
    const list = await waitFor('three members', async () => {
      const l = await b.cluster.members();
      return l.length === 3 ? l : null;
    });
    expect(list.map((m) => m.id)).to.deep.equal(['mem-a', 'mem-b', 'mem-c']);
    const [ma, mb, mc] = list;
    expect(ma).to.include({ pid: process.pid, leader: true });
    expect(ma.roles).to.deep.equal(['web']);
    expect(mb).to.include({ pid: process.pid, leader: false, running: 0 });
    expect(mb.roles).to.deep.equal(['worker']);
    expect(mc).to.include({ pid: c.pid, leader: false });
    expect(mc.roles).to.deep.equal(['worker']);
    for (const m of list) {
      expect(m.host).to.be.a('string').and.not.equal('');
      expect(Date.parse(m.started)).to.be.at.most(Date.parse(m.lastBeat));
      expect(Date.now() - Date.parse(m.lastBeat)).to.be.below(5_000);
    }
    // Exactly one leader, and every member agrees on who it is.
    expect([a, b].filter((m) => m.cluster.isLeader()).map((m) => m.cluster.memberId)).to.deep.equal(['mem-a']);
    for (const m of [a, b]) {
      const l = await m.cluster.leader();
      expect(l.memberId).to.equal('mem-a');
      expect(l.ttlMs).to.be.within(1, Number(FAST.LEADER_TTL_MS));
    }
    expect(await procs.leader()).to.equal('mem-a');
    // The lease is kept: still the same leader well past its TTL.
    await new Promise((r) => setTimeout(r, 2 * Number(FAST.LEADER_TTL_MS)));
    expect((await a.cluster.leader()).memberId).to.equal('mem-a');
    expect(a.cluster.isLeader()).to.equal(true);
    expect(b.cluster.isLeader()).to.equal(false);
  });

  it('SIGTERM: a member exits 0 and leaves the list at once (not after its heartbeat TTL)', async () => {
    const t0 = Date.now();
    c.kill('SIGTERM');
    const { code } = await c.exited;
    expect(code, c.output().slice(-3000)).to.equal(0);
    expect(Date.now() - t0).to.be.below(Number(FAST.SHUTDOWN_GRACE_MS) + 5_000);
    expect(c.output()).to.match(/"msg":"left the cluster"/);
    expect((await a.cluster.members()).map((m) => m.id)).to.deep.equal(['mem-a', 'mem-b']);
  });

  it('stop(): the leader hands over at once and disappears; the other member leads', async () => {
    const t0 = Date.now();
    await stop(a);
    await waitFor('mem-b to lead', async () => b.cluster.isLeader(), 10_000);
    // Released, not expired: taken on the next try (every ttl/3), well inside one TTL.
    expect(Date.now() - t0).to.be.below(Number(FAST.LEADER_TTL_MS) + 1_000);
    expect((await b.cluster.leader()).memberId).to.equal('mem-b');
    const list = await b.cluster.members();
    expect(list.map((m) => [m.id, m.leader])).to.deep.equal([['mem-b', true]]);
    expect(b.cluster.stats?.().elections).to.equal(1);
  });

  it('a killed member ages out of the list after its heartbeat TTL', async () => {
    const d = await procs.start({ id: 'mem-d', roles: 'worker' });
    await waitFor('mem-d listed', async () => (await b.cluster.members()).some((m) => m.id === 'mem-d'));
    d.kill('SIGKILL');
    await d.exited;
    const t0 = Date.now();
    await waitFor('mem-d gone', async () => !(await b.cluster.members()).some((m) => m.id === 'mem-d'), 10_000);
    expect(Date.now() - t0).to.be.below(3 * Number(FAST.HEARTBEAT_MS) + 1_000);
    expect(b.cluster.isLeader()).to.equal(true);
  });
});
