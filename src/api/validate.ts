// Request validation with zod: the first issue becomes a 400 that names the field, e.g.
// `flowNodes[2].taskIds: task 7 does not exist`.
import type { z } from 'zod';
import { badRequest } from './http.js';
import { fieldPath } from '../errors.js';

export { fieldPath };

export function parse<S extends z.ZodType>(schema: S, value: unknown, what = 'body'): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = fieldPath(issue.path);
  throw badRequest(where ? `${where}: ${issue.message}` : `${what}: ${issue.message}`);
}
