// EXCEPTION: always fails, with the content as the error message.
import { TaskFailure, throwIfAborted, type Executor } from './types.js';

export const DEFAULT_EXCEPTION_MESSAGE = 'EXCEPTION task failed';

export const exceptionExecutor: Executor = {
  type: 'EXCEPTION',
  async run({ content, signal }) {
    throwIfAborted(signal);
    throw new TaskFailure(content?.trim() ? content : DEFAULT_EXCEPTION_MESSAGE);
  },
};
