// SHELL tasks run in process groups of their own (detached), which would outlive a member that dies.
// So each running group is recorded: one small file in SHELL_STATE_DIR naming its pgid, the member's
// pid and start time, and a random marker the task's processes carry in their environment
// (TASK_SCHEDULE_RUN_ID). The file is removed when the group has been ended.
// - A member that exits (SIGTERM after its grace, a crash) kills its remaining groups synchronously
//   in a process 'exit' handler.
// - A member that was SIGKILLed cannot: the next member started on the same state directory finds the
//   records whose member is gone, and SIGKILLs each group, but only if a live process of that group
//   still carries the record's marker (so a pid the system has handed out again is never killed).
// Linux only (/proc); elsewhere the records are kept and nothing is killed on start-up.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const MARKER_VAR = 'TASK_SCHEDULE_RUN_ID';

interface GroupRecord {
  pgid: number;
  marker: string;
  memberPid: number;
  /** The member's start time in clock ticks since boot (/proc/<pid>/stat field 22), null off Linux. */
  memberStart: number | null;
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, …, starttime at 19]. */
function statFields(pid: number | 'self'): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

const selfStart = (() => {
  const f = statFields('self');
  return f ? Number(f[19]) : null;
})();

/** Is the member that wrote this record still running (same pid, same start time, not a zombie)? */
function memberAlive(r: GroupRecord): boolean {
  if (r.memberPid === process.pid && r.memberStart === selfStart) return true;
  const f = statFields(r.memberPid);
  if (!f) return false;
  return f[0] !== 'Z' && (r.memberStart === null || Number(f[19]) === r.memberStart);
}

/** Pids of live processes in group `pgid` whose environment carries the marker. */
function markedMembers(pgid: number, marker: string): number[] {
  const needle = `${MARKER_VAR}=${marker}`;
  const out: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const p of pids) {
    const f = statFields(Number(p));
    if (!f || Number(f[2]) !== pgid || f[0] === 'Z') continue;
    try {
      if (readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(needle)) out.push(Number(p));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

export function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // already gone
  }
}

/** Groups started by this process and not yet ended, by record file: killed when the process exits. */
const live = new Map<string, number>();
let exitHookInstalled = false;

function killLiveGroups(): void {
  for (const [file, pgid] of live) {
    killGroup(pgid, 'SIGKILL');
    rmSync(file, { force: true });
  }
  live.clear();
}

export class ShellGroups {
  constructor(readonly dir: string) {}

  /** Records a group that has just been started; throws when the record cannot be written. */
  add(pgid: number, marker: string): string {
    if (!exitHookInstalled) {
      process.on('exit', killLiveGroups);
      exitHookInstalled = true;
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${process.pid}-${pgid}-${marker}.json`);
    const record: GroupRecord = { pgid, marker, memberPid: process.pid, memberStart: selfStart };
    live.set(file, pgid);
    writeFileSync(file, JSON.stringify(record), { mode: 0o600 });
    return file;
  }

  /** The group has been ended: forget it. */
  remove(file: string): void {
    live.delete(file);
    rmSync(file, { force: true });
  }
}

/**
 * At start-up: SIGKILLs the groups recorded by members that are gone (SIGKILLed, lost power) and
 * removes their records. Returns the pgids it killed.
 */
export function reapOrphanGroups(dir: string): number[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return []; // no directory: nothing was ever recorded here
  }
  if (selfStart === null) return []; // no /proc: the marker cannot be checked, so nothing is killed
  const killed: number[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    let r: GroupRecord;
    try {
      r = JSON.parse(readFileSync(file, 'utf8')) as GroupRecord;
    } catch {
      continue; // being written by a live member, or not ours
    }
    if (!Number.isInteger(r.pgid) || r.pgid <= 1 || typeof r.marker !== 'string' || memberAlive(r)) continue;
    if (markedMembers(r.pgid, r.marker).length > 0) {
      killGroup(r.pgid, 'SIGKILL');
      killed.push(r.pgid);
    }
    rmSync(file, { force: true });
  }
  return killed;
}
