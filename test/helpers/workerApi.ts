// The worker protocol as the external-worker suites call it on one test member: a poll (its answer's
// tasks, a 200 asserted) and a bare POST. `member` is read at each call: suites start theirs in before().
import { expect } from 'chai';
import type { TestMember } from './member.js';

export function workerApi(member: () => TestMember) {
  const poll = async (queues: string[], extra: Record<string, unknown> = {}) => {
    const r = await member().api('POST', '/worker/poll', { queues, workerId: 'w-1', waitMs: 5000, ...extra });
    expect(r.status, r.text).to.equal(200);
    return r.body.data as any[];
  };
  const call = (path: string, body: unknown) => member().api('POST', path, body);
  return { poll, call };
}
