// The TypeScript client of the external workers' protocol: `import { Worker } from 'task-schedule/worker'`.
// It long-polls the queues for as many tasks as it has free slots, runs `handler` for each, renews the
// lease at a third of it while the handler runs, and completes the task with what the handler returns
// (or fails it with what it throws). 503s and network errors are retried with back-off; a 409 means the
// task is not this worker's any more (its lease ran out, it was cancelled or timed out): its signal is
// aborted and nothing is reported. `stop()` stops polling, lets running handlers finish within a grace
// period, and hands the rest back (POST /worker/release: the run is not counted).
//
// Standalone on purpose: nothing here imports the server, and it needs nothing beyond Node's own modules.
// node:http(s) with kept-alive connections rather than fetch: fetch (undici) costs several times the CPU
// per request, and a worker makes two requests per task — or one: a complete asks for the flow's next
// task (`next`), and the member hands it over in its answer when it is a WORKER task of these queues.
import http from 'node:http';
import https from 'node:https';
import { hostname } from 'node:os';

export interface WorkerTask {
  tiId: number;
  leaseToken: string;
  queue: string;
  taskId: number;
  taskName: string;
  fiId: number | null;
  nodeKey: string | null;
  attempt: number;
  leaseMs: number;
  input: unknown;
  content: string | null;
}

export interface TaskContext {
  /** Aborted when the task is no longer this worker's (409 on a heartbeat) or the worker stops past its grace. */
  signal: AbortSignal;
}

/** Throw it (or any error with `retryable: false`) to fail the task at once, without retries. */
export class PermanentError extends Error {
  readonly retryable = false;
}

export interface WorkerOptions {
  /** The member's base URL, e.g. http://localhost:8080 */
  url: string;
  /** An API token (`name:secret:worker` or a write token) when the cluster has API_TOKENS. */
  token?: string;
  queues: string[];
  /** Tasks run at once (default 1). */
  concurrency?: number;
  /** Its result is the task's output (any JSON; undefined → null). Throw to fail the attempt. */
  handler: (task: WorkerTask, ctx: TaskContext) => Promise<unknown> | unknown;
  /** Names this worker (default `<hostname>-<pid>`). */
  workerId?: string;
  /**
   * Polls out at once, each for its share of the free slots (default: one per 8 slots, at most 4). A busy
   * worker then takes tasks as fast as several polls bring them; an idle one holds that many long polls.
   */
  polls?: number;
  /** How long one poll waits for work (default 20,000 ms, at most 60,000). */
  waitMs?: number;
  /** Told of errors the worker recovers from (a failed poll, a lost lease…). */
  onError?: (err: Error) => void;
}

