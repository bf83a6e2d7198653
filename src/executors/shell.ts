// SHELL: runs the content with `/bin/sh -c` in a process group of its own. Off unless the configuration
// allows it. Output: JSON text {exitCode, signal, stdout, stderr} with the last 4 KiB of each stream.
// A non-zero exit is a TaskFailure carrying that output. On abort the whole group gets SIGTERM, then
// SIGKILL after a short grace, and the run rejects with the abort reason.
import { spawn } from 'node:child_process';
import { Tail, TaskFailure, throwIfAborted, type Executor } from './types.js';

export const SHELL_DISABLED_MESSAGE = 'SHELL tasks are disabled: set SHELL_TASKS_ENABLED=true';
const KILL_GRACE_MS = 1000;

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

/** The first lines of the stderr tail, short enough for an error message. */
function stderrSummary(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 3);
  const text = lines.join(' | ');
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

export const shellExecutor: Executor = {
  type: 'SHELL',
  run({ content, signal, shellEnabled }) {
    return new Promise<string | null>((resolve, reject) => {
      if (!shellEnabled) return reject(new TaskFailure(SHELL_DISABLED_MESSAGE));
      try {
        throwIfAborted(signal);
      } catch (e) {
        return reject(e);
      }
      const command = content ?? '';
      if (!command.trim()) return reject(new TaskFailure('SHELL task has no command (its content is empty)'));

      const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const stdout = new Tail();
      const stderr = new Tail();
      child.stdout.on('data', (b: Buffer) => stdout.push(b));
      child.stderr.on('data', (b: Buffer) => stderr.push(b));

      let settled = false;
      let killTimer: NodeJS.Timeout | undefined;
      let giveUpTimer: NodeJS.Timeout | undefined;
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        clearTimeout(killTimer);
        clearTimeout(giveUpTimer);
        f();
      };
      const onAbort = () => {
        killGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
        // Settle even if a stray grandchild keeps the pipes open after the group was killed.
        giveUpTimer = setTimeout(() => finish(() => reject(signal.reason)), KILL_GRACE_MS + 500);
      };
      signal.addEventListener('abort', onAbort, { once: true });

      child.on('error', (err) => finish(() => reject(new TaskFailure(`could not start /bin/sh: ${err.message}`))));
      child.on('exit', () => {
        // The shell is gone; make sure nothing it started lingers in its group.
        if (signal.aborted) {
          killGroup(child.pid, 'SIGKILL');
          finish(() => reject(signal.reason));
        }
      });
      child.on('close', (code, sig) => {
        if (signal.aborted) return finish(() => reject(signal.reason));
        const out = { exitCode: code, signal: sig, stdout: stdout.toString(), stderr: stderr.toString() };
        const output = JSON.stringify(out);
        if (code === 0) return finish(() => resolve(output));
        const why = code === null ? `killed by signal ${sig}` : `exit code ${code}`;
        const summary = stderrSummary(out.stderr);
        finish(() => reject(new TaskFailure(summary ? `${why}: ${summary}` : why, output)));
      });
    });
  },
};
