// What counts as a secret in a task's config, and how it is hidden. Read endpoints show these values
// as "***" (definitions/secrets.ts), HTTP tasks drop these headers on a redirect to another origin,
// and logs mask them wherever they appear as JSON text (a database error quoting a statement).
export const MASK = '***';

/** Header names whose values are secret whatever HTTP_TASK_SECRET_HEADERS says (lower case). */
export const BUILTIN_SECRET_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key'];

/** SHELL `taskConfig.env` names that look like they hold a secret. */
export const SECRET_ENV_NAME = /SECRET|TOKEN|PASS(WORD|WD)?|KEY|CREDENTIAL|AUTH|COOKIE/i;

/** The built-in secret header names plus the operator's (HTTP_TASK_SECRET_HEADERS), lower case. */
export function secretHeaderNames(extra: readonly string[] = []): ReadonlySet<string> {
  return new Set([...BUILTIN_SECRET_HEADERS, ...extra.map((h) => h.toLowerCase())]);
}

/**
 * A value that is nothing but a reference to the member's environment, optionally after an auth
 * scheme word (`Bearer ${env:API_TOKEN}`): it holds no secret, so it is shown as it is.
 */
export function isOnlyEnvRef(value: string): boolean {
  return /^(?:[A-Za-z][A-Za-z0-9-]* )?\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$/.test(value);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Masks, in free text, the values of secret headers written as JSON (`"Authorization":"…"`, also with
 * the quotes backslash-escaped as in SQL text) and bearer tokens. Used on log lines, where a database
 * error can quote a whole statement.
 */
export function maskSecretsInText(text: string, names: ReadonlySet<string>): string {
  const alt = [...names].map(escapeRe).join('|');
  const json = new RegExp(`(\\\\*"(?:${alt})\\\\*"\\s*:\\s*\\\\*")((?:[^"\\\\]|\\\\(?!"))*)`, 'gi');
  return text.replace(json, `$1${MASK}`).replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${MASK}`);
}
