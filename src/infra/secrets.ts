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

/** A JSON member `"name":"value"` (quotes maybe backslash-escaped, as in SQL text): $1 up to the value, $2 the name. */
const jsonMember = (name: string) => new RegExp(`(\\\\*"(${name})\\\\*"\\s*:\\s*\\\\*")((?:[^"\\\\]|\\\\(?!"))*)`, 'gi');
const ENV_MEMBER = jsonMember('[A-Za-z_][A-Za-z0-9_]*');

/**
 * Masks, in free text, the values of secret headers and of secret-looking variable names (SHELL `env`)
 * written as JSON (`"Authorization":"…"`, `"DB_PASSWORD":"…"`, also with the quotes backslash-escaped
 * as in SQL text) and bearer tokens. Used on log lines, where a database error can quote a whole
 * statement (a stored or a rendered config).
 */
export function maskSecretsInText(text: string, names: ReadonlySet<string>): string {
  const headers = jsonMember([...names].map(escapeRe).join('|'));
  return text
    .replace(headers, `$1${MASK}`)
    .replace(ENV_MEMBER, (whole, head: string, name: string) => (SECRET_ENV_NAME.test(name) ? `${head}${MASK}` : whole))
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${MASK}`);
}
