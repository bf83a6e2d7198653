// All our Redis scripts — the queue's (queue/workQueue.ts), the external workers' queues'
// (queue/externalQueues.ts), the flow locks' (engine/locks.ts) and the heartbeat (cluster/membership.ts): one .lua file per atomic operation in lua/, loaded here and
// registered on a connection with ioredis `defineCommand` (EVALSHA, falling back to EVAL once per
// connection). Each script's keys share a hash tag (redis/keys.ts), so a script runs on one node of a
// Redis Cluster, the one holding its slot. tsc does not copy .lua files, so the directory is found next to this module (src/redis/lua
// when run through tsx) or, from the compiled dist/src/redis/, back in the source tree (../../../src/redis/lua).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isCluster, type Redis } from '../infra/redis.js';

/** Script name → number of KEYS it takes (the ready sets of priorities 1-9 come after a script's other keys). */
const SCRIPTS = {
  enqueue: 12,
  claim: 14,
  ackMany: 14,
  requeue: 14,
  extend: 2,
  lease: 3,
  remove: 14,
  known: 12,
  stats: 11,
  inflight: 3,
  expiredLeases: 4,
  settleExpired: 15,
  expireOrphans: 4,
  leaseHolders: 1,
  heartbeat: 2,
  limitPump: 12,
  leaseLimited: 4,
  fenceCopy: 1,
  takeReady: 10,
  lockFlows: -1, // KEYS vary: run through evalVariadic(), not defined as a command
  unlockFlows: -1,
  // The external workers' queues (queue/externalQueues.ts): one set of keys per queue name.
  wqEnqueue: 3,
  wqClaim: 5,
  wqExtend: 2,
  wqLease: 3,
  wqRelease: 5,
  wqExpired: 3,
  wqSettle: 5,
  wqKnown: 3,
  wqStats: 2,
} as const;

export type ScriptName = keyof typeof SCRIPTS;

type Arg = string | number;
/** The commands as they appear on a connection once defined (prefixed so they cannot clash with others). */
export interface ScriptCommands {
  tsqEnqueue(ready: string, inflight: string, ...argv: Arg[]): Promise<[number, string[]]>;
  tsqClaim(ready: string, inflight: string, owner: string, since: string, ...argv: Arg[]): Promise<[number, string[], number[], number, number]>;
  tsqAckMany(inflight: string, owner: string, since: string, ...argv: Arg[]): Promise<number>;
  tsqRequeue(ready: string, inflight: string, owner: string, since: string, ...argv: Arg[]): Promise<number>;
  tsqExtend(inflight: string, owner: string, ...argv: Arg[]): Promise<number[]>;
  tsqLease(inflight: string, owner: string, since: string, ...argv: Arg[]): Promise<number>;
  tsqRemove(ready: string, inflight: string, owner: string, since: string, ...argv: Arg[]): Promise<string[]>;
  tsqKnown(ready: string, inflight: string, ...argv: Arg[]): Promise<string[]>;
  tsqStats(ready: string, inflight: string, ...readyP: string[]): Promise<[number, number, number, number]>;
  tsqInflight(inflight: string, owner: string, since: string, ...argv: Arg[]): Promise<(string | null)[]>;
  tsqExpiredLeases(inflight: string, owner: string, since: string, leader: string, ...argv: Arg[]): Promise<string[]>;
  tsqSettleExpired(ready: string, inflight: string, owner: string, since: string, leader: string, ...argv: Arg[]): Promise<number>;
  tsqExpireOrphans(inflight: string, owner: string, since: string, leader: string, ...argv: Arg[]): Promise<number>;
  tsqLeaseHolders(owner: string): Promise<string[]>;
  tsqHeartbeat(member: string, cluster: string, ...argv: Arg[]): Promise<string>;
  tsqLimitPump(...keysAndArgv: Arg[]): Promise<number>;
  tsqFenceCopy(copy: string, value: string, ttlMs: number, force: string): Promise<number>;
  tsqTakeReady(ready: string, ...argv: Arg[]): Promise<(string | number)[]>;
  tsqLeaseLimited(inflight: string, owner: string, since: string, limited: string, ...argv: Arg[]): Promise<string[]>;
  tsqWqEnqueue(ready: string, leases: string, limited: string, ...argv: Arg[]): Promise<number>;
  tsqWqClaim(ready: string, leases: string, owner: string, since: string, limited: string, ...argv: Arg[]): Promise<[number, string[]]>;
  tsqWqExtend(leases: string, owner: string, ...argv: Arg[]): Promise<number[]>;
  tsqWqLease(leases: string, owner: string, since: string, ...argv: Arg[]): Promise<number[]>;
  tsqWqRelease(ready: string, leases: string, owner: string, since: string, limited: string, ...argv: Arg[]): Promise<number>;
  tsqWqExpired(leases: string, owner: string, since: string, ...argv: Arg[]): Promise<string[]>;
  tsqWqSettle(ready: string, leases: string, owner: string, since: string, limited: string, ...argv: Arg[]): Promise<number>;
  tsqWqKnown(ready: string, leases: string, limited: string, ...argv: Arg[]): Promise<string[]>;
  tsqWqStats(ready: string, leases: string): Promise<[number, number, number, number]>;
}

