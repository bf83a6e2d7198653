// Redis Cluster (issue 20): two members (real processes, web+worker) on a private Redis Cluster of 3
// masters and 3 replicas (REDIS_CLUSTER_NODES), with a database and prefix of their own. The original
// API's contract, a graph with data passing, the admin endpoints and /readyz on the cluster; the work
// queue in 16 shards (phase 2) spreads the commands over the three masters; then a failover: a master
// SIGKILLed mid-run (the one holding the leader lease and the limits table, `{q}`, and a third of the
// queue's shards) is replaced by its replica within seconds, and every flow ends SUCCESS with nothing
// recorded twice, no API answer is a 500, and the members stay up.
import { expect } from 'chai';
import type { Knex } from 'knex';
import { isolated } from './helpers/env.js';
import { createKnex } from '../src/infra/db.js';
import { Processes, type MemberProc } from './helpers/processes.js';
import { PrivateRedisCluster } from './helpers/privateCluster.js';
import { createFlow, createTask, detail, startFlow, waitForEnd } from './helpers/flows.js';
import { checkOutcome, midRun, report, rerunCount, sleep, startMany, waitAllEnded } from './helpers/faultRun.js';
import { waitFor } from './helpers/wait.js';
import { flowLockKey, leaderKey, memberKey, queueKeys } from '../src/redis/keys.js';
import { DEFAULT_CLUSTER_SHARDS } from '../src/queue/workQueue.js';
import { keySlot } from '../src/redis/slot.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { dependencyDown } from '../src/errors.js';

const TOKEN = 'cluster-admin-token';

