// `npm run bench -- --flows N --steps K [--tasks-per-node M] [--members P] [--concurrency C]
//                  [--worker-concurrency W] [--wait-ms T] [--external-workers X] [--concurrency-limit L] [--redis-cluster]
//                  [--warmup W]`
// Starts P members the way `npm start` does (compiled, `node dist/src/main.js`) on their own database
// and Redis prefix, creates an ECHO task (a WAIT task of T ms with --wait-ms, to hold many instances
// in flight at once; a WORKER task with --external-workers X, worked by X processes running the package's
// TypeScript client, `task-schedule/worker` from dist/, each with BENCH_WORKER_CONCURRENCY slots, default 50 (as WORKER_CONCURRENCY), and
// BENCH_WORKER_POLLS polls out at once, default the client's;
// with --concurrency-limit, its taskConfig.concurrencyLimit is L) and a flow of K sequential TASK nodes (M tasks each, ALL),
// starts N instances through the REST API, C at once (--concurrency, default 64; each over a connection of
// its own: startClient.ts), waits until every one has ended (a progress line
// a second), checks they all ended SUCCESS, and prints one JSON line of figures. Then it cleans up.
// --warmup W: first W instances of a flow of the same shape run to their end, unmeasured (a member
// that has been up a while: V8 has compiled its hot code); the figures count only the N after them.
// --redis-cluster: the members use a Redis Cluster (REDIS_CLUSTER_NODES): BENCH_REDIS_CLUSTER_NODES if
// set, else a private one started for the run (3 masters, 3 replicas; test/helpers/privateServices.ts).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import knexFactory from 'knex';
import { Cluster, Redis } from 'ioredis';
import { scanKeys } from '../infra/redis.js';
import { connectionFromUrl } from '../infra/db.js';
import { queueKeys } from '../redis/keys.js';
import { snapshot, costPerTask, cpuSeconds } from './serverCost.js';
import { StartConnection } from './startClient.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function args(): Record<string, number> {
  const out: Record<string, number> = { flows: 2000, steps: 5, 'tasks-per-node': 1, members: 1, concurrency: 64, 'worker-concurrency': 0, 'wait-ms': 0, 'external-workers': 0, 'concurrency-limit': 0, 'redis-cluster': 0, warmup: 0 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--redis-cluster') {
      out['redis-cluster'] = 1;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a[i]);
    if (!m || !(m[1] in out)) throw new Error(`unknown argument ${a[i]} (known: ${Object.keys(out).map((k) => `--${k}`).join(' ')})`);
    const v = Number(m[2] ?? a[++i]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${m[1]} needs a whole number`);
    out[m[1]] = v;
  }
  return out;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

// node:http with kept-alive connections rather than fetch: the client shares the machine with what it
// measures, and fetch (undici) costs it several times the CPU per request.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function api(base: string, method: string, p: string, body?: unknown): Promise<any> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(base + p, { method, agent, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        try {
          const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code: string; data: any; message: string };
          if (res.statusCode !== 200) reject(new Error(`${method} ${p}: ${res.statusCode} ${json.message}`));
          else resolve(json.data);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A process's resident memory (VmRSS) in MB, from /proc; 0 where that cannot be read. */
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * An external worker process: the package's client as a user imports it (`task-schedule/worker`, the
 * built dist/), answering every task with its content.
 */
function externalWorker(url: string, i: number): ChildProcess {
  const concurrency = Number(process.env.BENCH_WORKER_CONCURRENCY || 50);
  const polls = process.env.BENCH_WORKER_POLLS ? `, polls: ${Number(process.env.BENCH_WORKER_POLLS)}` : '';
  const code = `import { Worker } from 'task-schedule/worker';
const w = new Worker({ url: ${JSON.stringify(url)}, queues: ['bench'], concurrency: ${concurrency}${polls}, workerId: 'bench-${i}', handler: (t) => t.content });
w.start();
process.on('SIGTERM', () => w.stop(5000).then(() => process.exit(0)));`;
  return spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}

async function main(): Promise<void> {
  const o = args();
  const runId = `${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
  const mysqlBase = process.env.BENCH_MYSQL_URL || 'mysql://root@127.0.0.1:3306';
  const databaseUrl = `${mysqlBase}/ts_bench_${runId}`;
  const redisUrl = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379/0';
  const prefix = `bench:${runId}:`;
  let clusterNodes = o['redis-cluster'] ? process.env.BENCH_REDIS_CLUSTER_NODES || null : null;
  let privateCluster: { seeds: string; stop(): Promise<void> } | null = null;
  if (o['redis-cluster'] && !clusterNodes) {
    log('starting a private Redis Cluster (3 masters, 3 replicas) …');
    const { PrivateRedisCluster } = await import('../../test/helpers/privateCluster.js');
    privateCluster = await PrivateRedisCluster.start();
    clusterNodes = privateCluster.seeds;
  }
  log(`building (tsc) …`);
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

  const children: ChildProcess[] = [];
  const urls: string[] = [];
  const cleanup = async () => {
    // SIGTERM first: members stop gracefully (and write their --cpu-prof profiles, when asked to).
    await Promise.all(
      children.map((c) => new Promise<void>((resolve) => {
        if (c.exitCode !== null) return resolve();
        const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
        c.once('exit', () => { clearTimeout(t); resolve(); });
        c.kill('SIGTERM');
      })),
    );
    const admin = knexFactory({ client: 'mysql2', connection: `${mysqlBase}/`, pool: { min: 0, max: 1 } });
    await admin.raw(`DROP DATABASE IF EXISTS \`ts_bench_${runId}\``).catch(() => {});
    await admin.destroy();
    if (privateCluster) return privateCluster.stop();
    const r = clusterNodes ? new Cluster(clusterNodes.split(',').map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) }))) : new Redis(redisUrl);
    r.on('error', () => {});
    // One key at a time: a cluster refuses a DEL of keys in several slots.
    for (const k of await scanKeys(r, `${prefix}*`)) await r.del(k);
    r.disconnect();
  };

  try {
    for (let i = 0; i < Math.max(1, o.members); i++) {
      const port = await freePort();
      const env: Record<string, string> = {
        ...process.env as Record<string, string>,
        DATABASE_URL: databaseUrl,
        REDIS_URL: redisUrl,
        REDIS_CLUSTER_NODES: clusterNodes ?? '',
        REDIS_PREFIX: prefix,
        PORT: String(port),
        ROLES: 'web,worker',
        LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
        // The bench's client sends no token and starts thousands of flows at once: an open API without
        // a start limit, whatever the caller's environment says.
        API_TOKENS: '',
        START_RATE_LIMIT: '0',
      };
      if (o['worker-concurrency']) env.WORKER_CONCURRENCY = String(o['worker-concurrency']);
      const child = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), path.join(root, 'dist/src/main.js')], { env, stdio: ['ignore', 'inherit', 'inherit'] });
      children.push(child);
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`member ${i} exited with ${child.exitCode}`);
        try {
          if ((await fetch(`${url}/readyz`)).status === 200) break;
        } catch {}
        if (Date.now() > deadline) throw new Error(`member ${i} did not become ready`);
        await new Promise((r) => setTimeout(r, 100));
      }
      urls.push(url);
    }
    log(`${urls.length} member(s) ready; database ts_bench_${runId}, prefix ${prefix}`);

    const task = o['external-workers']
      ? { taskName: 'bench worker', taskType: 'WORKER', taskContent: 'ok', taskConfig: { queue: 'bench' } }
      : o['wait-ms']
        ? { taskName: 'bench wait', taskType: 'WAIT', taskConfig: { waitMs: o['wait-ms'] } }
        : { taskName: 'bench echo', taskType: 'ECHO', taskContent: 'ok' };
    const members = [...children];
    for (let i = 0; i < o['external-workers']; i++) children.push(externalWorker(urls[i % urls.length], i));
    const workerProcs = children.slice(members.length);
    if (o['external-workers']) log(`${o['external-workers']} external worker process(es) polling queue "bench"`);
    if (o['concurrency-limit']) (task as { taskConfig?: Record<string, unknown> }).taskConfig = { ...(task as { taskConfig?: object }).taskConfig, concurrencyLimit: o['concurrency-limit'] };
    const taskId = (await api(urls[0], 'POST', '/task', task)).taskId;
    if (o['concurrency-limit']) {
      // The leader copies limits into Redis every 2 s, the workers read them every second: wait for both.
      const r = new Redis(redisUrl);
      r.on('error', () => {});
      try {
        const deadline = Date.now() + 15_000;
        while ((await r.hexists(queueKeys(prefix).limits, String(taskId))) !== 1) {
          if (Date.now() > deadline) throw new Error('the concurrency limit did not reach Redis');
          await new Promise((res) => setTimeout(res, 100));
        }
      } finally {
        r.disconnect();
      }
      await new Promise((res) => setTimeout(res, 1_500));
      log(`task ${taskId} limited to ${o['concurrency-limit']} at once`);
    }
    const taskIds = Array.from({ length: Math.max(1, o['tasks-per-node']) }, () => taskId);
    const flowNodes = [{ nodeType: 'START' }, ...Array.from({ length: o.steps }, () => ({ nodeType: 'TASK', taskIds, completion: 'ALL' })), { nodeType: 'END' }];
    const flowId = (await api(urls[0], 'POST', '/flow', { flowName: 'bench', flowNodes })).flowId;

    // The members' connection settings (times in UTC), so the recorded times read back as they were written.
    const knex = knexFactory({ client: 'mysql2', connection: connectionFromUrl(databaseUrl, true), pool: { min: 0, max: 2 } });
    /** Starts n instances of `flow` through the API, --concurrency at once across the members; `each` after every answer, with its time. */
    const startInstances = async (flow: number, n: number, each?: (ms: number) => void) => {
      let made = 0;
      const conns = Array.from({ length: Math.min(o.concurrency, n) }, (_, w) => new StartConnection(new URL(urls[w % urls.length])));
      try {
        await Promise.all(conns.map(async (conn) => {
          while (made < n) {
            made++;
            const s = performance.now();
            await conn.post(`/exec/flow/${flow}`);
            each?.(performance.now() - s);
          }
        }));
      } finally {
        for (const c of conns) c.close();
      }
    };
    // --warmup W: W instances of a flow of the same shape run to their end first, unmeasured (the
    // members' code compiled by V8's optimising tiers, their pools and caches filled, as in a member
    // that has been up a while). What is measured afterwards counts only the instances after them.
    let warmFi = 0;
    if (o.warmup) {
      const warmFlow = (await api(urls[0], 'POST', '/flow', { flowName: 'bench warm-up', flowNodes })).flowId;
      log(`warm-up: ${o.warmup} instances of a flow of the same shape, not measured …`);
      await startInstances(warmFlow, o.warmup);
      for (const deadline = Date.now() + 120_000; ; ) {
        const [{ r }] = await knex('task_flow_ins').where('status', 'RUNNING').count({ r: '*' });
        if (Number(r) === 0) break;
        if (Date.now() > deadline) throw new Error('the warm-up instances did not end within 120 s');
        await new Promise((res) => setTimeout(res, 100));
      }
      warmFi = Number((await knex('task_flow_ins').max({ m: 'fi_id' }))[0].m);
      log(`warm-up: ${o.warmup} instances ended`);
    }
    const copies0 = o.warmup ? await passesFromCopies(urls) : { used: 0, stale: 0 };
    // On a cluster: commands each master served during the run (how evenly the load is spread).
    const masters = clusterNodes ? new Cluster(clusterNodes.split(',').map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) }))) : null;
    masters?.on('error', () => {});
    const commandsByMaster = async (): Promise<Map<string, number>> => {
      if (!masters) return new Map();
      await masters.ping();
      const out = new Map<string, number>();
      for (const node of masters.nodes('master')) {
        out.set(`${node.options.host}:${node.options.port}`, Number(/total_commands_processed:(\d+)/.exec(await node.info('stats'))?.[1] ?? 0));
      }
      return out;
    };
    const commands0 = await commandsByMaster();
    // MariaDB's and (standalone) Redis' own counters around the run: statements, fsyncs, CPU per task.
    const statRedis = clusterNodes ? null : new Redis(redisUrl);
    statRedis?.on('error', () => {});
    const servers0 = await snapshot(knex, statRedis);
    const startLatencies: number[] = [];
    const t0 = performance.now();
    const t0Wall = Date.now(); // wall clock, to compare with the recorded times
    const cpuOf = (ps: ChildProcess[]) => ps.reduce((a, c) => a + (cpuSeconds(c.pid!) ?? 0), 0);
    const cpu0 = { members: cpuOf(members), workers: cpuOf(workerProcs), client: process.cpuUsage() };
    let lastStartAt = 0;
    const starting = startInstances(flowId, o.flows, (ms) => {
      startLatencies.push(ms);
      lastStartAt = Date.now(); // wall clock, to compare with the recorded times
    });
    let lastLog = 0;
    let running = o.flows;
    let maxInFlight = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      // Only the RUNNING rows are counted (a range of the status index, as small as what is in flight):
      // counting the ended ones too scanned every row ten times a second, MariaDB CPU taken from the
      // run being measured. A start that has been answered is committed, so what is not running of the
      // answered starts has ended (the bench's flow has no maxActiveInstances: nothing waits QUEUED).
      const [{ n }] = await knex('task_flow_ins').where('status', 'RUNNING').count({ n: '*' });
      running = Number(n);
      const ended = Math.max(0, startLatencies.length - running);
      maxInFlight = Math.max(maxInFlight, running);
      const done = startLatencies.length === o.flows && running === 0;
      // A line a second, and the last one when everything has ended.
      if (done || performance.now() - lastLog > 1000) {
        lastLog = performance.now();
        log(`${((performance.now() - t0) / 1000).toFixed(1)} s: started ${startLatencies.length}/${o.flows}, ended ${ended}, running ${running}`);
      }
      if (done) break;
    }
    await starting;
    // The clock stops at the last instance's recorded end (as a peer's stops at its last completion), not
    // at the poll that saw it: polls are 100 ms apart, and that would have counted ~50 ms more on average.
    const [{ last }] = await knex('task_flow_ins').where('fi_id', '>', warmFi).max({ last: 'end_time' });
    const lastEnd = last ? new Date(last).getTime() : NaN;
    const wall = (lastEnd > t0Wall ? lastEnd - t0Wall : performance.now() - t0) / 1000;
    const rss = Math.max(...members.map((c) => rssMb(c.pid!)));
    const memberCpu = cpuOf(members) - cpu0.members;
    const workerCpu = cpuOf(workerProcs) - cpu0.workers;
    const clientCpu = process.cpuUsage(cpu0.client);
    const servers1 = await snapshot(knex, statRedis);
    statRedis?.disconnect();

    const statuses = await knex('task_flow_ins').where('fi_id', '>', warmFi).select('status').count({ n: '*' }).groupBy('status');
    const notOk = statuses.filter((r: any) => r.status !== 'SUCCESS');
    if (notOk.length) throw new Error(`not every instance ended SUCCESS: ${JSON.stringify(statuses)}`);

    // Transition latency: a node's first task start minus the previous node's last task end.
    const rows = (await knex('task_ins')
      .where('fi_id', '>', warmFi)
      .select('fi_id', 'ni_id')
      .min({ s: 'start_time' })
      .min({ c: 'create_time' })
      .max({ e: 'end_time' })
      .groupBy('fi_id', 'ni_id')
      .orderBy([{ column: 'fi_id' }, { column: 'ni_id' }])) as unknown as { fi_id: number; ni_id: number; s: Date; c: Date; e: Date }[];
    // Flows whose first task was created RUNNING by their start (a member with a free slot runs it
    // itself) rather than queued and claimed: its start is the instant it was created.
    const firstRunAtStart = rows.filter((r, i) => (i === 0 || rows[i - 1].fi_id !== r.fi_id) && new Date(r.s).getTime() === new Date(r.c).getTime()).length;
    const transitions: number[] = [];
    // Also split by whether the next step started while API starts were still arriving: the member
    // serves both, so that part shows what a burst of starts costs the flows already running.
    const duringStarts: number[] = [];
    const afterStarts: number[] = [];
    for (let i = 1; i < rows.length; i++) {
      if (rows[i].fi_id !== rows[i - 1].fi_id) continue;
      const started = new Date(rows[i].s).getTime();
      const d = started - new Date(rows[i - 1].e).getTime();
      transitions.push(d);
      (started <= lastStartAt ? duringStarts : afterStarts).push(d);
    }
    duringStarts.sort((a, b) => a - b);
    afterStarts.sort((a, b) => a - b);
    log(`transitions while starts arrived: ${duringStarts.length}, p50 ${pct(duringStarts, 50)} ms, p99 ${pct(duringStarts, 99)} ms; after: ${afterStarts.length}, p50 ${pct(afterStarts, 50)} ms, p99 ${pct(afterStarts, 99)} ms`);
    transitions.sort((a, b) => a - b);
    startLatencies.sort((a, b) => a - b);
    const [{ tasks }] = await knex('task_ins').where('fi_id', '>', warmFi).count({ tasks: '*' });
    // Tasks ended a second while the API starts were arriving, and after the last one was answered: the
    // member serves both, so the split shows what the burst of starts costs (the peer has no such burst).
    const [{ during }] = await knex('task_ins').where('fi_id', '>', warmFi).where('end_time', '<=', new Date(lastStartAt)).count({ during: '*' });
    const burstS = (lastStartAt - t0Wall) / 1000;
    const afterS = (lastEnd - lastStartAt) / 1000;
    await knex.destroy();
    const copies = await passesFromCopies(urls);
    const commands1 = await commandsByMaster();
    masters?.disconnect();
    const masterCommands = [...commands1].map(([k, n]) => n - (commands0.get(k) ?? 0)).sort((a, b) => b - a);
    const result = {
      flows: o.flows,
      steps: o.steps,
      tasks: Number(tasks),
      warmup: o.warmup,
      tasks_per_node: o['tasks-per-node'],
      members: urls.length,
      external_workers: o['external-workers'],
      redis: clusterNodes ? 'cluster' : 'standalone',
      wall_s: round(wall),
      flows_per_s: round(o.flows / wall, 1),
      tasks_per_s: round(Number(tasks) / wall, 1),
      transition_p50_ms: pct(transitions, 50),
      transition_p90_ms: pct(transitions, 90),
      transition_p99_ms: pct(transitions, 99),
      start_api_p50_ms: round(pct(startLatencies, 50)),
      // (No time after the last answer: nothing ended after it either.)
      tasks_per_s_during_starts: burstS > 0 ? round(Number(during) / burstS, 1) : 0,
      tasks_per_s_after_starts: afterS > 0 ? round((Number(tasks) - Number(during)) / afterS, 1) : 0,
      first_tasks_run_at_start: firstRunAtStart,
      rss_mb: Math.round(rss),
      max_in_flight: maxInFlight,
      // Where the machine's CPU went during the run: the members, and this process (HTTP client, polling).
      member_cpu_s: round(memberCpu),
      member_cpu_ms_per_task: round((memberCpu * 1000) / Number(tasks)),
      ...(workerProcs.length ? { worker_cpu_s: round(workerCpu) } : {}),
      client_cpu_s: round((clientCpu.user + clientCpu.system) / 1e6),
      // Result batches recorded in one round trip from the members' copies of their flow instances, and
      // those whose copy was stale (made again from a read).
      passes_from_copies: copies.used - copies0.used,
      passes_from_copies_stale: copies.stale - copies0.stale,
      ...(masters ? { master_commands: masterCommands } : {}),
      ...costPerTask(servers0, servers1, Number(tasks)),
    };
    console.log(JSON.stringify(result));
  } finally {
    await cleanup();
  }
}

/** The members' task_schedule_passes_from_copies_total, summed by outcome (from GET /metrics). */
async function passesFromCopies(urls: string[]): Promise<{ used: number; stale: number }> {
  const out = { used: 0, stale: 0 };
  for (const url of urls) {
    const text = await fetch(`${url}/metrics`).then((r) => r.text(), () => '');
    for (const m of text.matchAll(/^task_schedule_passes_from_copies_total\{outcome="(used|stale)"\} (\d+)/gm)) out[m[1] as 'used' | 'stale'] += Number(m[2]);
  }
  return out;
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`[bench] failed: ${(e as Error).message}`);
    process.exit(1);
  },
);
