// A record of task runs kept outside the program under test: SHELL tasks that sleep, then append a line
// "<n> <epoch ms>" to a file named after their key and print it. One task definition per key (the
// executor knows nothing of task instances), so a key is one task instance when each flow instance has
// tasks of its own. A run aborted before its end (killed with its process group) writes nothing; so a
// line is a run that finished, and a second line for a key is a second run of it.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FinishedRun {
  key: string;
  /** 1 for the key's first finished run. */
  n: number;
  /** When the run wrote its line (epoch ms, this machine's clock). */
  at: number;
}

export class RunLog {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'ts-runlog-'));

  /** The SHELL task content for `key`: sleep `ms`, then record and print the finished run. */
  command(key: string, ms: number): string {
    if (!/^[\w-]+$/.test(key)) throw new Error(`bad key ${key}`);
    const f = path.join(this.dir, key);
    const s = (ms / 1000).toFixed(3);
    // The line is the shell's last act, so a run aborted before it wrote nothing, and one that wrote
    // it has nothing left to do but exit.
    return `sleep ${s} && n=$(( $(cat '${f}' 2>/dev/null | wc -l) + 1 )) && t=$(date +%s%3N) && echo "run $n of ${key} ended $t" && echo "$n $t" >> '${f}'`;
  }

  /** Every finished run, by key. */
  runs(): Map<string, FinishedRun[]> {
    const out = new Map<string, FinishedRun[]>();
    for (const key of readdirSync(this.dir)) {
      const lines = readFileSync(path.join(this.dir, key), 'utf8').split('\n').filter(Boolean);
      out.set(key, lines.map((l) => {
        const [n, at] = l.split(' ').map(Number);
        return { key, n, at };
      }));
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
