// Secrets in a stored taskConfig are written, never read back: every answer shows them as "***", and
// an update that sends "***" back keeps the stored value. Secret are the values of HTTP headers named
// Authorization, Proxy-Authorization, Cookie, X-Api-Key or in HTTP_TASK_SECRET_HEADERS, and of SHELL
// env variables whose names look secret (TOKEN, PASSWORD, KEY…). A value that only references the
// member's environment (`Bearer ${env:API_TOKEN}`) holds no secret and is shown as it is.
import { InvalidInputError } from '../errors.js';
import { BUILTIN_SECRET_HEADERS, isOnlyEnvRef, MASK, SECRET_ENV_NAME } from '../infra/secrets.js';

export type SecretNames = ReadonlySet<string>;

export const DEFAULT_SECRET_HEADERS: SecretNames = new Set(BUILTIN_SECRET_HEADERS);

/** The maps of a config that can hold secrets, with the test telling which of their keys do. */
function secretMaps(headers: SecretNames): [field: string, isSecret: (name: string) => boolean][] {
  return [
    ['headers', (n) => headers.has(n.toLowerCase())],
    ['env', (n) => SECRET_ENV_NAME.test(n)],
  ];
}

const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A copy of the config with every secret value replaced by "***". */
export function redactTaskConfig<T>(cfg: T, headers: SecretNames = DEFAULT_SECRET_HEADERS): T {
  if (!isMap(cfg)) return cfg;
  let out: Record<string, unknown> | null = null;
  for (const [field, isSecret] of secretMaps(headers)) {
    const map = cfg[field];
    if (!isMap(map)) continue;
    const shown = Object.fromEntries(
      Object.entries(map).map(([k, v]) => [k, isSecret(k) && !(typeof v === 'string' && isOnlyEnvRef(v)) ? MASK : v]),
    );
    out = { ...(out ?? cfg), [field]: shown };
  }
  return (out ?? cfg) as T;
}

/** The url's origin (scheme, host, port; default port left out, host lower case), or null. */
function originOf(url: unknown): string | null {
  if (typeof url !== 'string') return null;
  try {
    const o = new URL(url).origin;
    return o === 'null' ? null : o;
  } catch {
    return null;
  }
}

/**
 * The config to store: each secret value sent as "***" replaced by the stored value of that name (the
 * name compared case-insensitively for headers). A "***" with nothing stored behind it is a 400. A
 * secret header is kept this way only while the url's origin stays the stored one: otherwise "***"
 * would send the stored credential to a host its writer never chose (a 400 asks for the value again).
 */
export function restoreMasked(
  input: Record<string, unknown> | null,
  stored: Record<string, unknown> | null,
  headers: SecretNames = DEFAULT_SECRET_HEADERS,
): Record<string, unknown> | null {
  if (!input) return input;
  let out = input;
  for (const [field, isSecret] of secretMaps(headers)) {
    const map = input[field];
    if (!isMap(map) || !Object.entries(map).some(([k, v]) => v === MASK && isSecret(k))) continue;
    const old = isMap(stored?.[field]) ? (stored![field] as Record<string, unknown>) : {};
    const sameName = (k: string) => (field === 'headers' ? Object.keys(old).find((o) => o.toLowerCase() === k.toLowerCase()) : k in old ? k : undefined);
    const restored = Object.fromEntries(
      Object.entries(map).map(([k, v]) => {
        if (v !== MASK || !isSecret(k)) return [k, v];
        const from = sameName(k);
        if (from === undefined || typeof old[from] !== 'string') {
          throw new InvalidInputError(`taskConfig.${field}.${k}: "${MASK}" stands for the stored value, and none is stored; send the value itself`);
        }
        if (field === 'headers') {
          const was = originOf(stored?.url);
          const now = originOf(input.url);
          if (was === null || now !== was) {
            throw new InvalidInputError(
              `taskConfig.headers.${k}: "${MASK}" keeps the stored value only while the url's origin (scheme, host, port) stays ${was ?? 'the stored one'}; ` +
                `for ${now ?? 'this url'} send the value itself`,
            );
          }
        }
        return [k, old[from]];
      }),
    );
    out = { ...out, [field]: restored };
  }
  return out;
}
