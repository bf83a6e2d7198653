// Structured JSON logs (pino). Child loggers carry fiId/niId/tiId so one grep follows an instance.
// Secrets never reach a log line: task config headers are redacted by path, and an error's message
// and stack (a database error quotes the failed statement, task configs included) are masked.
import { pino, stdSerializers, type Logger } from 'pino';
import { MASK, maskSecretsInText, secretHeaderNames } from './secrets.js';

export type { Logger };

const REDACT = ['headers', 'config.headers', 'taskConfig.headers', 'config.env', 'taskConfig.env'];

export function createLogger(level: string, base: Record<string, unknown> = {}, secretHeaders: readonly string[] = []): Logger {
  const names = secretHeaderNames(secretHeaders);
  const err = (e: Error) => {
    const o = stdSerializers.err(e);
    if (typeof o.message === 'string') o.message = maskSecretsInText(o.message, names);
    if (typeof o.stack === 'string') o.stack = maskSecretsInText(o.stack, names);
    return o;
  };
  return pino({
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err },
    redact: { paths: [...REDACT, ...REDACT.map((p) => `*.${p}`)], censor: MASK },
  });
}
