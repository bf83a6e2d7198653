// An in-process member for API tests, and a small JSON client for it.
import { loadConfig } from '../../config/index.js';
import { startMember, type Member } from '../../src/member.js';
import { createLogger, type Logger } from '../../src/infra/logger.js';
import { baseEnv } from './env.js';

export interface ApiResponse<T = any> {
  status: number;
  body: { code: string; message: string; data: T };
  text: string;
  headers: Headers;
}

export type Api = <T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<ApiResponse<T>>;

export function apiClient(baseUrl: string): Api {
  return async (method, path, body, headers = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await fetch(baseUrl + path, init);
    const text = await res.text();
    let parsed: any = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
}

export interface TestMember extends Member {
  api: Api;
}

/** `log`: the member's logger, when a test reads what it logs (LOG_LEVEL's, to stdout, otherwise). */
export async function startTestMember(env: Record<string, string> = {}, log?: (config: ReturnType<typeof loadConfig>) => Logger): Promise<TestMember> {
  const config = loadConfig(baseEnv(env));
  const member = await startMember(config, log ? log(config) : createLogger(config.logLevel));
  return Object.assign(member, { api: apiClient(member.url ?? 'http://127.0.0.1:1') });
}
