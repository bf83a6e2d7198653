// A record of task runs kept outside the program under test: SHELL tasks that log their start, sleep,
// then log their end and print it. One task definition per key (the executor knows nothing of task
// instances), so a key is one task instance when each flow instance has tasks of its own. A run aborted
// before its end (killed with its process group) logs a start and no end; an end line is a run that
// finished, and a start after it is a second run of a task whose result was already there.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FinishedRun {
  key: string;
  /** 1 for the key's first finished run. */
  n: number;
  /** When the run logged its end (epoch ms, this machine's clock). */
  at: number;
}

export interface KeyRuns {
  /** When each run started (epoch ms), in order. */
  starts: number[];
  ends: FinishedRun[];
}

export class RunLog {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'ts-runlog-'));

  /** The SHELL task content for `key`: log the start, sleep `ms`, then print and log the end. */
  command(key: string, ms: number): string {
    if (!/^[\w-]+$/.test(key)) throw new Error(`bad key ${key}`);
    const f = `'${path.join(this.dir, key)}'`;
    const s = (ms / 1000).toFixed(3);
    // The end line is the shell's last act: a run that wrote it has nothing left to do but exit.
    return `echo "start $(date +%s%3N)" >> ${f} && sleep ${s} && n=$(( $(grep -c '^end' ${f} || true) + 1 )) && t=$(date +%s%3N)` +
      ` && echo "run $n of ${key} ended $t" && echo "end $n $t" >> ${f}`;
  }

  /** Every run logged, by key. */
  runs(): Map<string, KeyRuns> {
    const out = new Map<string, KeyRuns>();
    for (const key of readdirSync(this.dir)) {
      const k: KeyRuns = { starts: [], ends: [] };
      for (const line of readFileSync(path.join(this.dir, key), 'utf8').split('\n').filter(Boolean)) {
        const [what, a, b] = line.split(' ');
        if (what === 'start') k.starts.push(Number(a));
        else if (what === 'end') k.ends.push({ key, n: Number(a), at: Number(b) });
      }
      out.set(key, k);
    }
    return out;
  }

  /** What a finished run printed (the task's recorded stdout should be exactly this). */
  static printed(r: FinishedRun): string {
    return `run ${r.n} of ${r.key} ended ${r.at}\n`;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
