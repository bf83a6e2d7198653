// The flow definitions API: POST /flow (create, or save a new version), GET /flow/{flowId}
// (?version=N), GET /flow (paged summaries), PATCH /flow/{flowId} (cron on/off and misfire rule, in
// place), DELETE /flow/{flowId}. Thin: parse → call
// src/definitions → answer in the envelope.
import Router from '@koa/router';
import type { Services } from '../../services.js';
import { actor, badRequest, idParam, ok } from '../http.js';
import { parse } from '../validate.js';
import type { RouteModule } from '../routeModule.js';
import { checkPatchFields, PATCHABLE_FLOW_FIELDS, deleteFlow, flowVersionQuery, getFlow, listFlows, pageQuery, patchFlow, patchFlowBody, saveFlow, saveFlowBody } from '../../definitions/index.js';
import { flowPatchSchema, flowSaveExamples, flowSaveSchema, flowSchema, flowSummarySchema, graphFlowExample } from '../../definitions/flowDoc.js';
import { badId, badPage, errorResponse, idPath, okResponse, pageOf, pageParams, unavailable, userHeader } from '../openapiParts.js';

/**
 * A POST that names a flow and only its cron switch or misfire rule is someone trying to pause or
 * resume a schedule: the 400 says how (PATCH) instead of only that flowName is missing.
 */
function pointToPatch(body: unknown): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
  const b = body as Record<string, unknown>;
  const keys = Object.keys(b);
  if (b.flowId === undefined || b.flowName !== undefined || !keys.some((k) => (PATCHABLE_FLOW_FIELDS as readonly string[]).includes(k))) return;
  if (!keys.every((k) => k === 'flowId' || (PATCHABLE_FLOW_FIELDS as readonly string[]).includes(k))) return;
  throw badRequest(`flowName: is required to save a new version; to change only ${PATCHABLE_FLOW_FIELDS.join(' or ')}, send PATCH /flow/${String(b.flowId)}`);
}

