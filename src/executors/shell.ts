// SHELL: runs the content with `/bin/sh -c` in a process group of its own. Off unless the configuration
// allows it. Output: JSON text {exitCode, signal, stdout, stderr} with the last 4 KiB of each stream.
// A non-zero exit is a TaskFailure carrying that output. On abort the whole group gets SIGTERM, then
// SIGKILL after a short grace, and the run rejects with the abort reason.
// The environment is scrubbed: the member's PATH, HOME, LANG and TZ, the TASK_ENV_ALLOW names, then
// the instance's idempotency key (TASK_SCHEDULE_IDEMPOTENCY_KEY), then `taskConfig.env` (its values may
// use `${env:NAME}`); nothing else of the member's (its DATABASE_URL,
// ADMIN_TOKEN…). Nothing the task started outlives it: when the shell ends, what is left of its group
// is killed, and the group is recorded (shellGroups.ts) so that not even a killed member leaves it behind.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolveEnvRefs } from './envRefs.js';
import { killGroup, MARKER_VAR } from './shellGroups.js';
import type { ExecutorSettings } from './settings.js';
import { IDEMPOTENCY_VAR, idempotencyKey, Tail, TaskFailure, throwIfAborted, type ExecContext, type Executor } from './types.js';

export const SHELL_DISABLED_MESSAGE = 'SHELL tasks are disabled: set SHELL_TASKS_ENABLED=true';
const KILL_GRACE_MS = 1000;

/** The first lines of the stderr tail, short enough for an error message. */
function stderrSummary(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 3);
  const text = lines.join(' | ');
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

/**
 * The task's environment: base, allowed names, the instance's idempotency key, its own `env`
 * (resolved; it may set the key's variable itself), and the run marker.
 */
export function shellEnv(config: ExecContext['config'], settings: ExecutorSettings, marker: string, tiId: number): Record<string, string> {
  const own = Object.fromEntries(
    Object.entries(config.env ?? {}).map(([k, v]) => [k, resolveEnvRefs(String(v), settings.env, `taskConfig.env.${k}`)]),
  );
  return { ...settings.shell.baseEnv, ...settings.env.values, [IDEMPOTENCY_VAR]: idempotencyKey(tiId), ...own, [MARKER_VAR]: marker };
}

export const shellExecutor: Executor = {
  type: 'SHELL',
  run({ tiId, content, config, signal, settings }) {
    return new Promise<string | null>((resolve, reject) => {
      if (!settings.shell.enabled) return reject(new TaskFailure(SHELL_DISABLED_MESSAGE));
      let env: Record<string, string>;
      try {
        throwIfAborted(signal);
        env = shellEnv(config, settings, randomBytes(12).toString('hex'), tiId);
      } catch (e) {
        return reject(e);
      }
      const command = content ?? '';
      if (!command.trim()) return reject(new TaskFailure('SHELL task has no command (its content is empty)'));

      const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
      let record: string | null = null;
      if (child.pid) {
        try {
          record = settings.shell.groups.add(child.pid, env[MARKER_VAR]!);
        } catch (e) {
          killGroup(child.pid, 'SIGKILL');
          return reject(new TaskFailure(`could not record the SHELL process group in SHELL_STATE_DIR: ${(e as Error).message}`));
        }
      }
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
        // Whatever the task left running in its group (a background job) ends with it.
        if (child.pid) killGroup(child.pid, 'SIGKILL');
        if (record) settings.shell.groups.remove(record);
        f();
      };
      const onAbort = () => {
        if (child.pid) killGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => child.pid && killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
        // Settle even if a stray grandchild keeps the pipes open after the group was killed.
        giveUpTimer = setTimeout(() => finish(() => reject(signal.reason)), KILL_GRACE_MS + 500);
      };
      signal.addEventListener('abort', onAbort, { once: true });

      child.on('error', (err) => finish(() => reject(new TaskFailure(`could not start /bin/sh: ${err.message}`))));
      child.on('exit', () => {
        if (signal.aborted) finish(() => reject(signal.reason));
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
