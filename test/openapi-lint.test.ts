// The OpenAPI document at /openapi.json, linted by a real linter: @redocly/openapi-core with its
// `recommended` ruleset, no rule turned off. The document depends on the member's configuration
// (src/api/openapi.ts adds security, 401/403/429 and X-User per path), so it is linted as an open member
// serves it and as one with API tokens (a read-only one among them), an admin token, a metrics token
// and a start rate limit serves it. Every problem, error or warning, fails the test, printed with where
// it is in the document. Then real answers of the API are put into the document as examples and linted
// again: the linter checks each against the schema of its operation (no-invalid-media-type-examples,
// with undeclared properties refused), so the schemas cannot drift from what the code answers.
import { expect } from 'chai';
import { createConfig, lintFromString, type NormalizedProblem } from '@redocly/openapi-core';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { waitForEnd } from './helpers/flows.js';

const WRITE = 'write-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';
const WRITE_AUTH = { Authorization: `Bearer ${WRITE}` };

const CONFIGURATIONS: { name: string; env: Record<string, string> }[] = [
  { name: 'open (no tokens)', env: {} },
  {
    name: 'API_TOKENS (with a read-only and a worker token), ADMIN_TOKEN, METRICS_TOKEN, START_RATE_LIMIT',
    env: {
      API_TOKENS: `alice:${WRITE},dash:${READ}:read,bot:worker-token-0123456789abcdef:worker`,
      ADMIN_TOKEN: ADMIN,
      METRICS_TOKEN: 'metrics-token-0123456789abcdef',
      START_RATE_LIMIT: '50',
      START_RATE_BURST: '100',
    },
  },
];

type Doc = Record<string, any>;

/** One line per problem: severity, rule, message, and the JSON pointer(s) it is at. */
function describeProblem(p: NormalizedProblem): string {
  const where = p.location.map((l) => `${l.pointer ?? '#/'}${l.reportOnKey ? ' (key)' : ''}`).join(', ');
  return `${p.severity} ${p.ruleId}: ${p.message}\n    at ${where}${p.suggest.length ? `\n    did you mean: ${p.suggest.join(', ')}` : ''}`;
}

async function lintProblems(doc: Doc): Promise<NormalizedProblem[]> {
  const config = await createConfig({ extends: ['recommended'] });
  const problems = await lintFromString({ source: JSON.stringify(doc, null, 2), absoluteRef: 'openapi.json', config });
  return problems.filter((p) => !p.ignored);
}

function expectClean(problems: NormalizedProblem[]): void {
  const errors = problems.filter((p) => p.severity === 'error').length;
  const warnings = problems.filter((p) => p.severity === 'warn').length;
  expect(problems, `${errors} errors, ${warnings} warnings:\n${problems.map(describeProblem).join('\n')}`).to.have.length(0);
}

function operations(doc: Doc): [string, string, any][] {
  return Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => [path, method, op] as [string, string, any]));
}