class HttpFailure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** The most tasks one poll may ask for (the server's limit). */
const MAX_PER_POLL = 100;

/** The most completes one request carries, and the most bytes of them (the member takes 1 MiB and 64 KiB). */
const COMPLETE_BATCH = 100;
const COMPLETE_BATCH_BYTES = 512 * 1024;

interface PendingComplete {
  lease: { tiId: number; leaseToken: string };
  /** The complete as JSON (tiId, leaseToken, output), as it goes into the request's list, and its size in bytes. */
  item: string;
  bytes: number;
  wantNext: boolean;
  resolve: (next: WorkerTask[]) => void;
  reject: (e: Error) => void;
}

const transient = (e: unknown) => !(e instanceof HttpFailure) || e.status === 503 || e.status === 502 || e.status === 504 || e.status === 429;

export class Worker {
  private running = new Map<number, { task: WorkerTask; abort: AbortController; done: Promise<void> }>();
  /**
   * Handlers running now: a slot is free again once its handler has returned, while its result is still
   * being reported, so the next poll is already waiting when the report moves the flow on.
   */
  private handling = 0;
  private stopping = false;
  private stopCtl = new AbortController();
  private loop: Promise<void> | null = null;
  /** Slots asked for by polls in flight (so polls running side by side never ask for more than is free). */
  private asked = 0;
  private slotWaiters: (() => void)[] = [];
  /** Completes waiting for this turn of the event loop to end (flushCompletes). */
  private completes: PendingComplete[] = [];
  /** False once the member turned out not to know POST /worker/complete-many. */
  private batching = true;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  /** The member's address, parsed once (`path`: its base path, if any). */
  private readonly target: { protocol: string; hostname: string; port: string; path: string };
  private readonly opts: Required<Omit<WorkerOptions, 'token' | 'onError'>> & Pick<WorkerOptions, 'token' | 'onError'>;

  constructor(opts: WorkerOptions) {
    const concurrency = opts.concurrency ?? 1;
    this.opts = { workerId: `${hostname()}-${process.pid}`, waitMs: 20_000, ...opts, concurrency, polls: Math.max(1, Math.min(opts.polls ?? Math.min(4, Math.ceil(concurrency / 8)), concurrency)), url: opts.url.replace(/\/+$/, '') };
    if (!this.opts.queues.length) throw new TypeError('queues: name at least one queue');
    this.transport = this.opts.url.startsWith('https:') ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true });
    const u = new URL(this.opts.url);
    this.target = { protocol: u.protocol, hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port, path: u.pathname.replace(/\/+$/, '') };
  }

  /** Starts polling (returns this, so `new Worker(…).start()`). */
  start(): this {
    this.loop ??= Promise.all(Array.from({ length: this.opts.polls }, () => this.pollLoop())).then(() => {});
    return this;
  }

  /** Tasks being handled now. */
  get busy(): number {
    return this.running.size;
  }

  /**
   * Stops polling; running handlers get `graceMs` (default 30 s) to finish and report, then their
   * signals abort and their tasks are handed back to the queue.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    this.stopCtl.abort();
    this.slotFreed();
    await this.loop;
    const all = Promise.allSettled([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      const left = [...this.running.values()];
      for (const r of left) r.abort.abort(new Error('worker stopped'));
      await Promise.allSettled(left.map((r) => this.send('/worker/release', { tiId: r.task.tiId, leaseToken: r.task.leaseToken }, 3)));
    }
    this.agent.destroy();
  }

  /** Wakes the poll loops waiting for a free slot. */
  private slotFreed(): void {
    const w = this.slotWaiters;
    this.slotWaiters = [];
    for (const r of w) r();
  }

  /** One of `polls` loops: each asks for at most its share of the slots, so a busy worker has several polls out. */
  private async pollLoop(): Promise<void> {
    const share = Math.ceil(this.opts.concurrency / this.opts.polls);
    let backoff = 0;
    while (!this.stopping) {
      const free = Math.min(share, this.opts.concurrency - this.handling - this.asked, MAX_PER_POLL);
      if (free <= 0) {
        // Woken by a freed slot: poll after the I/O already in (other answers freeing slots), so one poll
        // asks for all of them rather than one poll each.
        await new Promise<void>((r) => this.slotWaiters.push(() => setImmediate(r)));
        continue;
      }
      this.asked += free;
      let tasks: WorkerTask[];
      try {
        tasks = (await this.request('/worker/poll', { queues: this.opts.queues, workerId: this.opts.workerId, max: free, waitMs: this.opts.waitMs }, this.opts.waitMs + 15_000, this.stopCtl.signal)) as WorkerTask[];
        backoff = 0;
      } catch (e) {
        this.asked -= free;
        if (this.stopping) break;
        this.opts.onError?.(e as Error);
        if (!transient(e) && (e as HttpFailure).status !== 401 && (e as HttpFailure).status !== 403) backoff = Math.max(backoff, 1000);
        backoff = Math.min(backoff ? backoff * 2 : 250, 10_000);
        await sleep(backoff * (0.5 + Math.random() / 2), this.stopCtl.signal);
        continue;
      }
      this.asked -= free;
      for (const t of tasks) this.run(t);
    }
  }

  /**
   * Runs a task in a slot of its own, then, as long as each complete hands over the flow's next task
   * (`next`), that one in the same slot, with no poll between.
   */
  private run(task: WorkerTask): void {
    this.handling++;
    let freed = false;
    const free = () => {
      if (freed) return;
      freed = true;
      this.handling--;
      this.slotFreed();
    };
    const slot = { task, abort: new AbortController(), done: Promise.resolve() };
    this.running.set(task.tiId, slot);
    slot.done = (async () => {
      let t: WorkerTask | null = task;
      while (t) {
        slot.task = t;
        slot.abort = new AbortController();
        this.running.set(t.tiId, slot);
        const now: WorkerTask = t;
        try {
          t = await this.handle(now, slot.abort, free);
        } finally {
          this.running.delete(now.tiId);
        }
      }
    })().finally(free);
  }

  /**
   * Runs the handler and reports its outcome. A success asks for the flow's next task for the slot it
   * frees (`next`): the slot stays this run's until the answer, and the task handed over (if any) is
   * returned to run in it. Otherwise the slot is freed once the handler has returned, while the result is
   * still being reported, so the next poll is already waiting when the report moves the flow on.
   */
  private async handle(task: WorkerTask, abort: AbortController, freeSlot: () => void): Promise<WorkerTask | null> {
    const lease = { tiId: task.tiId, leaseToken: task.leaseToken };
    let lost = false;
    const beat = setInterval(() => {
      this.request('/worker/heartbeat', lease, Math.max(1000, task.leaseMs / 3)).catch((e) => {
        if (e instanceof HttpFailure && (e.status === 409 || e.status === 404)) {
          lost = true;
          clearInterval(beat);
          abort.abort(new Error(`task ${task.tiId} is no longer this worker's: ${e.message}`));
        }
        this.opts.onError?.(e as Error);
      });
    }, Math.max(250, Math.floor(task.leaseMs / 3)));
    let outcome: { ok: true; json: string } | { ok: false; error: string; retryable: boolean };
    try {
      const output = await this.opts.handler(task, { signal: abort.signal });
      outcome = { ok: true, json: asJson(output === undefined ? null : output) };
    } catch (e) {
      const err = e as { message?: string; retryable?: boolean };
      outcome = { ok: false, error: err?.message ?? String(e), retryable: err?.retryable !== false };
    } finally {
      clearInterval(beat);
    }
    // Lost (409) or handed back at stop: nothing of ours to report.
    if (lost || abort.signal.aborted) {
      freeSlot();
      return null;
    }
    const wantNext = outcome.ok && !this.stopping;
    if (!wantNext && !this.stopping) freeSlot();
    let handedOver: WorkerTask | null = null;
    try {
      if (outcome.ok) {
        const tasks = await this.complete(lease, outcome.json, wantNext);
        if (tasks.length && this.stopping) {
          // Stopping: what was handed over goes back to its queue.
          await Promise.allSettled(tasks.map((t) => this.send('/worker/release', { tiId: t.tiId, leaseToken: t.leaseToken }, 3)));
        } else if (tasks.length) {
          handedOver = tasks[0]!;
          for (const extra of tasks.slice(1)) this.run(extra); // never with max 1; a server that gives more is obeyed
        }
      } else {
        await this.send('/worker/fail', { ...lease, error: outcome.error, retryable: outcome.retryable });
      }
    } catch (e) {
      this.opts.onError?.(e as Error);
    }
    // The slot goes on to the task handed over; else it is free now (it was already without `next`).
    if (!handedOver) freeSlot();
    return handedOver;
  }

  /**
   * Completes a task; with `wantNext`, what the member hands over for its slot (at most one task). The
   * completes of handlers that finish together (in one turn of the event loop) go in one request,
   * POST /worker/complete-many, up to COMPLETE_BATCH tasks and COMPLETE_BATCH_BYTES of body: a busy
   * worker then makes one request for many steps. A larger output goes alone, as POST /worker/complete.
   */
  private complete(lease: { tiId: number; leaseToken: string }, json: string, wantNext: boolean): Promise<WorkerTask[]> {
    const item = `{"tiId":${lease.tiId},"leaseToken":${JSON.stringify(lease.leaseToken)},"output":${json}}`;
    const bytes = Buffer.byteLength(item);
    if (!this.batching || bytes > COMPLETE_BATCH_BYTES) return this.completeOne(item, wantNext);
    return new Promise<WorkerTask[]>((resolve, reject) => {
      this.completes.push({ lease, item, bytes, wantNext, resolve, reject });
      if (this.completes.length === 1) setImmediate(() => this.flushCompletes());
    });
  }

  /** POST /worker/complete of one complete (`item`, already JSON: a large output is not made JSON again). */
  private async completeOne(item: string, wantNext: boolean): Promise<WorkerTask[]> {
    const next = wantNext ? `,"next":${JSON.stringify({ queues: this.opts.queues, workerId: this.opts.workerId, max: 1 })}` : '';
    const answer = (await this.send('/worker/complete', `${item.slice(0, -1)}${next}}`)) as { next?: WorkerTask[] } | null;
    return answer?.next ?? [];
  }

  /** Sends the completes waiting, in requests of at most COMPLETE_BATCH tasks and COMPLETE_BATCH_BYTES. */
  private flushCompletes(): void {
    const all = this.completes;
    this.completes = [];
    for (let i = 0; i < all.length; ) {
      let bytes = 0;
      let j = i;
      while (j < all.length && j - i < COMPLETE_BATCH && bytes + all[j]!.bytes <= COMPLETE_BATCH_BYTES) bytes += all[j++]!.bytes + 1;
      void this.sendCompletes(all.slice(i, j));
      i = j;
    }
  }

  private async sendCompletes(batch: PendingComplete[]): Promise<void> {
    const wantNext = batch.some((c) => c.wantNext);
    const next = wantNext ? `,"next":${JSON.stringify({ queues: this.opts.queues, workerId: this.opts.workerId })}` : '';
    let answer: { results?: { tiId: number; code: string; message?: string }[]; next?: WorkerTask[] } | null;
    try {
      answer = (await this.send('/worker/complete-many', `{"completes":[${batch.map((c) => c.item).join(',')}]${next}}`)) as typeof answer;
    } catch (e) {
      if (e instanceof HttpFailure && e.status === 404 && e.message.includes('no route')) {
        // A member older than complete-many: one request per task from now on.
        this.batching = false;
        for (const c of batch) this.completeOne(c.item, c.wantNext).then(c.resolve, c.reject);
      } else for (const c of batch) c.reject(e as Error);
      return;
    }
    // The tasks handed over are one per complete at most; any complete that asked for one may run it.
    const handed = [...(answer?.next ?? [])];
    const byId = new Map((answer?.results ?? []).map((r) => [r.tiId, r]));
    for (const c of batch) {
      const r = byId.get(c.lease.tiId);
      if (r && r.code === '200') c.resolve(c.wantNext && handed.length ? [handed.shift()!] : []);
      else c.reject(new HttpFailure(Number(r?.code ?? 500), `/worker/complete-many: task ${c.lease.tiId}: ${r?.code ?? 'no answer'} ${r?.message ?? ''}`));
    }
    // More handed over than asked for (a complete that asked for none while the worker began to stop):
    // run them as a poll's, or hand them back when stopping.
    for (const t of handed) {
      if (this.stopping) this.send('/worker/release', { tiId: t.tiId, leaseToken: t.leaseToken }, 3).catch((e) => this.opts.onError?.(e as Error));
      else this.run(t);
    }
  }

  /** A report, retried with back-off on 503 and network errors (a 4xx is final); a string body is sent as is. */
  private async send(path: string, body: unknown, attempts = 8): Promise<unknown> {
    for (let i = 1; ; i++) {
      try {
        return await this.request(path, body, 30_000);
      } catch (e) {
        if (!transient(e) || i >= attempts) throw e;
        await sleep(Math.min(200 * 2 ** i, 5_000) * (0.5 + Math.random() / 2));
      }
    }
  }

  private async request(path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    // A plain timer and listener rather than AbortSignal.timeout/any and the request's `signal`: those cost
    // a worker about a tenth of its CPU per request.
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = this.transport.request({ ...this.target, path: this.target.path + path, method: 'POST', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          done();
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error(`${path}: aborted`));
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      function fail(e: Error) {
        done();
        reject(e);
      }
      req.on('error', fail);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      req.end(payload);
    });
    let parsed: { code?: string; message?: string; data?: unknown } | null = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not the envelope: a proxy's page
    }
    if (status < 200 || status >= 300) throw new HttpFailure(status, `${path}: ${status} ${parsed?.message ?? text.slice(0, 200)}`);
    return parsed?.data ?? null;
  }
}

/**
 * A handler's output as JSON, or a throw that fails the attempt (its message says why): a value JSON
 * cannot hold (a BigInt, a cycle, a function) would otherwise fail only when its complete is sent — the
 * task then left to its lease, or a batch of completes made invalid by one of them.
 */
function asJson(output: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(output);
  } catch (e) {
    throw new Error(`the handler's output cannot be sent as JSON: ${(e as Error)?.message ?? String(e)}`);
  }
  if (json === undefined) throw new Error(`the handler's output cannot be sent as JSON: a ${typeof output} has no JSON form`);
  return json;
}
