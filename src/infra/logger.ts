// Structured JSON logs (pino). Child loggers carry fiId/niId/tiId so one grep follows an instance.
// Secrets never reach a log line: task config headers are redacted by path, and an error's message
// and stack (a database error quotes the failed statement, task configs included) are masked.
// Nor does a log line carry a statement's values (knex quotes its SQL with `?` placeholders, see db.ts)
// or more than a few KB of any error's text: a 16 MB output in a refused statement once made 324 MB of
// log lines and took its member's memory with it.
import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { MASK, maskSecretsInText, secretHeaderNames } from './secrets.js';

export type { Logger };

const REDACT = ['headers', 'config.headers', 'taskConfig.headers', 'config.env', 'taskConfig.env'];

/** The most of one text a log line carries (UTF-16 units), enough for any message, a stack or a statement's head. */
export const LOG_TEXT_MAX = 4096;

/** `text` cut to LOG_TEXT_MAX, saying how long it was. */
export function clipLogText(text: string): string {
  return text.length <= LOG_TEXT_MAX ? text : `${text.slice(0, LOG_TEXT_MAX)}… (${text.length} characters in all)`;
}

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
    // Every text field: message and stack, and what a driver adds (mysql2's `sqlMessage`).
    const o = stdSerializers.err(e) as unknown as Record<string, unknown>;
    // mysql2's `sql` is the statement with its values written in (outputs, contents, configs): never
    // logged. A knex query's message quotes it with `?` placeholders instead.
    delete o.sql;
    for (const [k, v] of Object.entries(o)) if (typeof v === 'string') o[k] = maskSecretsInText(clipLogText(v), names);
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
