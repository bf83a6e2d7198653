// The task definitions API: POST /task (create or update), GET /task/{taskId}, GET /task (paged),
// DELETE /task/{taskId}. Thin: parse → call src/definitions → answer in the envelope.
import Router from '@koa/router';
import type { Services } from '../../services.js';
import { actor, idParam, ok } from '../http.js';
import { parse } from '../validate.js';
import type { RouteModule } from '../routeModule.js';
import { secretHeaderNames } from '../../infra/secrets.js';
import { deleteTask, getTask, listTasks, pageQuery, saveTask, saveTaskBody } from '../../definitions/index.js';
import { taskExample, taskSaveExamples, taskSaveSchema, taskSchema } from '../../definitions/apiDoc.js';
import { badId, badPage, errorResponse, idPath, okResponse, pageOf, pageParams, unavailable, userHeader } from '../openapiParts.js';

export function taskRoutes(s: Services): RouteModule {
  const router = new Router();
  const secrets = secretHeaderNames(s.config.httpTaskSecretHeaders); // answered as "***"
  router.post('/task', async (ctx) => ok(ctx, await saveTask(s.knex, parse(saveTaskBody, ctx.request.body), actor(ctx), secrets)));
  router.get('/task', async (ctx) => ok(ctx, await listTasks(s.knex, parse(pageQuery, ctx.query, 'query'), secrets)));
  router.get('/task/:taskId', async (ctx) => ok(ctx, await getTask(s.knex, idParam(ctx, 'taskId'), secrets)));
  router.delete('/task/:taskId', async (ctx) => ok(ctx, await deleteTask(s.knex, idParam(ctx, 'taskId'), actor(ctx))));

  const taskId = idPath('taskId', 'task id');
  const noSuchTask = errorResponse(404, 'No such task, or it was deleted', { noSuchTask: 'task 7 does not exist' });
  const mysql = unavailable('MySQL');
  return {
    router,
    tags: [{ name: 'tasks', description: 'Task definitions: ECHO, WAIT, EXCEPTION, SHELL, HTTP and WORKER tasks with their per-type taskConfig. Soft-deleted, never removed.' }],
    paths: {
      '/task': {
        post: {
          operationId: 'createOrUpdateTask',
          tags: ['tasks'],
          summary: 'Create a task, or update the one named by taskId',
          parameters: [userHeader],
          requestBody: { required: true, description: 'The task', content: { 'application/json': { schema: taskSaveSchema, examples: taskSaveExamples } } },
          responses: {
            '200': okResponse(taskSchema, 'The saved task (secret values shown as "***")', taskExample),
            '400': errorResponse(400, 'Invalid task; the message names the field', {
              blankName: 'taskName: must not be empty',
              badType: 'taskType: must be one of ECHO, WAIT, EXCEPTION, SHELL, HTTP, WORKER',
              unknownConfigKey: 'taskConfig: Unrecognized key: "foo"',
              waitContent: 'taskContent: a WAIT task\'s content is a whole number of milliseconds from 0 to 86400000 (or set taskConfig.waitMs), got "5s"',
              maskWithoutValue: 'taskConfig.headers.Authorization: "***" stands for the stored value, and none is stored; send the value itself',
              maskElsewhere:
                'taskConfig.headers.Authorization: "***" keeps the stored value only while the url\'s origin (scheme, host, port) stays https://api.example.org; for https://other.example send the value itself',
            }),
            '404': errorResponse(404, 'taskId names no live task (omit taskId to create)', { noSuchTask: 'task 99 does not exist; omit taskId to create a new task' }),
            '503': mysql,
          },
        },
        get: {
          operationId: 'listTasks',
          tags: ['tasks'],
          summary: 'List live tasks, newest first',
          parameters: pageParams,
          responses: {
            '200': okResponse(pageOf(taskSchema, 'One page of tasks, newest (highest taskId) first'), 'One page of tasks', { total: 1, page: 1, pageSize: 20, list: [taskExample] }),
            '400': errorResponse(400, 'A bad page or pageSize', badPage),
            '503': mysql,
          },
        },
      },
      '/task/{taskId}': {
        get: {
          operationId: 'getTask',
          tags: ['tasks'],
          summary: 'One live task',
          parameters: [taskId],
          responses: { '200': okResponse(taskSchema, 'The task (secret values shown as "***")', taskExample), '400': errorResponse(400, 'taskId is not a positive integer', badId('taskId')), '404': noSuchTask, '503': mysql },
        },
        delete: {
          operationId: 'deleteTask',
          tags: ['tasks'],
          summary: 'Delete a task (soft: the row stays for the instances that ran it)',
          parameters: [taskId, userHeader],
          responses: {
            '200': okResponse({ type: 'object', required: ['taskId'], properties: { taskId: { type: 'integer', minimum: 1 } } }, 'Deleted', { taskId: 7 }),
            '400': errorResponse(400, 'taskId is not a positive integer', badId('taskId')),
            '404': noSuchTask,
            '409': errorResponse(409, 'The current version of a live flow uses the task; the message names the flow', {
              usedByFlow: 'task 7 is used by the current version of flow 3 "nightly"; save a new version of the flow without it (or delete the flow) first',
            }),
            '503': mysql,
          },
        },
      },
    },
  };
}