describe('OpenAPI document (/openapi.json) linted with @redocly/openapi-core, recommended rules', () => {
  for (const { name, env } of CONFIGURATIONS) {
    describe(name, () => {
      let m: TestMember;
      let doc: Doc;
      const auth = env.API_TOKENS ? WRITE_AUTH : {};
      before(async () => {
        m = await startTestMember({ ...isolated(), ROLES: 'web,worker', ...env });
        const r = await m.api('GET', '/openapi.json');
        expect(r.status, r.text.slice(0, 300)).to.equal(200);
        expect(r.headers.get('content-type')).to.match(/^application\/json/);
        doc = JSON.parse(r.text);
      });
      after(async () => {
        await m?.stop(500);
      });

      it('has no lint errors and no warnings', async () => {
        expectClean(await lintProblems(doc));
      });

      it('gives every operation a unique operationId, a summary, declared tags, its security and a 4xx answer', () => {
        const ids = new Set<string>();
        const declared = new Set((doc.tags as { name: string; description?: string }[]).map((t) => t.name));
        for (const t of doc.tags) expect(t.description, `tag ${t.name}`).to.be.a('string').and.not.equal('');
        for (const [path, method, op] of operations(doc)) {
          const what = `${method.toUpperCase()} ${path}`;
          expect(op.operationId, what).to.match(/^[a-z][A-Za-z]+$/);
          expect(ids.has(op.operationId), `${what}: operationId ${op.operationId} used twice`).to.equal(false);
          ids.add(op.operationId);
          expect(op.summary, what).to.be.a('string').and.not.equal('');
          for (const t of op.tags) expect(declared.has(t), `${what}: tag ${t} is not declared`).to.equal(true);
          expect(op.security, what).to.be.an('array');
          expect(Object.keys(op.responses).some((c) => /^4\d\d$/.test(c)), `${what} has no 4xx`).to.equal(true);
          if (method === 'post') expect(op.responses, what).to.include.keys('400', '413', '415');
        }
        expect(doc.paths['/exec/flow/{flowId}'].post.operationId).to.equal('startOrRetryFlow');
        expect(doc.paths['/task'].post.operationId).to.equal('createOrUpdateTask');
        if (env.API_TOKENS) {
          expect(doc.paths['/task'].post.responses).to.include.keys('401', '403');
          expect(doc.paths['/exec/flow/{flowId}'].post.responses).to.include.keys('401', '403', '429');
          expect(doc.paths['/exec/flow/{flowId}'].post.parameters.map((p: any) => p.name)).to.deep.equal(['flowId', 'Idempotency-Key']);
          expect(Object.keys(doc.components.securitySchemes).sort()).to.deep.equal(['adminToken', 'apiToken', 'metricsToken']);
        } else {
          expect(doc.paths['/exec/flow/{flowId}'].post.parameters.map((p: any) => p.name)).to.deep.equal(['flowId', 'X-User', 'Idempotency-Key']);
          expect(Object.keys(doc.components.securitySchemes)).to.deep.equal(['adminToken']); // the admin paths are described, off without ADMIN_TOKEN
        }
      });

      it('answers errors with one shared envelope whose examples are real errors, never "200"/"SUCCESS"', () => {
        for (const [path, method, op] of operations(doc)) {
          for (const [status, res] of Object.entries(op.responses) as [string, any][]) {
            if (status !== 'default' && Number(status) < 400) continue;
            // /readyz's 503 is the one error with data: what each check said.
            if (path === '/readyz' && status === '503') continue;
            const what = `${method.toUpperCase()} ${path} ${status}`;
            const media = res.content?.['application/json'];
            expect(media?.schema, what).to.deep.equal({ $ref: '#/components/schemas/ErrorEnvelope' });
            const examples = Object.values(media.examples ?? {}).map((e: any) => e.value);
            expect(examples, what).to.not.have.length(0);
            for (const ex of examples) {
              expect(ex.code, what).to.equal(status === 'default' ? '500' : status);
              expect(ex.message, what).to.be.a('string').and.not.equal('SUCCESS');
              expect(ex.data, what).to.equal(null);
            }
          }
        }
      });

      it('describes what the API really answers: real answers, as examples, validate against their schemas', async () => {
        const { api } = m;
        const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
          const r = await api(method, path, body, { ...auth, ...headers });
          return { status: r.status, body: r.body };
        };
        const echo = (await call('POST', '/task', { taskName: 'echo', taskType: 'ECHO', taskContent: 'order ${input.orderId}' })).body.data.taskId;
        const http = await call('POST', '/task', {
          taskName: 'notify', taskType: 'HTTP', taskConfig: { url: 'https://api.example.org/x/${input.orderId}', method: 'POST', headers: { Authorization: 'secret-0123', 'X-Trace': 'on' }, body: { n: 1 }, maxRetries: 1 },
        });
        const graph = await call('POST', '/flow', {
          flowName: 'fan', cron: '0 0 1 1 *', flowNodes: [
            { nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'a', taskIds: String(echo) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(echo), prevNodes: ['a'] },
            { nodeType: 'TASK', nodeKey: 'c', taskIds: [echo, echo], completion: 'ALL', prevNodes: ['a'] }, { nodeType: 'TASK', nodeKey: 'd', taskIds: String(echo), prevNodes: ['b', 'c'] }, { nodeType: 'END' },
          ],
        });
        const flowId = graph.body.data.flowId;
        const chain = await call('POST', '/flow', { flowName: 'chain', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'x', taskIds: String(echo) }, { nodeType: 'TASK', taskIds: String(echo) }, { nodeType: 'END' }] });
        const start = await call('POST', `/exec/flow/${flowId}`, { input: { orderId: 42 } }, { 'Idempotency-Key': 'lint-start-1' });
        const fiId = start.body.data.fiId;
        await waitForEnd((mm, p, b, h) => api(mm, p, b, { ...auth, ...h }), fiId);
        const detail = await call('POST', `/monitor/flow/detail/${fiId}`);
        const tiId = detail.body.data[1].tasks[0].tiId;
        const run = await call('POST', `/exec/task/${echo}`);
        const answers: [string, string, string, { status: number; body: unknown }][] = [
          ['/task', 'post', '200', http],
          ['/task', 'get', '200', await call('GET', '/task')],
          ['/task/{taskId}', 'get', '200', await call('GET', `/task/${http.body.data.taskId}`)],
          ['/task/{taskId}', 'get', '404', await call('GET', '/task/987654321')],
          ['/task/{taskId}', 'get', '400', await call('GET', '/task/abc')],
          ['/task/{taskId}', 'delete', '409', await call('DELETE', `/task/${echo}`)],
          ['/flow', 'post', '200', graph],
          ['/flow', 'post', '200', chain],
          ['/flow', 'post', '400', await call('POST', '/flow', { flowName: 'bad', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: '1', prevNodes: ['zz'] }, { nodeType: 'END' }] })],
          ['/flow', 'post', '415', await call('POST', '/flow', 'x', { 'content-type': 'text/plain' })],
          ['/flow', 'get', '200', await call('GET', '/flow?pageSize=5')],
          ['/flow/{flowId}', 'get', '200', await call('GET', `/flow/${flowId}?version=1`)],
          ['/exec/flow/{flowId}', 'post', '200', start],
          ['/exec/flow/{flowId}', 'post', '409', await call('POST', `/exec/flow/${flowId}`, { fiId, niId: detail.body.data[2].niId })],
          ['/exec/flow/{flowId}', 'post', '400', await call('POST', `/exec/flow/${flowId}`, { fiId, niId: 1, input: {} })],
          ['/exec/flow-ins/{fiId}/cancel', 'post', '409', await call('POST', `/exec/flow-ins/${fiId}/cancel`)],
          ['/exec/task/{taskId}', 'post', '200', run],
          ['/exec/task/{taskId}', 'post', '409', await call('POST', `/exec/task/${echo}`, undefined, { 'Idempotency-Key': 'lint-start-1' })],
          ['/monitor/flow', 'post', '200', await call('POST', '/monitor/flow', { fiId })],
          ['/monitor/flow', 'post', '200', await call('POST', '/monitor/flow', { flowId, from: 0, pageSize: 5 })],
          ['/monitor/flow/latest', 'post', '200', await call('POST', '/monitor/flow/latest', { flowIds: [flowId, 987654] })],
          ['/monitor/flow/detail/{fiId}', 'post', '200', detail],
          ['/monitor/task/{tiId}', 'get', '200', await call('GET', `/monitor/task/${tiId}`)],
          ['/monitor/task/{tiId}', 'get', '200', await call('GET', `/monitor/task/${run.body.data.tiId}`)],
          ['/healthz', 'get', '200', await call('GET', '/healthz')],
          ['/readyz', 'get', '200', await call('GET', '/readyz')],
          ['/admin/members', 'get', env.ADMIN_TOKEN ? '200' : '404', await call('GET', '/admin/members', undefined, env.ADMIN_TOKEN ? { Authorization: `Bearer ${ADMIN}` } : {})],
        ];
        if (env.ADMIN_TOKEN) {
          const admin = { Authorization: `Bearer ${ADMIN}` };
          for (const p of ['/admin/leader', '/admin/locks', '/admin/inflight', '/admin/queue']) answers.push([p, 'get', '200', await call('GET', p, undefined, admin)]);
          answers.push(['/admin/reconcile', 'post', '200', await call('POST', '/admin/reconcile', undefined, admin)]);
          answers.push(['/admin/queue', 'get', '401', await call('GET', '/admin/queue')]);
        }
        if (env.API_TOKENS) {
          answers.push(['/task', 'post', '401', await call('POST', '/task', {}, { Authorization: 'Bearer nope' })]);
          answers.push(['/task', 'post', '403', await call('POST', '/task', {}, { Authorization: `Bearer ${READ}` })]);
        }
        // Each answer as an example of its operation's response (a copy of the document).
        const copy: Doc = JSON.parse(JSON.stringify(doc));
        answers.forEach(([path, method, status, r], i) => {
          expect(String(r.status), `${method.toUpperCase()} ${path}: ${JSON.stringify(r.body).slice(0, 300)}`).to.equal(status);
          const media = copy.paths[path][method].responses[status].content['application/json'];
          delete media.example;
          media.examples = { ...media.examples, [`real${i}`]: { value: r.body } };
        });
        expectClean(await lintProblems(copy));
      });
    });
  }
});
