// ECHO: the output is the task's content.
import { throwIfAborted, type Executor } from './types.js';

export const echoExecutor: Executor = {
  type: 'ECHO',
  async run({ content, signal }) {
    throwIfAborted(signal);
    return content;
  },
};
