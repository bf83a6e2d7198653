// The flow definitions API: POST /flow (create, or save a new version), GET /flow/{flowId}
// (?version=N), GET /flow (paged summaries), DELETE /flow/{flowId}. Thin: parse → call
// src/definitions → answer in the envelope.
import Router from '@koa/router';
import type { Services } from '../../services.js';
import { actor, idParam, ok } from '../http.js';
import { parse } from '../validate.js';
import type { RouteModule } from '../routeModule.js';
import { deleteFlow, flowVersionQuery, getFlow, listFlows, pageQuery, saveFlow, saveFlowBody } from '../../definitions/index.js';
import { commonErrors, envelopeOf, errorResponse, flowSaveSchema, flowSchema, flowSummarySchema, idPath, jsonBody, pageOf, pageParams } from '../../definitions/apiDoc.js';

export function flowRoutes(s: Services): RouteModule {
  const router = new Router();
  router.post('/flow', async (ctx) => ok(ctx, await saveFlow(s.knex, parse(saveFlowBody, ctx.request.body), actor(ctx))));
  router.get('/flow', async (ctx) => ok(ctx, await listFlows(s.knex, parse(pageQuery, ctx.query, 'query'))));
  router.get('/flow/:flowId', async (ctx) => {
    const flowId = idParam(ctx, 'flowId');
    const { version } = parse(flowVersionQuery, ctx.query, 'query');
    ok(ctx, await getFlow(s.knex, flowId, version));
  });
  router.delete('/flow/:flowId', async (ctx) => ok(ctx, await deleteFlow(s.knex, idParam(ctx, 'flowId'), actor(ctx))));

  const user = { name: 'X-User', in: 'header', required: false, schema: { type: 'string', maxLength: 64 }, description: 'Recorded as create_user/update_user (default "system")' };
  const notFound = errorResponse('No such flow, or it was deleted');
  return {
    router,
    paths: {
      '/flow': {
        post: {
          tags: ['flows'],
          summary: 'Create a flow, or save a new version of the one named by flowId',
          parameters: [user],
          requestBody: jsonBody(flowSaveSchema, 'The flow'),
          responses: {
            '200': envelopeOf(flowSchema, 'The saved flow with the new version\'s nodes'),
            ...commonErrors,
            '404': errorResponse('flowId names no live flow (omit flowId to create)'),
          },
        },
        get: {
          tags: ['flows'],
          summary: 'List live flows, newest first, as summaries without nodes',
          parameters: pageParams,
          responses: { '200': envelopeOf(pageOf(flowSummarySchema), 'One page of flows'), '400': commonErrors['400'] },
        },
      },
      '/flow/{flowId}': {
        get: {
          tags: ['flows'],
          summary: 'A live flow with the nodes of its current version (or of ?version=N)',
          parameters: [
            idPath('flowId'),
            { name: 'version', in: 'query', required: false, schema: { type: 'integer', minimum: 1 }, description: 'An older version; 404 if the flow has no such version' },
          ],
          responses: { '200': envelopeOf(flowSchema, 'The flow'), '400': commonErrors['400'], '404': errorResponse('No such flow (or deleted), or no such version') },
        },
        delete: {
          tags: ['flows'],
          summary: 'Delete a flow (soft: it can no longer be read or started; its rows stay for past instances)',
          parameters: [idPath('flowId'), user],
          responses: { '200': envelopeOf({ type: 'object', properties: { flowId: { type: 'integer' } } }, 'Deleted'), '400': commonErrors['400'], '404': notFound },
        },
      },
    },
  };
}
