// Single-task runs through the API: start one (POST /exec/task/{id}) and wait until it has ended.
import { expect } from 'chai';
import type { Api } from './member.js';
import { waitFor } from './wait.js';

/** Runs the task on its own and returns its task instance (GET /monitor/task/{tiId}) once it has ended. */
export async function runTask(api: Api, taskId: number, headers: Record<string, string> = {}, timeoutMs = 20_000): Promise<any> {
  const r = await api('POST', `/exec/task/${taskId}`, undefined, headers);
  expect(r.status, r.text).to.equal(200);
  const tiId = r.body.data.tiId;
  return waitFor(`task instance ${tiId} to end`, async () => {
    const t = await api('GET', `/monitor/task/${tiId}`, undefined, headers);
    return ['SUCCESS', 'FAILED', 'CANCELLED'].includes(t.body?.data?.status) ? t.body.data : null;
  }, timeoutMs);
}
