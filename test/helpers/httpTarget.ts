// A small local HTTP server for HTTP task tests, on every address of the host (`::`, dual-stack):
//   /ok            200 JSON {method, path, authorization, cookie, body}
//   /redirect?to=U&status=S   answers S (default 302) with Location U
//   /loop/N        302 to /loop/N+1, forever
//   /endless       200 and a body that never ends (until the client goes)
//   /gzip          a gzip-encoded 200 body
//   /trickle       200, one byte, then nothing
// Every request is kept in `seen`.
import http from 'node:http';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpTarget {
  port: number;
  seen: Seen[];
  /** Open connections the server has now (an endless answer the client gave up on leaves none). */
  connections(): Promise<number>;
  close(): Promise<void>;
}

export async function startHttpTarget(): Promise<HttpTarget> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/ok') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ method: req.method, path: req.url, authorization: req.headers.authorization ?? null, cookie: req.headers.cookie ?? null, body }));
      }
      if (u.pathname === '/redirect') {
        res.writeHead(Number(u.searchParams.get('status') ?? 302), { location: u.searchParams.get('to')! });
        return res.end('moved');
      }
      const loop = /^\/loop\/(\d+)$/.exec(u.pathname);
      if (loop) {
        res.writeHead(302, { location: `/loop/${Number(loop[1]) + 1}` });
        return res.end();
      }
      if (u.pathname === '/endless') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(64 * 1024, 'z');
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        return pump();
      }
      if (u.pathname === '/gzip') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        return res.end(zlib.gzipSync('unzipped body'));
      }
      if (u.pathname === '/trickle') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.write('a');
      }
      res.writeHead(404);
      res.end('no such path');
    });
  });
  await new Promise<void>((r) => server.listen(0, '::', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    connections: () => new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n)))),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
