// A Server-Sent Events client for tests: reads GET /events on a connection of its own (node:http, no
// agent, so closing it closes the socket and nothing is reconnected behind the test's back), keeps
// every message, and waits for the ones a test expects (a poll with a deadline, like waitFor).
import http from 'node:http';
import { waitFor } from './wait.js';

export interface SseMessage {
  event: string;
  id: string | null;
  data: string;
}

export class SseClient {
  readonly messages: SseMessage[] = [];
  ended = false;
  private req: http.ClientRequest | null = null;

  private constructor(readonly status: number, readonly body: string | null) {}

  /** Connects; a non-200 answer is kept in `status`/`body` (and nothing more is read). */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { agent: false, headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            const c = new SseClient(res.statusCode ?? 0, text);
            c.ended = true;
            resolve(c);
          });
          return;
        }
        const c = new SseClient(200, null);
        c.req = req;
        c.parse(res);
        resolve(c);
      });
      req.on('error', reject);
    });
  }

  private parse(res: http.IncomingMessage): void {
    let buf = '';
    let cur: SseMessage = { event: 'message', id: null, data: '' };
    let data: string[] = [];
    res.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (data.length || cur.event !== 'message') this.messages.push({ ...cur, data: data.join('\n') });
          cur = { event: 'message', id: null, data: '' };
          data = [];
        } else if (!line.startsWith(':')) {
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') cur.event = val;
          else if (field === 'id') cur.id = val;
          else if (field === 'data') data.push(val);
        }
      }
    });
    const end = () => { this.ended = true; };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  }

  /** Every status change received, flattened. */
  get events(): any[] {
    return this.messages.filter((m) => m.event === 'status').flatMap((m) => JSON.parse(m.data));
  }

  /** The id of the last message that had one. */
  get lastId(): string | null {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]!.id) return this.messages[i]!.id;
    return null;
  }

  async waitForEvent(what: string, pred: (e: any) => boolean, timeoutMs = 20_000): Promise<any> {
    return waitFor(what, async () => this.events.find(pred), timeoutMs);
  }

  async waitForMessage(event: string, timeoutMs = 10_000): Promise<SseMessage> {
    return waitFor(`an "${event}" message`, async () => this.messages.find((m) => m.event === event), timeoutMs);
  }

  async close(): Promise<void> {
    this.req?.destroy();
    await this.waitEnded();
  }

  /** Resolves when the server ends the stream. */
  async waitEnded(timeoutMs = 10_000): Promise<void> {
    await waitFor('the stream to end', async () => this.ended, timeoutMs);
  }
}
