// SHELL tasks with real member processes: the task's environment is scrubbed (the member's secrets are
// not in it), and nothing a task started outlives its member: SIGTERM ends the group on the way out,
// and after a SIGKILL the next member started on the same state directory ends the orphaned group.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Processes, type MemberProc } from './helpers/processes.js';
import { isolated } from './helpers/env.js';
import { createTask } from './helpers/flows.js';
import { runTask } from './helpers/tasks.js';
import { waitFor } from './helpers/wait.js';
import { MARKER_VAR, reapOrphanGroups } from '../src/executors/shellGroups.js';

/** Running, and not a zombie waiting to be reaped (dead all the same). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const ADMIN = 'admin-secret-0123456789';
const leftovers: number[] = [];

describe('security: SHELL tasks', function () {
  this.timeout(90_000);
  let procs: Processes;
  let env: Record<string, string>;
  let dir: string;
  let state: string;

  beforeEach(() => {
    const iso = isolated();
    procs = new Processes(iso.REDIS_PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'ts-sec-shell-'));
    state = join(dir, 'state');
    env = { ...iso, SHELL_TASKS_ENABLED: 'true', ADMIN_TOKEN: ADMIN, SHELL_STATE_DIR: state, TASK_ENV_ALLOW: 'SHARED_VALUE', SHARED_VALUE: 'v1' };
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(procs.dump());
    for (const p of procs.procs) p.kill('SIGTERM');
    await Promise.all(procs.procs.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 8000))])));
    await procs.killAll();
    for (const pid of leftovers.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** A task that records its shell's and a background child's pids, then waits (the first attempt only). */
  const longTask = () =>
    `[ -e ${dir}/ran ] && exit 0; touch ${dir}/ran; echo $$ > ${dir}/shell.pid; sleep 300 & echo $! > ${dir}/child.pid; wait`;

  async function startLong(m: MemberProc): Promise<{ shell: number; child: number }> {
    const id = await createTask(m.api, 'SHELL', longTask(), { timeoutMs: 600_000 });
    const r = await m.api('POST', `/exec/task/${id}`);
    expect(r.status, r.text).to.equal(200);
    const child = await waitFor('the background child to start', async () => Number(readFileSync(`${dir}/child.pid`, 'utf8').trim()) || null, 20_000);
    const shell = Number(readFileSync(`${dir}/shell.pid`, 'utf8').trim());
    leftovers.push(child, shell);
    expect(alive(child)).to.equal(true);
    return { shell, child };
  }

  it("gets PATH, HOME, LANG, TZ, the TASK_ENV_ALLOW names and its own env, and none of the member's (DATABASE_URL, ADMIN_TOKEN…)", async () => {
    const m = await procs.start({ id: 'shell-env', roles: 'web,worker', env });
    const id = await createTask(m.api, 'SHELL', 'env', { env: { FOO: 'bar', REF: '${env:SHARED_VALUE}' } });
    const ti = await runTask(m.api, id);
    expect(ti.status, ti.errorMsg).to.equal('SUCCESS');
    const vars = new Map<string, string>(
      (JSON.parse(ti.output).stdout as string).split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    for (const secret of ['DATABASE_URL', 'ADMIN_TOKEN', 'REDIS_URL', 'REDIS_PREFIX', 'SHELL_TASKS_ENABLED', 'TASK_ENV_ALLOW']) expect(vars.has(secret), secret).to.equal(false);
    expect(ti.output).to.not.include(ADMIN);
    expect(ti.output).to.not.include('mysql://');
    expect(vars.get('FOO')).to.equal('bar');
    expect(vars.get('REF')).to.equal('v1');
    expect(vars.get('SHARED_VALUE')).to.equal('v1');
    expect(vars.get('PATH')).to.equal(process.env.PATH);
    // Nothing else but what /bin/sh sets itself.
    expect(vars.get('TASK_SCHEDULE_IDEMPOTENCY_KEY')).to.equal(`ts-${ti.tiId}`);
    const allowed = new Set(['PATH', 'HOME', 'LANG', 'TZ', 'SHARED_VALUE', 'FOO', 'REF', MARKER_VAR, 'TASK_SCHEDULE_IDEMPOTENCY_KEY', 'PWD', 'OLDPWD', 'SHLVL', '_']);
    expect([...vars.keys()].filter((k) => !allowed.has(k))).to.deep.equal([]);
  });

  it("a task's process group is gone after its member is SIGTERMed, and so is its record", async () => {
    const m = await procs.start({ id: 'shell-term', roles: 'web,worker', env });
    const { shell, child } = await startLong(m);
    expect(readdirSync(state)).to.have.length(1);
    m.kill('SIGTERM');
    expect(await m.exited).to.deep.equal({ code: 0, signal: null });
    await waitFor('the child and its shell to be gone', async () => !alive(child) && !alive(shell), 10_000);
    expect(readdirSync(state)).to.deep.equal([]);
  });

  it('after a SIGKILL the group survives its member; the next member on the same state directory kills it', async () => {
    const a = await procs.start({ id: 'shell-kill-a', roles: 'web,worker', env });
    const { shell, child } = await startLong(a);
    a.kill('SIGKILL');
    await a.exited;
    await new Promise((r) => setTimeout(r, 300)); // it would be gone by now if anything had killed it
    expect(alive(child), 'the orphan lives on after its member was SIGKILLed').to.equal(true);
    expect(readdirSync(state)).to.have.length(1);
    const b = await procs.start({ id: 'shell-kill-b', roles: 'worker', env });
    await waitFor('the orphaned group to be killed', async () => !alive(child) && !alive(shell), 10_000);
    expect(readdirSync(state)).to.deep.equal([]);
    expect(b.output()).to.match(/killed SHELL process groups left by a member that is gone/);
  });

  it('on start-up a record is checked before anything is killed: only a group carrying its marker', async () => {
    mkdirSync(state, { recursive: true });
    // A dead member's pid: a process that has come and gone.
    const gone = spawn('true');
    await new Promise((r) => gone.on('exit', r));
    // A group that is not the record's: same pgid, no marker in its environment (a reused pid).
    const stranger = spawn('sleep', ['300'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH! } });
    leftovers.push(stranger.pid!);
    writeFileSync(join(state, `${gone.pid}-${stranger.pid}-m1.json`), JSON.stringify({ pgid: stranger.pid, marker: 'm1', memberPid: gone.pid, memberStart: 1 }));
    // A group of a live member (this process): left alone, record kept.
    const mine = spawn('sleep', ['300'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH!, [MARKER_VAR]: 'm2' } });
    leftovers.push(mine.pid!);
    const selfStart = Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19]);
    writeFileSync(join(state, `${process.pid}-${mine.pid}-m2.json`), JSON.stringify({ pgid: mine.pid, marker: 'm2', memberPid: process.pid, memberStart: selfStart }));
    // A dead member's group that does carry its marker: killed.
    const orphan = spawn('sleep', ['300'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH!, [MARKER_VAR]: 'm3' } });
    leftovers.push(orphan.pid!);
    writeFileSync(join(state, `${gone.pid}-${orphan.pid}-m3.json`), JSON.stringify({ pgid: orphan.pid, marker: 'm3', memberPid: gone.pid, memberStart: 1 }));

    expect(reapOrphanGroups(state)).to.deep.equal([orphan.pid]);
    await waitFor('the orphan to be gone', async () => !alive(orphan.pid!), 5000);
    expect(alive(stranger.pid!)).to.equal(true);
    expect(alive(mine.pid!)).to.equal(true);
    expect(readdirSync(state)).to.deep.equal([`${process.pid}-${mine.pid}-m2.json`]);
  });
});