/** The directory holding the .lua files, from src/redis/ (tsx) or dist/src/redis/ (compiled). */
export function luaDir(): string {
  const candidates = [new URL('./lua/', import.meta.url), new URL('../../../src/redis/lua/', import.meta.url)];
  for (const c of candidates) {
    const dir = fileURLToPath(c);
    if (existsSync(`${dir}claim.lua`)) return dir;
  }
  throw new Error(`Redis Lua scripts not found (looked in ${candidates.map((c) => fileURLToPath(c)).join(', ')})`);
}

let sources: Record<ScriptName, string> | null = null;

/**
 * The scripts' text, read from disk once per process. A line `--#include <name>` is replaced by
 * lua/<name>.lua (shared helpers, e.g. limits.lib and leases.lib: Lua scripts cannot load one another).
 */
export function luaSources(): Record<ScriptName, string> {
  if (!sources) {
    const dir = luaDir();
    const include = (text: string) => text.replace(/^--#include ([\w.]+)$/gm, (_, lib: string) => readFileSync(`${dir}${lib}.lua`, 'utf8'));
    sources = Object.fromEntries(
      (Object.keys(SCRIPTS) as ScriptName[]).map((name) => [name, include(readFileSync(`${dir}${name}.lua`, 'utf8'))]),
    ) as Record<ScriptName, string>;
  }
  return sources;
}

const defined = new WeakSet<Redis>();

/** Registers the scripts' commands on `redis` (once per connection) and returns it typed with them. */
export function defineScripts(redis: Redis): Redis & ScriptCommands {
  if (!defined.has(redis)) {
    const src = luaSources();
    for (const [name, numberOfKeys] of Object.entries(SCRIPTS) as [ScriptName, number][]) {
      if (numberOfKeys < 0) continue;
      const cmd = `tsq${name[0].toUpperCase()}${name.slice(1)}`;
      redis.defineCommand(cmd, { lua: src[name], numberOfKeys });
    }
    defined.add(redis);
  }
  return redis as Redis & ScriptCommands;
}

const shas = new Map<ScriptName, string>();

/**
 * Runs a script whose number of KEYS varies (EVALSHA, EVAL when the node does not know it yet). Not a
 * defined command: ioredis routes an auto-pipelined custom command by its first argument, which for a
 * variadic one is the key count, not a key; EVALSHA's keys it finds (a cluster sends it to the keys' node).
 */
export async function evalVariadic<T>(redis: Redis, name: 'lockFlows' | 'unlockFlows', keys: string[], argv: Arg[]): Promise<T> {
  const lua = luaSources()[name];
  let sha = shas.get(name);
  if (!sha) {
    sha = createHash('sha1').update(lua).digest('hex');
    shas.set(name, sha);
  }
  try {
    return (await redis.evalsha(sha, keys.length, ...keys, ...argv)) as T;
  } catch (e) {
    if (!/^NOSCRIPT/.test((e as Error).message ?? '')) throw e;
    return (await redis.eval(lua, keys.length, ...keys, ...argv)) as T;
  }
}

/**
 * On a Redis Cluster, loads every script into every node's script cache now, and into each node the
 * client connects to later (a replica promoted after a failover, a node added). A node that does not
 * know a script answers NOSCRIPT and the script is sent again as EVAL a round trip later, which can
 * reorder two calls on one slot: an unlock sent first could run after the next pass's lock, finding the
 * lock still held. On one Redis there is a single connection and this is not needed.
 */
export async function preloadScripts(redis: Redis): Promise<void> {
  if (!isCluster(redis)) return;
  const src = Object.values(luaSources());
  const load = (node: { script(sub: 'LOAD', lua: string): Promise<unknown> }) => Promise.all(src.map((lua) => node.script('LOAD', lua)));
  redis.on('+node', (node: Parameters<typeof load>[0]) => void load(node).catch(() => {}));
  await Promise.all(redis.nodes('all').map((node) => load(node)));
}
