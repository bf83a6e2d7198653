// Live status events, receiving side (web members): one subscription to `${REDIS_PREFIX}events` on a
// connection of its own, fanned out to this member's Server-Sent Events clients (GET /events), each
// with its own filter. Since any member may publish, an event reaches the clients of every web member.
//
// - The worker's task events carry no flowId: it is resolved here from fiId, through a bounded cache
//   (fed by the coordinator's events, which carry it) and one MySQL query per message with misses.
// - Messages are numbered per member (`<boot>.<seq>`, boot random per start) and the last RING_SIZE
//   are kept, so a client reconnecting with Last-Event-ID gets what it missed; an id this member cannot
//   replay (another member's, from before a restart, too old) gets a `reset` event: refetch. While
//   the member has no client at all, messages are counted but neither parsed nor kept (a web member
//   nobody watches pays next to nothing), so a lone client that comes back gets `reset`.
// - At most MAX_CLIENTS clients per member (503 beyond); a client that does not read (over
//   MAX_BUFFERED bytes waiting) is dropped and reconnects; a comment every HEARTBEAT_MS keeps
//   proxies from closing idle streams.
import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Services } from '../services.js';
import { duplicateRedis, isCluster, type Redis } from '../infra/redis.js';
import { eventsChannel, WATCH_POLL_MS, watchedKey, type LiveEvent } from '../observe/liveEvents.js';
import { HttpError } from './http.js';
import { FlowIns } from '../models/index.js';

export const MAX_CLIENTS = 100;
export const HEARTBEAT_MS = 15_000;
const RING_SIZE = 1000;
const FLOW_CACHE_SIZE = 10_000;
const MAX_BUFFERED = 1024 * 1024;
/** Messages waiting for a flowId lookup; beyond this the backlog is dropped and clients are reset. */
const MAX_BACKLOG = 10_000;
/** While this member has streams open, the watched key is kept alive (publishers publish only then). */
const WATCH_TTL_MS = 5_000;
const WATCH_EVERY_MS = 2_000;
/** After the key is first set, every publisher has looked within a poll: `ready` waits that long. */
const WARM_UP_MS = WATCH_POLL_MS + 250;

export type Kind = LiveEvent['kind'];

export interface LiveFilter {
  fiId?: number;
  flowId?: number;
  kinds?: Set<Kind>;
}

interface Client {
  filter: LiveFilter;
  stream: PassThrough;
  /** Sent `ready`: events go to it from then on. */
  greeted: boolean;
}

interface Message {
  seq: number;
  events: LiveEvent[];
}

function matches(f: LiveFilter, e: LiveEvent): boolean {
  if (f.kinds && !f.kinds.has(e.kind)) return false;
  if (f.fiId !== undefined && e.fiId !== f.fiId) return false;
  // An event whose flow could not be resolved (MySQL down) is sent rather than lost: clients refetch.
  if (f.flowId !== undefined && (e.fiId === null || (e.flowId !== undefined && e.flowId !== f.flowId))) return false;
  return true;
}

export class LiveHub {
  readonly boot = randomBytes(4).toString('hex');
  private sub: Redis | null = null;
  private clients = new Set<Client>();
  private ring: Message[] = [];
  private seq = 0;
  private flowOf = new Map<number, number>();
  private backlog: string[] = [];
  private draining = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private watching: NodeJS.Timeout | null = null;
  /** Until then, new streams wait for publishers to notice someone watches. */
  private warmUntil = 0;
  private closed = false;

  constructor(private s: Services) {}