describe('Redis Cluster: two members on a private cluster (issue 20)', function () {
  this.timeout(120_000);
  let cluster: PrivateRedisCluster;
  let procs: Processes;
  let knex: Knex;
  let prefix: string;
  let a: MemberProc;
  let b: MemberProc;

  before(async () => {
    cluster = await PrivateRedisCluster.start();
    const iso = isolated();
    prefix = iso.REDIS_PREFIX;
    procs = new Processes(prefix, { env: { DATABASE_URL: iso.DATABASE_URL, REDIS_CLUSTER_NODES: cluster.seeds, ADMIN_TOKEN: TOKEN, WORKER_CONCURRENCY: '16' } });
    knex = createKnex(iso.DATABASE_URL, 4);
    a = await procs.start({ id: 'rc-a', roles: 'web,worker' });
    b = await procs.start({ id: 'rc-b', roles: 'web,worker' });
  });
  after(async function () {
    await procs?.killAll();
    await knex?.destroy();
    await cluster?.stop();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(procs.dump());
  });

  const admin = (m: MemberProc, path: string) => m.api('GET', path, undefined, { authorization: `Bearer ${TOKEN}` });

  /** Per master port: total_commands_processed and the EVALSHA calls (the queue's scripts) so far. */
  const commandsByMaster = async (): Promise<Map<number, { total: number; evalsha: number }>> => {
    const out = new Map<number, { total: number; evalsha: number }>();
    for (const port of await cluster.masterPorts()) {
      const info = String(await cluster.command(port, 'INFO', 'all'));
      out.set(port, { total: Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0), evalsha: Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0) });
    }
    return out;
  };

  it('the keys one script touches share a slot, and the queue\'s shards are spread over every master (hash tags)', async () => {
    const shardSlots: number[] = [];
    for (let n = 0; n < DEFAULT_CLUSTER_SHARDS; n++) {
      const q = queueKeys(prefix, n, DEFAULT_CLUSTER_SHARDS);
      const slots = new Set([q.ready, q.inflight, q.owner, q.since, q.leader, q.limited, q.limits, ...q.readyP].map(keySlot));
      expect(slots.size, `the keys of shard ${n} in one slot`).to.equal(1);
      shardSlots.push([...slots][0]);
    }
    const masters = new Set(await Promise.all(shardSlots.map((slot) => cluster.masterOf(slot))));
    expect(masters.size, 'masters holding the queue\'s shards').to.equal(3);
    expect(keySlot(memberKey(prefix, 'x'))).to.equal(keySlot(memberKey(prefix, 'y')));
    const lockSlots = new Set(Array.from({ length: 50 }, (_, i) => keySlot(flowLockKey(prefix, i + 1))));
    expect(lockSlots.size, 'flow locks of 50 instances spread over slots').to.be.greaterThan(40);
  });

  it("the original API's contract: a chain flow started on one member ends SUCCESS, seen from the other", async () => {
    const t1 = await createTask(a.api, 'ECHO', 'hello', undefined, 'first task1');
    const t2 = await createTask(a.api, 'WAIT', '100', undefined, 'wait task1');
    const flowId = await createFlow(a.api, [[t1], [t2], [t1]]);
    const fiId = await startFlow(a.api, flowId);
    const row = await waitForEnd(b.api, fiId);
    expect(row.status).to.equal('SUCCESS');
    const nodes = await detail(b.api, fiId);
    expect(nodes.map((n) => [n.nodeType, n.status])).to.deep.equal([['START', 'SUCCESS'], ['TASK', 'SUCCESS'], ['TASK', 'SUCCESS'], ['TASK', 'SUCCESS'], ['END', 'SUCCESS']]);
    expect(nodes[1].tasks[0]).to.include({ taskId: t1, status: 'SUCCESS', output: 'hello', attempt: 1 });
  });

  it('a graph with data passing: branches side by side, a join, ${input…} and ${nodes.<key>.output…}', async () => {
    const hello = await createTask(a.api, 'ECHO', 'hello ${input.name}');
    const json = await createTask(a.api, 'ECHO', '{"id": 7}');
    const use = await createTask(a.api, 'ECHO', '${nodes.a.output}! id=${nodes.j.output.id}');
    const task = (nodeKey: string, id: number, prevNodes?: string[]) => ({ nodeType: 'TASK', nodeKey, taskIds: String(id), ...(prevNodes ? { prevNodes } : {}) });
    const saved = await a.api('POST', '/flow', { flowName: 'graph on a cluster', flowNodes: [{ nodeType: 'START' }, task('a', hello), task('j', json, ['n0']), task('u', use, ['a', 'j']), { nodeType: 'END' }] });
    expect(saved.status, saved.text).to.equal(200);
    const started = await b.api('POST', `/exec/flow/${saved.body.data.flowId}`, { input: { name: 'Ada' } });
    expect(started.status, started.text).to.equal(200);
    const fiId = started.body.data.fiId;
    expect((await waitForEnd(a.api, fiId)).status).to.equal('SUCCESS');
    const outputs = (await detail(a.api, fiId)).flatMap((n) => n.tasks ?? []).map((t: any) => t.output);
    expect(outputs).to.include.members(['hello Ada', 'hello Ada! id=7']);
  });

  it('admin endpoints read every master: members, leader, locks, inflight, queue; /readyz 200', async () => {
    const members = await admin(a, '/admin/members');
    expect(members.status, members.text).to.equal(200);
    expect(members.body.data.map((m: any) => m.id)).to.deep.equal(['rc-a', 'rc-b']);
    expect(members.body.data.filter((m: any) => m.leader)).to.have.length(1);
    const leader = await admin(b, '/admin/leader');
    expect(leader.status).to.equal(200);
    expect(['rc-a', 'rc-b']).to.include(leader.body.data.memberId);

    const wait = await createTask(a.api, 'WAIT', null, { waitMs: 3000 });
    const flowId = await createFlow(a.api, [[wait]]);
    const fiId = await startFlow(a.api, flowId);
    const inflight = await waitFor('the WAIT task in /admin/inflight', async () => {
      const r = await admin(b, '/admin/inflight');
      expect(r.status, r.text).to.equal(200);
      return r.body.data.find((e: any) => e.fiId === fiId) ?? null;
    });
    expect(['rc-a', 'rc-b']).to.include(inflight.worker);
    const queue = await admin(a, '/admin/queue');
    expect(queue.status).to.equal(200);
    expect(queue.body.data.inflight).to.be.at.least(1);
    const locks = await admin(a, '/admin/locks');
    expect(locks.status, locks.text).to.equal(200);
    expect(locks.body.data).to.be.an('array');
    for (const l of locks.body.data) expect(l.key.startsWith(`${prefix}lock:`), l.key).to.equal(true);

    // A lock on whichever master holds its slot is listed (SCAN on every master).
    const held = Array.from({ length: 6 }, (_, i) => flowLockKey(prefix, 990_000 + i));
    const masters = await cluster.masterPorts();
    expect(masters).to.have.length(3);
    const onMasters = new Set<number>();
    for (const key of held) {
      const port = (await cluster.masterOf(keySlot(key)))!;
      onMasters.add(port);
      expect(await cluster.command(port, 'SET', key, 'someone|x', 'PX', '20000')).to.equal('OK');
    }
    expect(onMasters.size, 'the test locks sit on more than one master').to.be.greaterThan(1);
    const listed = await admin(b, '/admin/locks');
    expect(listed.body.data.map((l: any) => l.key)).to.include.members(held);
    expect(listed.body.data.find((l: any) => l.key === held[0]).holder).to.equal('someone');

    for (const m of [a, b]) {
      const r = await m.api('GET', '/readyz');
      expect(r.status, r.text).to.equal(200);
      expect(r.body.data).to.deep.equal({ mysql: 'ok', redis: 'ok' });
    }
    expect((await waitForEnd(a.api, fiId)).status).to.equal('SUCCESS');
  });

  it('the queue\'s commands spread over the three masters: 200 flows of 3 steps, none under a tenth of the busiest', async () => {
    const echo = await createTask(a.api, 'ECHO', 'x');
    const flowId = await createFlow(a.api, [[echo], [echo], [echo]]);
    const before = await commandsByMaster();
    const fiIds = await startMany(a.api, flowId, 200);
    await waitAllEnded(knex, fiIds, procs, 60_000);
    const after = await commandsByMaster();
    const delta = [...after].map(([port, c]) => ({ port, total: c.total - (before.get(port)?.total ?? 0), evalsha: c.evalsha - (before.get(port)?.evalsha ?? 0) }));
    report('Redis Cluster: commands per master, 200 flows x 3 ECHO steps', Object.fromEntries(delta.map((d) => [`master :${d.port}`, `${d.total} commands, ${d.evalsha} EVALSHA`])));
    expect(delta).to.have.length(3);
    for (const what of ['total', 'evalsha'] as const) {
      const busiest = Math.max(...delta.map((d) => d[what]));
      for (const d of delta) expect(d[what], `${what} on ${d.port} vs the busiest ${busiest}`).to.be.at.least(busiest / 10);
    }
    const statuses = await knex('task_flow_ins').whereIn('fi_id', fiIds).select('status');
    expect(statuses.every((r) => r.status === 'SUCCESS')).to.equal(true);
  });

  it('failover: 300 flows, the master of the leader lease\'s slot ({q}) SIGKILLed mid-run → all SUCCESS, nothing twice, no 500, members up', async () => {
    const STEPS = 3;
    const wait = await createTask(a.api, 'WAIT', null, { waitMs: 200 });
    const flowId = await createFlow(a.api, Array.from({ length: STEPS }, () => [wait]));
    const fiIds = await startMany(a.api, flowId, 300);
    const at = await midRun(knex, fiIds, { succeeded: 100, running: 8 });
    const victim = (await cluster.masterOf(keySlot(leaderKey(prefix))))!;
    expect(victim).to.be.a('number');

    // The API is used all through the outage: starts and reads, each answer 200 or 503, never a 500.
    let probing = true;
    const answers = new Map<number, number>();
    const extra: number[] = [];
    const probes = [a, b].map(async (m) => {
      while (probing) {
        for (const call of [() => m.api('POST', `/exec/flow/${flowId}`), () => m.api('POST', '/monitor/flow', { flowId, pageSize: 5 })]) {
          const r = await call().catch(() => null);
          if (!r) continue;
          answers.set(r.status, (answers.get(r.status) ?? 0) + 1);
          if (r.status === 200 && r.body?.data?.fiId) extra.push(r.body.data.fiId);
        }
        await sleep(50);
      }
    });
    const killedAt = Date.now();
    await cluster.kill(victim);
    await waitFor('a replica to take over the dead master\'s slots', async () => {
      const port = await cluster.masterOf(keySlot(leaderKey(prefix)));
      return port !== null && port !== victim;
    }, 30_000, 100);
    const promotedAt = Date.now();
    await sleep(1_000);
    probing = false;
    await Promise.all(probes);

    const all = [...fiIds, ...extra];
    const settledAt = await waitAllEnded(knex, all, procs, 60_000);
    for (const m of [a, b]) {
      await waitFor(`${m.id} /readyz and /healthz 200 again`, async () => {
        const [r, h] = await Promise.all([m.api('GET', '/readyz'), m.api('GET', '/healthz')]);
        return r.status === 200 && h.status === 200;
      }, 20_000, 200);
    }
    report('Redis Cluster master SIGKILL ({q}: leader lease, limits table, a third of the shards)', {
      'at the kill': JSON.stringify(at), 'kill → replica promoted': promotedAt - killedAt, 'kill → all settled': settledAt - killedAt,
      'API answers during the outage': JSON.stringify(Object.fromEntries(answers)), 'task instances run more than once': String(await rerunCount(knex, all)),
    });
    expect([...answers.keys()].filter((s) => s !== 200 && s !== 503), `answers by status ${JSON.stringify(Object.fromEntries(answers))}`).to.deep.equal([]);
    await checkOutcome(knex, all, procs, { tasksPerFlow: STEPS });
    expect(a.alive() && b.alive()).to.equal(true);
  });
});

