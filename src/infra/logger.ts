// Structured JSON logs (pino). Child loggers carry fiId/niId/tiId so one grep follows an instance.
// Secrets never reach a log line: task config headers are redacted by path, and an error's message
// and stack (a database error quotes the failed statement, task configs included) are masked.
import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { MASK, maskSecretsInText, secretHeaderNames } from './secrets.js';

export type { Logger };

const REDACT = ['headers', 'config.headers', 'taskConfig.headers', 'config.env', 'taskConfig.env'];

/**
 * LOG_FORMAT=pretty: one human line per entry (time, level, message, then the fields), written on this
 * thread like the JSON (no worker). Lines are redacted and masked before they reach it.
 */
export function prettyDestination(): DestinationStream {
  return pinoPretty({ sync: true, colorize: !!process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
}

/**
 * `secretHeaders`: HTTP_TASK_SECRET_HEADERS; `destination`: stdout unless given (tests read the lines);
 * `format`: LOG_FORMAT (a given destination gets JSON whatever it says).
 */
export function createLogger(level: string, base: Record<string, unknown> = {}, secretHeaders: readonly string[] = [], destination?: DestinationStream, format: 'json' | 'pretty' = 'json'): Logger {
  const names = secretHeaderNames(secretHeaders);
  const err = (e: Error) => {
    // Every text field: message and stack, and what a driver adds (mysql2's `sql`, `sqlMessage`).
    const o = stdSerializers.err(e) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) if (typeof v === 'string') o[k] = maskSecretsInText(v, names);
    return o;
  };
  const options = {
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err },
    redact: { paths: [...REDACT, ...REDACT.map((p) => `*.${p}`)], censor: MASK },
  };
  if (!destination && format === 'pretty') destination = prettyDestination();
  return destination ? pino(options, destination) : pino(options);
}
