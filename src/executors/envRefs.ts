// `${env:NAME}` in an HTTP task's url, header values and body, and in a SHELL task's `taskConfig.env`
// values: replaced, when the task runs, by the member's NAME, for names in TASK_ENV_ALLOW only. So a
// secret can live in the member's environment instead of the task's stored config. The substitution is
// plain text, never evaluated. It runs in the executor, after any templating of the task instance
// (`${input.x}`…), which leaves `${env:…}` alone.
import type { TaskEnv } from './settings.js';
import { TaskFailure } from './types.js';

const REF = /\$\{env:([^}]*)\}/g;

/** `text` with every `${env:NAME}` replaced; a name not allowed or not set fails the task, naming it and `where`. */
export function resolveEnvRefs(text: string, env: TaskEnv, where: string): string {
  return text.replace(REF, (_, name: string) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TaskFailure(`${where}: \${env:${name}} is not a valid variable name`);
    if (!env.allow.has(name)) throw new TaskFailure(`${where}: \${env:${name}} is not allowed; add ${name} to TASK_ENV_ALLOW`);
    const v = env.values[name];
    if (v === undefined) throw new TaskFailure(`${where}: \${env:${name}} is in TASK_ENV_ALLOW but not set in the member's environment`);
    return v;
  });
}

/** Every string inside a JSON value resolved (not the keys), the structure kept. */
export function resolveEnvRefsDeep(value: unknown, env: TaskEnv, where: string): unknown {
  if (typeof value === 'string') return resolveEnvRefs(value, env, where);
  if (Array.isArray(value)) return value.map((v, i) => resolveEnvRefsDeep(v, env, `${where}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnvRefsDeep(v, env, `${where}.${k}`)]));
  }
  return value;
}
