// What the servers spent during a bench run, per task: MariaDB's statements, commits, fsyncs and CPU,
// Redis' commands and CPU. Read from `SHOW GLOBAL STATUS` and `INFO`, so they count everything those
// servers did in the window (another program using them at the same time shows up too), and CPU only
// when the server runs on this machine (its pid file readable; Redis' own INFO cpu otherwise).
import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';

const MYSQL_COUNTERS = ['Questions', 'Com_commit', 'Innodb_data_fsyncs'] as const;

export interface ServerSnapshot {
  mysql: Record<string, number>;
  mysqlCpuS: number | null;
  redisCommands: number | null;
  redisCpuS: number | null;
}

/** A process's CPU seconds so far (user + system), from /proc; null when it cannot be read. */
export function cpuSeconds(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

async function mysqlPid(knex: Knex): Promise<number | null> {
  try {
    const [rows] = (await knex.raw('SELECT @@pid_file AS f')) as [{ f: string }[]];
    return Number(readFileSync(rows[0].f, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

export async function snapshot(knex: Knex, redis: Redis | null): Promise<ServerSnapshot> {
  const [rows] = (await knex.raw(`SHOW GLOBAL STATUS WHERE Variable_name IN (${MYSQL_COUNTERS.map(() => '?').join(',')})`, [...MYSQL_COUNTERS])) as [{ Variable_name: string; Value: string }[]];
  const mysql = Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
  const pid = await mysqlPid(knex);
  let redisCommands: number | null = null;
  let redisCpuS: number | null = null;
  if (redis) {
    const info = await redis.info().catch(() => '');
    const num = (re: RegExp) => Number(re.exec(info)?.[1] ?? NaN);
    redisCommands = num(/total_commands_processed:(\d+)/);
    redisCpuS = num(/used_cpu_sys:([\d.]+)/) + num(/used_cpu_user:([\d.]+)/);
  }
  return { mysql, mysqlCpuS: pid ? cpuSeconds(pid) : null, redisCommands, redisCpuS };
}

const per = (n: number, tasks: number) => Math.round((n / tasks) * 100) / 100;

/** The difference between two snapshots, as per-task figures for the bench's JSON line. */
export function costPerTask(a: ServerSnapshot, b: ServerSnapshot, tasks: number): Record<string, number> {
  const d = (k: string) => (b.mysql[k] ?? 0) - (a.mysql[k] ?? 0);
  const out: Record<string, number> = {
    sql_statements_per_task: per(d('Questions'), tasks),
    sql_commits_per_task: per(d('Com_commit'), tasks),
    sql_fsyncs_per_task: per(d('Innodb_data_fsyncs'), tasks),
  };
  if (a.mysqlCpuS !== null && b.mysqlCpuS !== null) out.mysql_cpu_s = Math.round((b.mysqlCpuS - a.mysqlCpuS) * 100) / 100;
  if (a.redisCommands !== null && b.redisCommands !== null) out.redis_commands_per_task = per(b.redisCommands - a.redisCommands, tasks);
  if (a.redisCpuS !== null && b.redisCpuS !== null) out.redis_cpu_s = Math.round((b.redisCpuS - a.redisCpuS) * 100) / 100;
  return out;
}
