// A TCP proxy in front of a Redis that can go mute: the connections stay open, bytes sent into them are
// swallowed and nothing comes back, as through a network partition, a NAT or firewall that forgot the
// flow, or a peer whose socket is half-open. No error ever reaches the client; only a client that
// notices its commands stopped settling can get out.
import net from 'node:net';

type Mode = 'pass' | 'muteAfterHandshake';

export class MuteProxy {
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket; muted: boolean }>();
  private mode: Mode = 'pass';
  /** Connections the proxy accepted so far (a reconnect is a new one). */
  accepted = 0;

  private constructor(private readonly server: net.Server, readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  static async start(upstreamPort: number): Promise<MuteProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new MuteProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.accept(client, upstreamPort));
    return proxy;
  }

  private accept(client: net.Socket, upstreamPort: number): void {
    this.accepted += 1;
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    const pair = { client, upstream, muted: false };
    this.pairs.add(pair);
    const muteAfterHandshake = this.mode === 'muteAfterHandshake';
    client.on('data', (d) => pair.muted || upstream.write(d));
    upstream.on('data', (d) => {
      if (pair.muted) return;
      client.write(d);
      // ioredis' ready check (INFO) is the last step of its handshake: after its reply, silence.
      if (muteAfterHandshake && d.includes('redis_version')) pair.muted = true;
    });
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  }

  /** Every open connection goes mute; new ones pass. */
  muteOpen(): void {
    for (const p of this.pairs) p.muted = true;
  }

  /** Every open connection goes mute, and so does every new one once its handshake is through. */
  muteAll(): void {
    this.mode = 'muteAfterHandshake';
    this.muteOpen();
  }

  /** New connections pass again (the muted ones stay mute until their clients give up on them). */
  heal(): void {
    this.mode = 'pass';
  }

  async stop(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
