// The executors by task type.
import type { TaskType } from '../models/definitions.js';
import { echoExecutor } from './echo.js';
import { exceptionExecutor } from './exception.js';
import { httpExecutor } from './http.js';
import { shellExecutor } from './shell.js';
import type { Executor } from './types.js';
import { waitExecutor } from './wait.js';

export const executors: ReadonlyMap<TaskType, Executor> = new Map<TaskType, Executor>(
  [echoExecutor, waitExecutor, exceptionExecutor, shellExecutor, httpExecutor].map((e) => [e.type, e]),
);

export function getExecutor(type: string): Executor | undefined {
  return executors.get(type as TaskType);
}

export { TaskFailure, type ExecContext, type Executor } from './types.js';
