// What executors need to know of the member's configuration, built once per configuration and handed
// to every run by the worker: whether SHELL tasks may run and with which environment, where their
// process groups are recorded, which addresses HTTP tasks may reach and how much of an answer they
// read, which headers are secret, and which environment variables tasks may use.
import type { Config } from '../../config/index.js';
import { secretHeaderNames } from '../infra/secrets.js';
import { AddressPolicy } from './addressPolicy.js';
import { ShellGroups } from './shellGroups.js';

export interface TaskEnv {
  /** TASK_ENV_ALLOW. */
  allow: ReadonlySet<string>;
  /** The allowed names' values in the member's environment (names that are unset are absent). */
  values: Readonly<Record<string, string>>;
}

export interface ExecutorSettings {
  shell: {
    /** SHELL_TASKS_ENABLED. */
    enabled: boolean;
    /** What every SHELL task's environment starts from: the member's PATH, HOME, LANG and TZ. */
    baseEnv: Readonly<Record<string, string>>;
    /** Running process groups, recorded in SHELL_STATE_DIR. */
    groups: ShellGroups;
  };
  http: {
    policy: AddressPolicy;
    /** HTTP_TASK_MAX_RESPONSE_BYTES. */
    maxResponseBytes: number;
    /** Dropped on a redirect to another origin (lower case). */
    secretHeaders: ReadonlySet<string>;
  };
  /** TASK_ENV_ALLOW and the values of those names. */
  env: TaskEnv;
}

/** The variables a SHELL task gets from the member's own environment, whatever else is set there. */
export const SHELL_BASE_ENV = ['PATH', 'HOME', 'LANG', 'TZ'] as const;

const built = new WeakMap<Config, ExecutorSettings>();

export function executorSettings(config: Config): ExecutorSettings {
  let s = built.get(config);
  if (!s) {
    s = {
      shell: {
        enabled: config.shellTasksEnabled,
        baseEnv: Object.fromEntries(SHELL_BASE_ENV.filter((n) => process.env[n] !== undefined).map((n) => [n, process.env[n]!])),
        groups: new ShellGroups(config.shellStateDir),
      },
      http: {
        policy: new AddressPolicy(config.httpTaskAllow),
        maxResponseBytes: config.httpTaskMaxResponseBytes,
        secretHeaders: secretHeaderNames(config.httpTaskSecretHeaders),
      },
      env: { allow: new Set(config.taskEnvAllow), values: config.taskEnv },
    };
    built.set(config, s);
  }
  return s;
}
