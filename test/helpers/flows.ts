// Building blocks for engine tests: make tasks and flows through the API, wait for instances to end.
import { expect } from 'chai';
import type { Api } from './member.js';
import { waitFor } from './wait.js';

/** POST /task with this body (a 200 expected): the task as the API answers it. */
export async function saveTask(api: Api, body: Record<string, unknown>, headers?: Record<string, string>): Promise<any> {
  const r = await api('POST', '/task', body, headers);
  expect(r.status, r.text).to.equal(200);
  return r.body.data;
}

/** A new task of this type: its id. */
export async function createTask(api: Api, taskType: string, taskContent: string | null = null, taskConfig?: Record<string, unknown>, taskName = `${taskType.toLowerCase()} task`): Promise<number> {
  return (await saveTask(api, { taskName, taskType, taskContent, ...(taskConfig ? { taskConfig } : {}) })).taskId;
}

/** A flow START → one TASK node per entry → END. An entry is a task id list, or {taskIds, completion}. */
export async function createFlow(api: Api, nodes: (number[] | { taskIds: number[]; completion?: unknown })[], extra: Record<string, unknown> = {}): Promise<number> {
  const flowNodes = [
    { nodeType: 'START' },
    ...nodes.map((n) => (Array.isArray(n) ? { nodeType: 'TASK', taskIds: n.join(',') } : { nodeType: 'TASK', ...n })),
    { nodeType: 'END' },
  ];
  const r = await api('POST', '/flow', { flowName: 'test flow', flowNodes, ...extra });
  expect(r.status, r.text).to.equal(200);
  return r.body.data.flowId;
}

export async function startFlow(api: Api, flowId: number): Promise<number> {
  const r = await api('POST', `/exec/flow/${flowId}`);
  expect(r.status, r.text).to.equal(200);
  return r.body.data.fiId;
}

export async function flowRow(api: Api, fiId: number): Promise<any> {
  const r = await api('POST', '/monitor/flow', { fiId });
  expect(r.status, r.text).to.equal(200);
  return r.body.data[0];
}

/** Waits until the instance is no longer RUNNING and returns its monitor row. */
export async function waitForEnd(api: Api, fiId: number, timeoutMs = 30_000): Promise<any> {
  return waitFor(`flow instance ${fiId} to end`, async () => {
    const row = await flowRow(api, fiId);
    return row && row.status !== 'RUNNING' ? row : null;
  }, timeoutMs);
}

export async function detail(api: Api, fiId: number): Promise<any[]> {
  const r = await api('POST', `/monitor/flow/detail/${fiId}`);
  expect(r.status, r.text).to.equal(200);
  return r.body.data;
}