describe('Redis Cluster: configuration and errors (no cluster needed)', () => {
  it('REDIS_CLUSTER_NODES: host:port entries, or URLs whose TLS and credentials apply to every node', () => {
    expect(loadConfig({}).redisCluster).to.equal(null);
    expect(loadConfig({ REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-b:7001 ' }).redisCluster).to.deep.equal({
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-b', port: 7001 }], tls: false,
    });
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'rediss://app:s%3Acret@h1:6379,h2:6380,rediss://app:s%3Acret@h3:6381' }).redisCluster).to.deep.equal({
      nodes: [{ host: 'h1', port: 6379 }, { host: 'h2', port: 6380 }, { host: 'h3', port: 6381 }], tls: true, username: 'app', password: 's:cret',
    });
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis://:pw@[::1]:7000' }).redisCluster).to.deep.equal({ nodes: [{ host: '::1', port: 7000 }], tls: false, password: 'pw' });
  });

  for (const [value, says] of [
    ['h1', 'must name a host and a port'],
    ['h1:7000,,', null],
    ['http://h1:7000', 'must use redis: or rediss:'],
    ['redis://h1:7000/2', 'names a db'],
    ['redis://:a@h1:7000,redis://:b@h2:7000', 'disagree'],
    ['redis://h1:7000,rediss://h2:7000', 'disagree'],
    [Array.from({ length: 101 }, (_, i) => `h${i}:7000`).join(','), 'at most 100'],
  ] as const) {
    it(`REDIS_CLUSTER_NODES=${value.slice(0, 40)}${value.length > 40 ? '…' : ''}: ${says ? 'one clear error naming it' : 'accepted'}`, () => {
      if (!says) {
        expect(loadConfig({ REDIS_CLUSTER_NODES: value }).redisCluster!.nodes).to.deep.equal([{ host: 'h1', port: 7000 }]);
        return;
      }
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: value })).to.throw(ConfigError, new RegExp(`^REDIS_CLUSTER_NODES.*${says}`));
    });
  }

  it('a cluster between topologies is a Redis outage (a 503), not a 500: MOVED, ASK, TRYAGAIN, CLUSTERDOWN and the client giving up', () => {
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    for (const e of [
      reply('MOVED 3999 127.0.0.1:6381'), reply('ASK 3999 127.0.0.1:6381'), reply('TRYAGAIN Multiple keys request during rehashing of slot'),
      reply('CLUSTERDOWN The cluster is down'), new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'),
      Object.assign(new Error('Failed to refresh slots cache.'), { name: 'ClusterAllFailedError' }), new Error('None of startup nodes is available'),
      new Error("Cluster isn't ready and enableOfflineQueue options is false"),
    ]) {
      expect(dependencyDown(e), e.message).to.equal('redis');
    }
    // A script touching keys of two slots is a bug, not an outage: it stays a 500.
    expect(dependencyDown(reply("CROSSSLOT Keys in request don't hash to the same slot"))).to.equal(null);
  });
});
