// HTTP: one request from the task's config (method, default GET; url; headers; body, JSON-encoded when
// it is not a string). A 2xx answer is success; anything else is a TaskFailure `HTTP <status>`. Either
// way the output is JSON text {status, body} with the last 4 KiB of the response body.
import { Tail, TaskFailure, throwIfAborted, type Executor } from './types.js';

export const httpExecutor: Executor = {
  type: 'HTTP',
  async run({ config, signal }) {
    throwIfAborted(signal);
    if (!config.url) throw new TaskFailure('HTTP task has no url in its config');
    const method = config.method ?? 'GET';
    const headers = new Headers(config.headers ?? {});
    let body: string | undefined;
    if (config.body !== undefined && config.body !== null) {
      if (typeof config.body === 'string') {
        body = config.body;
      } else {
        body = JSON.stringify(config.body);
        if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      }
    }
    const res = await fetch(config.url, { method, headers, body, signal });
    const tail = new Tail();
    if (res.body) {
      for await (const chunk of res.body) tail.push(chunk as Uint8Array);
    }
    const output = JSON.stringify({ status: res.status, body: tail.toString() });
    if (res.status >= 200 && res.status < 300) return output;
    throw new TaskFailure(`HTTP ${res.status}`, output);
  },
};
