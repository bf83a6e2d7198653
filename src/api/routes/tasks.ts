// The task definitions API: POST /task (create or update), GET /task/{taskId}, GET /task (paged),
// DELETE /task/{taskId}. Thin: parse → call src/definitions → answer in the envelope.
import Router from '@koa/router';
import type { Services } from '../../services.js';
import { actor, idParam, ok } from '../http.js';
import { parse } from '../validate.js';
import type { RouteModule } from '../routeModule.js';
import { secretHeaderNames } from '../../infra/secrets.js';
import { deleteTask, getTask, listTasks, pageQuery, saveTask, saveTaskBody } from '../../definitions/index.js';
import { commonErrors, envelopeOf, errorResponse, idPath, jsonBody, pageOf, pageParams, taskSaveSchema, taskSchema } from '../../definitions/apiDoc.js';

export function taskRoutes(s: Services): RouteModule {
  const router = new Router();
  const secrets = secretHeaderNames(s.config.httpTaskSecretHeaders); // answered as "***"
  router.post('/task', async (ctx) => ok(ctx, await saveTask(s.knex, parse(saveTaskBody, ctx.request.body), actor(ctx), secrets)));
  router.get('/task', async (ctx) => ok(ctx, await listTasks(s.knex, parse(pageQuery, ctx.query, 'query'), secrets)));
  router.get('/task/:taskId', async (ctx) => ok(ctx, await getTask(s.knex, idParam(ctx, 'taskId'), secrets)));
  router.delete('/task/:taskId', async (ctx) => ok(ctx, await deleteTask(s.knex, idParam(ctx, 'taskId'), actor(ctx))));

  const user = { name: 'X-User', in: 'header', required: false, schema: { type: 'string', maxLength: 64 }, description: 'Recorded as create_user/update_user (default "system")' };
  const notFound = errorResponse('No such task, or it was deleted');
  return {
    router,
    paths: {
      '/task': {
        post: {
          tags: ['tasks'],
          summary: 'Create a task, or update the one named by taskId',
          parameters: [user],
          requestBody: jsonBody(taskSaveSchema, 'The task'),
          responses: { '200': envelopeOf(taskSchema, 'The saved task'), ...commonErrors, '404': errorResponse('taskId names no live task (omit taskId to create)') },
        },
        get: {
          tags: ['tasks'],
          summary: 'List live tasks, newest first',
          parameters: pageParams,
          responses: { '200': envelopeOf(pageOf(taskSchema), 'One page of tasks'), '400': commonErrors['400'] },
        },
      },
      '/task/{taskId}': {
        get: {
          tags: ['tasks'],
          summary: 'One live task',
          parameters: [idPath('taskId')],
          responses: { '200': envelopeOf(taskSchema, 'The task'), '400': commonErrors['400'], '404': notFound },
        },
        delete: {
          tags: ['tasks'],
          summary: 'Delete a task (soft: the row stays for the instances that ran it)',
          parameters: [idPath('taskId'), user],
          responses: {
            '200': envelopeOf({ type: 'object', properties: { taskId: { type: 'integer' } } }, 'Deleted'),
            '400': commonErrors['400'],
            '404': notFound,
            '409': errorResponse('The current version of a live flow uses the task; the message names the flow'),
          },
        },
      },
    },
  };
}
