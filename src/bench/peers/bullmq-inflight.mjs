// A variant of ../shared/peers/bullmq-chain.mjs (the peer script issue 21 compares with) whose flows are
// added C at a time, as `npm run bench` keeps C starts in flight, instead of one after the other; it
// also times each add: BullMQ's counterpart of the bench's start API p50 during the burst.
// Usage (BullMQ and ioredis from PEERS_DIR, default ../shared/peers, after `npm i` there; the Redis on
// 6379, as the peer script):
//   node src/bench/peers/bullmq-inflight.mjs [flows=2000] [steps=5] [concurrency=50] [inflight=64]
// Prints one JSON line: tasks_per_s and the transition p50 / p99 as the peer script counts them, adds_per_s
// and add_p50_ms / add_p99_ms.
import { createRequire } from 'node:module';
import path from 'node:path';

const peers = path.resolve(process.env.PEERS_DIR ?? '../shared/peers');
const require = createRequire(peers + '/');
let bullmq, IORedis;
try {
  bullmq = require('bullmq');
  IORedis = require('ioredis');
} catch (e) {
  console.error(`BullMQ and ioredis are not installed in ${peers} (PEERS_DIR): run \`npm i\` there first (${e.message.split('\n')[0]})`);
  process.exit(1);
}
const { FlowProducer, Worker, Queue } = bullmq;

const [flows = 2000, steps = 5, conc = 50, inflight = 64] = process.argv.slice(2).map(Number);
const connection = new IORedis({ maxRetriesPerRequest: null });
const qn = 'peerchain';
await new Queue(qn, { connection }).obliterate({ force: true }).catch(() => {});
let done = 0;
let resolveDone;
const allDone = new Promise((r) => (resolveDone = r));
// Transition latency as the peer script measures it: a step's start minus the previous step's end.
const starts = new Map();
const ends = new Map();
const worker = new Worker(
  qn,
  async (job) => {
    const { f, s } = job.data;
    starts.set(`${f}:${s}`, performance.now());
    const out = `echo ${f}:${s}`;
    ends.set(`${f}:${s}`, performance.now());
    return out;
  },
  { connection, concurrency: conc },
);
worker.on('completed', (job) => {
  if (job.data.s === steps - 1 && ++done === flows) resolveDone();
});
await worker.waitUntilReady();
const fp = new FlowProducer({ connection });
const chain = (f) => {
  let node = null;
  for (let s = 0; s < steps; s++) node = { name: 'step', queueName: qn, data: { f, s }, children: node ? [node] : undefined };
  return node;
};
// Its CPU over the run: this process', and Redis' own (INFO), as the bench reports the member's and Redis'.
const redisCpu = async () => {
  const info = await connection.info('cpu');
  return ['used_cpu_sys', 'used_cpu_user'].reduce((a, k) => a + Number(new RegExp(`${k}:([\\d.]+)`).exec(info)[1]), 0);
};
const redis0 = await redisCpu();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const lat = [];
let made = 0;
await Promise.all(
  Array.from({ length: inflight }, async () => {
    while (made < flows) {
      const f = made++;
      const s = performance.now();
      await fp.add(chain(f));
      lat.push(performance.now() - s);
    }
  }),
);
const addsS = (performance.now() - t0) / 1000;
await allDone;
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const redisCpuS = (await redisCpu()) - redis0;
lat.sort((a, b) => a - b);
const q = (xs, p) => +xs[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(2);
const tr = [];
for (let f = 0; f < flows; f++) for (let s = 1; s < steps; s++) tr.push(starts.get(`${f}:${s}`) - ends.get(`${f}:${s - 1}`));
tr.sort((a, b) => a - b);
console.log(JSON.stringify({ peer: 'bullmq-inflight', flows, steps, conc, inflight, wall_s: +wall.toFixed(3), tasks_per_s: +((flows * steps) / wall).toFixed(1), transition_p50_ms: q(tr, 0.5), transition_p99_ms: q(tr, 0.99), adds_per_s: Math.round(flows / addsS), add_p50_ms: q(lat, 0.5), add_p99_ms: q(lat, 0.99), rss_mb: +(process.memoryUsage().rss / 1048576).toFixed(1), cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(2), redis_cpu_s: +redisCpuS.toFixed(2) }));
await worker.close();
await fp.close();
await connection.quit();