export function flowRoutes(s: Services): RouteModule {
  const router = new Router();
  router.post('/flow', async (ctx) => {
    pointToPatch(ctx.request.body);
    ok(ctx, await saveFlow(s.knex, parse(saveFlowBody, ctx.request.body), actor(ctx)));
  });
  router.get('/flow', async (ctx) => ok(ctx, await listFlows(s.knex, parse(pageQuery, ctx.query, 'query'))));
  router.get('/flow/:flowId', async (ctx) => {
    const flowId = idParam(ctx, 'flowId');
    const { version } = parse(flowVersionQuery, ctx.query, 'query');
    ok(ctx, await getFlow(s.knex, flowId, version));
  });
  router.patch('/flow/:flowId', async (ctx) => {
    const flowId = idParam(ctx, 'flowId');
    checkPatchFields(ctx.request.body, flowId);
    ok(ctx, await patchFlow(s.knex, flowId, parse(patchFlowBody, ctx.request.body), actor(ctx)));
  });
  router.delete('/flow/:flowId', async (ctx) => ok(ctx, await deleteFlow(s.knex, idParam(ctx, 'flowId'), actor(ctx))));

  const flowId = idPath('flowId', 'flow id');
  const noSuchFlow = { noSuchFlow: 'flow 7 does not exist' };
  const mysql = unavailable('MySQL');
  const summaryExample = Object.fromEntries(Object.entries(graphFlowExample).filter(([k]) => k !== 'flowNodes'));
  return {
    router,
    tags: [
      {
        name: 'flows',
        description:
          'Flow definitions: START → TASK nodes → END, as a chain (the list order) or a graph (nodes naming their prevNodes). Every save is a new version; ' +
          'an instance runs on the version it started with. Optional cron schedule.',
      },
    ],
    paths: {
      '/flow': {
        post: {
          operationId: 'saveFlow',
          tags: ['flows'],
          summary: 'Create a flow, or save a new version of the one named by flowId',
          parameters: [userHeader],
          requestBody: { required: true, description: 'The flow', content: { 'application/json': { schema: flowSaveSchema, examples: flowSaveExamples } } },
          responses: {
            '200': okResponse(flowSchema, 'The saved flow with the new version\'s nodes', graphFlowExample),
            '400': errorResponse(400, 'Invalid flow; the message names the field and node', {
              noSuchTask: 'flowNodes[1].taskIds: task 99 does not exist',
              unknownKey: 'flowNodes[2].prevNodes: no node has the key "x"',
              cycle: 'flowNodes[2].prevNodes: node "b" is in a cycle: b → a → b',
              badCron: 'cron: is not a valid cron expression: field 1 (minute) value 99 is out of range 0-59',
              cronOnly: 'flowName: is required to save a new version; to change only cronEnabled or cronMisfire, send PATCH /flow/5',
            }),
            '404': errorResponse(404, 'flowId names no live flow (omit flowId to create)', { noSuchFlow: 'flow 99 does not exist; omit flowId to create a new flow' }),
            '503': mysql,
          },
        },
        get: {
          operationId: 'listFlows',
          tags: ['flows'],
          summary: 'List live flows, newest first, as summaries without nodes',
          parameters: pageParams,
          responses: {
            '200': okResponse(pageOf(flowSummarySchema, 'One page of flows, newest (highest flowId) first'), 'One page of flows', { total: 1, page: 1, pageSize: 20, list: [summaryExample] }),
            '400': errorResponse(400, 'A bad page or pageSize', badPage),
            '503': mysql,
          },
        },
      },
      '/flow/{flowId}': {
        get: {
          operationId: 'getFlow',
          tags: ['flows'],
          summary: 'A live flow with the nodes of its current version (or of ?version=N)',
          parameters: [
            flowId,
            { name: 'version', in: 'query', required: false, description: 'An older version, 1 to 1,000,000,000, given once (404 if the flow has no such version)', schema: { type: 'integer', minimum: 1, maximum: 1_000_000_000 } },
          ],
          responses: {
            '200': okResponse(flowSchema, 'The flow', graphFlowExample),
            '400': errorResponse(400, 'flowId or version is not a positive integer', { ...badId('flowId'), badVersion: 'version: must be a whole number from 1 to 1000000000' }),
            '404': errorResponse(404, 'No such flow (or deleted), or no such version', { ...noSuchFlow, noSuchVersion: 'flow 7 has no version 5 (its current version is 2)' }),
            '503': mysql,
          },
        },
        patch: {
          operationId: 'patchFlow',
          tags: ['flows'],
          summary: 'Pause or resume a flow\'s cron, or change its misfire rule, in place (no new version)',
          description:
            'Changes cronEnabled and/or cronMisfire of the flow as it stands: flowVersion stays, updateUser and updateTime are set, and the ' +
            'leader picks the change up within a few seconds. A resumed cron catches up no tick from before the PATCH. Any other field is a 400 ' +
            'naming it: a new version of the flow is POST /flow.',
          parameters: [flowId, userHeader],
          requestBody: {
            required: true,
            description: 'cronEnabled and/or cronMisfire',
            content: {
              'application/json': {
                schema: flowPatchSchema,
                examples: { pause: { summary: 'Pause the cron', value: { cronEnabled: false } }, resume: { summary: 'Resume it, skipping missed ticks', value: { cronEnabled: true, cronMisfire: 'SKIP' } } },
              },
            },
          },
          responses: {
            '200': okResponse(flowSchema, 'The flow as it now stands (its current version\'s nodes)', graphFlowExample),
            '400': errorResponse(400, 'A field other than cronEnabled/cronMisfire, a bad value, or enabling a flow without a cron', {
              ...badId('flowId'),
              otherField: 'flowName, flowNodes: cannot be changed in place; PATCH changes only cronEnabled and cronMisfire (a new version of the flow is POST /flow)',
              noCron: 'cronEnabled: the flow has no cron expression; save one with POST /flow first',
              badMisfire: 'cronMisfire: must be "FIRE_ONCE" or "SKIP"',
            }),
            '404': errorResponse(404, 'No such flow, or it was deleted', noSuchFlow),
            '503': mysql,
          },
        },
        delete: {
          operationId: 'deleteFlow',
          tags: ['flows'],
          summary: 'Delete a flow (soft: it can no longer be read or started, its cron stops; running instances go on)',
          description: 'Refused (409) while the current version of another live flow starts it as a SUB_FLOW node.',
          parameters: [flowId, userHeader],
          responses: {
            '200': okResponse({ type: 'object', required: ['flowId'], properties: { flowId: { type: 'integer', minimum: 1 } } }, 'Deleted', { flowId: 7 }),
            '400': errorResponse(400, 'flowId is not a positive integer', badId('flowId')),
            '404': errorResponse(404, 'No such flow, or it was deleted', noSuchFlow),
            '409': errorResponse(409, 'Another flow starts it as a sub-flow', {
              inUse: 'flow 7 is started as a sub-flow by the current version of flow 9 "ship orders"; save a new version of it without that node (or delete it) first',
            }),
            '503': mysql,
          },
        },
      },
    },
  };
}
