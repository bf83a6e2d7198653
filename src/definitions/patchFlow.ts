// PATCH /flow/{flowId}: switches a flow's cron on or off, or changes its misfire rule, on the current
// version in place — no new version, no node rows. Anything else about a flow is a new version
// (POST /flow), so any other field in the body is a 400 naming it rather than silently ignored.
//
// The leader's cron duty re-reads the enabled flows every couple of seconds (src/cluster/cron.ts), so
// a pause or resume takes effect within that. update_time is set, and a re-enabled cron catches up only
// ticks after it (the misfire rule looks after the later of the last cron run and the last save), so
// resuming does not replay the ticks of the pause.
import type { Knex } from 'knex';
import type { PartialModelObject } from 'objection';
import { z } from 'zod';
import { InvalidInputError, NotFoundError } from '../errors.js';
import { Flow } from '../models/index.js';
import { getFlow } from './getFlow.js';
import { CRON_MISFIRE } from './schemas.js';

/** The fields a PATCH may carry; flowId only when it repeats the path's. */
export const PATCHABLE_FLOW_FIELDS = ['cronEnabled', 'cronMisfire'] as const;

export const patchFlowBody = z.object(
  {
    flowId: z.unknown().optional(),
    cronEnabled: z.boolean({ error: 'must be true or false' }).optional(),
    /** null goes back to the default, FIRE_ONCE. */
    cronMisfire: z.enum(CRON_MISFIRE, { error: 'must be "FIRE_ONCE" or "SKIP"' }).nullable().optional(),
  },
  { error: 'must be a JSON object' },
);
export type PatchFlowInput = z.infer<typeof patchFlowBody>;

/** 400 unless the body names only patchable fields (and at least one), before anything is read. */
export function checkPatchFields(body: unknown, flowId: number): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidInputError('body: must be a JSON object');
  const keys = Object.keys(body);
  const other = keys.filter((k) => k !== 'flowId' && !(PATCHABLE_FLOW_FIELDS as readonly string[]).includes(k));
  if (other.length) {
    throw new InvalidInputError(
      `${other.join(', ')}: cannot be changed in place; PATCH changes only ${PATCHABLE_FLOW_FIELDS.join(' and ')} (a new version of the flow is POST /flow)`,
    );
  }
  const sentId = (body as Record<string, unknown>).flowId;
  if (sentId !== undefined && sentId !== flowId) throw new InvalidInputError(`flowId: is ${JSON.stringify(sentId)} but the path names flow ${flowId}; leave it out`);
  if (!keys.some((k) => k !== 'flowId')) throw new InvalidInputError(`body: send ${PATCHABLE_FLOW_FIELDS.join(' and/or ')}`);
}

export async function patchFlow(knex: Knex, flowId: number, input: PatchFlowInput, user: string): Promise<Record<string, unknown>> {
  return knex.transaction(async (trx) => {
    // SELECT cron FROM task_flow WHERE flow_id = ? AND deleted_time IS NULL FOR UPDATE
    const stored = await Flow.query(trx).select('cron').findById(flowId).whereNull('deleted_time').forUpdate();
    if (!stored) throw new NotFoundError(`flow ${flowId} does not exist`);
    if (input.cronEnabled && !stored.cron) throw new InvalidInputError('cronEnabled: the flow has no cron expression; save one with POST /flow first');
    const now = new Date();
    const changes: PartialModelObject<Flow> = { update_time: now, update_user: user };
    if (input.cronEnabled !== undefined) changes.cron_enabled = input.cronEnabled;
    if (input.cronMisfire !== undefined) changes.cron_misfire = input.cronMisfire;
    // UPDATE task_flow SET cron_enabled = ?, cron_misfire = ?, update_time = ?, update_user = ? WHERE flow_id = ?
    await Flow.query(trx).findById(flowId).patch(changes);
    return getFlow(trx, flowId);
  });
}
