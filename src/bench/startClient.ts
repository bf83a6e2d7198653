// The start burst's HTTP client: one kept-alive HTTP/1.1 connection per start in flight, requests
// written and answers read straight off the socket (as load generators such as wrk or autocannon do).
// The client shares the machine's two cores with what it measures; node:http's client took ~0.5 ms of
// CPU per start here, about a seventh of the machine's work in a run, where a caller of the API
// would be on a machine of its own. The answers are checked all the same: status 200 and the
// envelope's code, or the start fails the run.
import net from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');

/** A connection that sends one bodiless POST at a time and resolves with its answer's JSON body. */
export class StartConnection {
  private socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { path: string; resolve: (body: any) => void; reject: (e: Error) => void } | null = null;
  private failed: Error | null = null;

  constructor(private readonly base: URL) {
    this.socket = net.connect(Number(base.port), base.hostname);
    this.socket.setNoDelay(true);
    this.socket.on('data', (c: Buffer) => this.onData(c));
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => this.fail(new Error(`the connection to ${base.host} closed`)));
  }

  /** POST path (no body); resolves with the envelope's data when the answer is 200, else rejects. */
  post(path: string): Promise<any> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.waiting) return Promise.reject(new Error('one request at a time on a StartConnection'));
    return new Promise((resolve, reject) => {
      this.waiting = { path, resolve, reject };
      this.socket.write(`POST ${path} HTTP/1.1\r\nHost: ${this.base.host}\r\nContent-Length: 0\r\n\r\n`);
    });
  }

  close(): void {
    this.failed ??= new Error('closed');
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const end = this.buf.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) return this.fail(new Error(`an answer without content-length: ${head.split('\r\n')[0]}`));
    const bodyEnd = end + 4 + Number(length[1]);
    if (this.buf.length < bodyEnd) return;
    const status = Number(head.slice(9, 12));
    const text = this.buf.toString('utf8', end + 4, bodyEnd);
    this.buf = this.buf.subarray(bodyEnd);
    const w = this.waiting;
    this.waiting = null;
    if (!w) return this.fail(new Error('an answer nobody asked for'));
    try {
      const json = JSON.parse(text) as { code: string; data: any; message: string };
      if (status !== 200 || json.code !== '200') w.reject(new Error(`POST ${w.path}: ${status} ${json.message}`));
      else w.resolve(json.data);
    } catch (e) {
      w.reject(e as Error);
    }
  }

  private fail(e: Error): void {
    this.failed ??= e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }
}