  async start(): Promise<void> {
    const sub = duplicateRedis(this.s.redis, this.s.log, 'live events subscriber', { connectionName: `task-schedule:${this.s.memberId}:events` });
    this.sub = sub;
    sub.on('message', (_channel: string, raw: string) => this.receive(raw));
    // ioredis re-subscribes by itself after a reconnect; what was published meanwhile is lost, so
    // clients are told to refetch.
    let first = true;
    sub.on('ready', () => {
      if (!first) this.resetAll('event stream reconnected');
      first = false;
    });
    // A cluster client moves its subscription to another node by itself when a node goes, with no
    // 'ready': what was published meanwhile may be lost all the same.
    if (isCluster(sub)) sub.on('-node', () => this.resetAll('event stream moved to another Redis node'));
    await sub.subscribe(eventsChannel(this.s.config.redisPrefix));
    this.heartbeat = setInterval(() => this.broadcast(': ping\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * A new client's stream: a `ready` event (with an id, so it can resume from here), then what it
   * missed since `lastEventId` (or `reset` when that cannot be replayed), then live events.
   */
  open(filter: LiveFilter, lastEventId: string | undefined): PassThrough {
    this.assertRoom();
    const stream = new PassThrough();
    const client: Client = { filter, stream, greeted: false };
    this.clients.add(client);
    stream.on('close', () => {
      this.clients.delete(client);
      if (!this.clients.size) this.unwatch();
    });
    this.watch();
    const wait = this.warmUntil - Date.now();
    if (wait > 0) {
      // Publishers start within a poll: `ready` (on which a client refetches) comes once they have.
      setTimeout(() => this.greet(client, lastEventId), wait).unref();
    } else {
      this.greet(client, lastEventId);
    }
    return stream;
  }

  /** Throws the 503 a new stream would get now (stopping, or every slot taken); takes nothing. */
  assertRoom(): void {
    if (this.closed) throw new HttpError(503, 'this member is stopping');
    if (this.clients.size >= MAX_CLIENTS) {
      throw new HttpError(503, `too many event streams on this member (at most ${MAX_CLIENTS}); try again shortly or use another member`);
    }
  }

  /** Keeps the watched key alive while this member has streams (set at once on the first). */
  private watch(): void {
    if (this.watching) return;
    const key = watchedKey(this.s.config.redisPrefix);
    const mark = () => void this.s.redis.set(key, this.s.memberId, 'PX', WATCH_TTL_MS).catch(() => {});
    mark();
    this.warmUntil = Date.now() + WARM_UP_MS;
    this.watching = setInterval(mark, WATCH_EVERY_MS);
    this.watching.unref();
  }

  private unwatch(): void {
    if (this.watching) clearInterval(this.watching);
    this.watching = null; // the key expires by itself (another member may still be watching)
  }

  /** A stream's first message, `ready`, then what it missed since `lastEventId` (or `reset`). */
  private greet(client: Client, lastEventId: string | undefined): void {
    if (!this.clients.has(client)) return;
    const { stream } = client;
    client.greeted = true;
    stream.write(`retry: 2000\nid: ${this.boot}.${this.seq}\nevent: ready\ndata: ${JSON.stringify({ memberId: this.s.memberId })}\n\n`);
    if (lastEventId !== undefined) {
      const m = /^([0-9a-f]{8})\.(\d{1,15})$/.exec(lastEventId.trim());
      const from = m && m[1] === this.boot ? Number(m[2]) : null;
      const oldest = this.ring.length ? this.ring[0]!.seq : this.seq + 1;
      if (from === null || from > this.seq || from < oldest - 1) {
        this.write(client, `event: reset\ndata: ${JSON.stringify({ reason: 'events since Last-Event-ID cannot be replayed by this member: refetch' })}\n\n`);
      } else {
        for (const msg of this.ring) if (msg.seq > from) this.send(client, msg);
      }
    }
  }

  /** Ends every stream and the subscription. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.unwatch();
    for (const c of this.clients) c.stream.end();
    this.clients.clear();
    // disconnect, not quit: quit would wait for a Redis that may be down; a subscriber has nothing to flush.
    this.sub?.disconnect();
    this.sub = null;
  }

  private receive(raw: string): void {
    if (this.clients.size === 0 && !this.draining) {
      // Nobody to send it to: not even parsed. The number goes, so an id from before this gap cannot
      // be replayed (reset) rather than be resumed with a hole.
      this.seq += 1;
      this.ring = [];
      return;
    }
    if (this.backlog.length >= MAX_BACKLOG) {
      this.backlog = [];
      this.resetAll('events arrived faster than they could be sent');
      return;
    }
    this.backlog.push(raw);
    if (!this.draining) void this.drain();
  }

  /** Delivers messages in the order they came, each after its flowIds are resolved. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.backlog.length) {
        const raw = this.backlog.shift()!;
        let events: LiveEvent[];
        try {
          events = JSON.parse(raw);
          if (!Array.isArray(events)) continue;
        } catch {
          continue;
        }
        await this.resolveFlows(events);
        const msg: Message = { seq: ++this.seq, events };
        this.ring.push(msg);
        if (this.ring.length > RING_SIZE) this.ring.shift();
        for (const c of this.clients) this.send(c, msg);
      }
    } catch (e) {
      this.s.log.error({ err: e }, 'live events: delivery failed');
    } finally {
      this.draining = false;
    }
  }

  private async resolveFlows(events: LiveEvent[]): Promise<void> {
    const missing = new Set<number>();
    for (const e of events) {
      if (e.fiId === null || e.fiId === undefined) continue;
      if (e.flowId !== undefined) {
        this.remember(e.fiId, e.flowId);
        continue;
      }
      const known = this.flowOf.get(e.fiId);
      if (known !== undefined) e.flowId = known;
      else missing.add(e.fiId);
    }
    if (!missing.size) return;
    try {
      const rows = await FlowIns.query(this.s.knex).select('fi_id', 'flow_id').whereIn('fi_id', [...missing]);
      for (const r of rows) this.remember(Number(r.fi_id), Number(r.flow_id));
    } catch (e) {
      this.s.log.warn({ err: e }, 'live events: could not resolve flow ids');
    }
    for (const e of events) if (e.flowId === undefined && e.fiId != null) {
      const f = this.flowOf.get(e.fiId);
      if (f !== undefined) e.flowId = f;
    }
  }

  private remember(fiId: number, flowId: number): void {
    if (this.flowOf.has(fiId)) return;
    this.flowOf.set(fiId, flowId);
    if (this.flowOf.size > FLOW_CACHE_SIZE) this.flowOf.delete(this.flowOf.keys().next().value!);
  }

  private send(c: Client, msg: Message): void {
    if (!c.greeted) return;
    const mine = msg.events.filter((e) => matches(c.filter, e));
    if (mine.length) this.write(c, `id: ${this.boot}.${msg.seq}\nevent: status\ndata: ${JSON.stringify(mine)}\n\n`);
  }

  private write(c: Client, text: string): void {
    if (c.stream.writableLength > MAX_BUFFERED) {
      // It does not read: drop it; it reconnects and replays or refetches.
      this.clients.delete(c);
      c.stream.end();
      return;
    }
    c.stream.write(text);
  }

  private broadcast(text: string): void {
    for (const c of this.clients) this.write(c, text);
  }

  private resetAll(reason: string): void {
    // Nothing before the gap can be replayed: an id from before it no longer follows on.
    this.ring = [];
    this.seq += 1;
    this.broadcast(`event: reset\ndata: ${JSON.stringify({ reason })}\n\n`);
  }
}
