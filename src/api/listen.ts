// The member's HTTP port, bound first of all: a port already in use (or any other listen error) stops
// start-up with one line before the member migrates a database or joins the cluster. Until the app is
// handed over (serve), requests are answered 503 "starting" in the envelope.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { StartupError } from '../errors.js';
import { answerClientError } from './clientError.js';
import { envelope } from './http.js';

export interface BoundServer {
  server: http.Server;
  port: number;
  /** From now on the app answers. */
  serve(app: Koa): void;
  close(): Promise<void>;
}

function starting(_req: http.IncomingMessage, res: http.ServerResponse): void {
  const body = JSON.stringify(envelope(503, 'starting: this member does not serve yet, try again in a moment', null));
  res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Retry-After': '1', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** `variable`: the setting that named the port (PORT or METRICS_PORT), for the one line. */
export async function bindServer(port: number, variable: string): Promise<BoundServer> {
  let handler: http.RequestListener = starting;
  let closing = false;
  const server = http.createServer((req, res) => {
    // Once closing, every answer ends its connection: a client that keeps reusing a kept-alive one (a
    // dashboard polling, a script in a loop) would otherwise hold server.close() open for ever, as only
    // connections idle at that instant are closed.
    if (closing) res.setHeader('Connection', 'close');
    handler(req, res);
  });
  server.on('clientError', answerClientError);
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'EADDRINUSE' ? 'is already in use (another member or program listens there): stop it, or set'
      : err.code === 'EACCES' ? 'needs privileges this user lacks: set'
      : `cannot be listened on (${err.code ?? err.message}): set`;
    throw new StartupError(`${variable}=${port}: port ${port} ${why} ${variable} to a free port`);
  }
  return {
    server,
    port: (server.address() as AddressInfo).port,
    serve(app) {
      handler = app.callback();
    },
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
