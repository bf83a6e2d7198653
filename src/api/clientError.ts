// Requests Node's HTTP parser refuses before Koa sees them (headers or URL over Node's 16 KB header
// limit, a malformed request line or header, a request that timed out): answered in the envelope too,
// instead of Node's bare status line. Installed on the server as its 'clientError' listener.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { envelope } from './http.js';

export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // A connection that is already gone (or half-answered) has nobody to read an answer.
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'request line and headers are too large (16 KB at most)']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT' ? [408, 'request not received in time']
    : [400, `malformed HTTP request (${err.code ?? err.message})`];
  const body = JSON.stringify(envelope(status, message, null));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
