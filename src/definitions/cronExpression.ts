// Cron expressions, checked field by field against their real ranges before anything expands them.
// node-cron 4 turns every range into an array while it validates or schedules, so `1-99999999999`
// in a seconds field is an array of 1e11 numbers (the process dies) and `1-10000000` stalls it for
// seconds. Nothing reaches node-cron unchecked: the API's schema and the cron duty both go through
// parseCron(), and only an expression it accepts is handed to node-cron (its own validation included).
//
// The syntax is node-cron 4's (read from its source), nothing more: 5 fields (minute hour day month
// weekday) or 6 (second first), separated by spaces, or a nickname (@yearly @annually @monthly
// @weekly @daily @midnight @hourly). Each field is a comma list of `*`, `*/step`, `n`, `a-b`,
// `a-b/step` (a > b wraps around the field, as node-cron does: hours `22-2` = 22,23,0,1,2); month
// names (jan…dec, january…) and weekday names (sun…sat, sunday…) where numbers go, case-insensitive;
// `?` as the whole day or weekday field (= `*`); day specials `L` (last day), `L-n`, `nW`, `LW`;
// weekday specials `nL` (last such weekday of the month) and `n#k` (k-th such weekday). Day and
// weekday must both match (node-cron ANDs them, unlike Vixie cron).
//
// The parsed form (CronSchedule, a set per field) computes ticks without node-cron: cronTicks.ts.
import { validateDetailed } from 'node-cron';
import { firesWithinLookahead, type CronSchedule } from './cronTicks.js';

export type { CronSchedule };

export const CRON_MAX_LENGTH = 128;

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** What `*` stands for (node-cron: weekday `*` is 0-6, though 7 is Sunday too). */
  starMax: number;
  names?: readonly string[];
}

const MONTH_NAMES = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const WEEKDAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59, starMax: 59 };
const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59, starMax: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23, starMax: 23 };
const DAY: FieldSpec = { name: 'day', min: 1, max: 31, starMax: 31 };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, starMax: 12, names: MONTH_NAMES };
const WEEKDAY: FieldSpec = { name: 'weekday', min: 0, max: 7, starMax: 6, names: WEEKDAY_NAMES };
const SPECS = [SECOND, MINUTE, HOUR, DAY, MONTH, WEEKDAY];

const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

export class CronSyntaxError extends Error {
  override name = 'CronSyntaxError';
}

const fail = (msg: string): never => {
  throw new CronSyntaxError(msg);
};

const label = (pos: number, spec: FieldSpec) => `field ${pos} (${spec.name})`;

/** A number or (where the field has them) a name; digits are bounded before they are converted. */
function value(text: string, spec: FieldSpec, pos: number): number {
  if (/^\d+$/.test(text)) {
    // Six digits are far beyond any field; longer strings are not even converted.
    const n = text.length <= 6 ? Number(text) : Infinity;
    if (n < spec.min || n > spec.max) fail(`${label(pos, spec)} value ${text} is out of range ${spec.min}-${spec.max}`);
    return n;
  }
  if (spec.names) {
    const lower = text.toLowerCase();
    const i = spec.names.findIndex((n) => n === lower || n.slice(0, 3) === lower);
    if (i >= 0) return spec === MONTH ? i + 1 : i;
  }
  const allowed = spec.names ? `a number from ${spec.min} to ${spec.max} or a name (${spec.names.map((n) => n.slice(0, 3)).join(' ')})` : `a number from ${spec.min} to ${spec.max}`;
  return fail(`${label(pos, spec)} "${text}" is not ${allowed}`);
}

function step(text: string | undefined, spec: FieldSpec, pos: number): number {
  if (text === undefined) return 1;
  const size = spec.starMax - spec.min + 1;
  if (!/^\d+$/.test(text)) fail(`${label(pos, spec)} step "${text}" is not a number`);
  const n = text.length <= 6 ? Number(text) : Infinity;
  if (n < 1 || n > size) fail(`${label(pos, spec)} step ${text} is out of range 1-${size}`);
  return n;
}

/**
 * The values of `a-b/s` as node-cron expands them: a ≤ b counts up; a > b wraps around the field
 * (its `*` range), e.g. hours 22-2 = 22,23,0,1,2. Both ends are in range, so this is at most 60 values.
 */
function expand(a: number, b: number, s: number, spec: FieldSpec): number[] {
  const out: number[] = [];
  if (a <= b) {
    for (let i = a; i <= b; i += s) out.push(i);
    return out;
  }
  const size = spec.starMax - spec.min + 1;
  const span = (((b - a) % size) + size) % size;
  for (let off = 0; off <= span; off += s) {
    let v = a + off;
    if (v > spec.starMax) v -= size;
    out.push(v);
  }
  return out;
}

/** One comma-separated item of a plain field (no specials): `*`, `*\/s`, `n`, `a-b`, `a-b/s`. */
function item(text: string, spec: FieldSpec, pos: number): number[] {
  const m = /^([^-/]+)(?:-([^-/]+))?(?:\/(.*))?$/.exec(text);
  if (!m) return fail(`${label(pos, spec)} "${text}" is not *, a value, a range a-b, or one of those with /step`);
  const [, from, to, stepText] = m;
  const s = step(stepText, spec, pos);
  if (from === '*') {
    if (to !== undefined) fail(`${label(pos, spec)} "${text}": * cannot start a range`);
    return expand(spec.min, spec.starMax, s, spec);
  }
  const a = value(from, spec, pos);
  if (to === undefined) {
    // node-cron runs `n/s` as nothing at all; refuse it rather than store a schedule that never fires.
    if (stepText !== undefined) fail(`${label(pos, spec)} "${text}": a step needs * or a range before it (e.g. */${stepText} or ${from}-${spec.starMax}/${stepText})`);
    return [a];
  }
  return expand(a, value(to, spec, pos), s, spec);
}

function plainField(text: string, spec: FieldSpec, pos: number, special?: (token: string) => boolean): number[] {
  const values: number[] = [];
  for (const token of text.split(',')) {
    if (token === '') fail(`${label(pos, spec)} "${text}" has an empty list item`);
    if (special?.(token)) continue;
    values.push(...item(token, spec, pos));
  }
  return values;
}

const sorted = (v: number[]) => [...new Set(v)].sort((x, y) => x - y);

function dayField(text: string, pos: number): CronSchedule['days'] {
  const days: CronSchedule['days'] = { plain: new Set(), last: false, lastOffsets: [], nearestWeekday: [] };
  if (text === '?') text = '*';
  const special = (token: string): boolean => {
    if (/^l$/i.test(token)) return (days.last = true);
    let m = /^l-(\d+)$/i.exec(token);
    if (m) {
      const n = m[1].length <= 2 ? Number(m[1]) : Infinity;
      if (n < 1 || n > 30) fail(`${label(pos, DAY)} "${token}": L-n needs n from 1 to 30`);
      days.lastOffsets.push(n);
      return true;
    }
    m = /^(\d+|l)w$/i.exec(token);
    if (m) {
      if (/^l$/i.test(m[1])) days.nearestWeekday.push('L');
      else days.nearestWeekday.push(value(m[1], DAY, pos));
      return true;
    }
    return false;
  };
  for (const v of plainField(text, DAY, pos, special)) days.plain.add(v);
  return days;
}

function weekdayField(text: string, pos: number): CronSchedule['weekdays'] {
  const wd: CronSchedule['weekdays'] = { plain: new Set(), last: [], nth: [] };
  if (text === '?') text = '*';
  const special = (token: string): boolean => {
    let m = /^([a-z0-9]+)l$/i.exec(token); // no weekday name ends in l
    if (m) {
      wd.last.push(value(m[1], WEEKDAY, pos) % 7);
      return true;
    }
    m = /^([^#]+)#(.*)$/.exec(token);
    if (m) {
      if (!/^[1-5]$/.test(m[2])) fail(`${label(pos, WEEKDAY)} "${token}": n#k needs k from 1 to 5`);
      wd.nth.push({ weekday: value(m[1], WEEKDAY, pos) % 7, nth: Number(m[2]) });
      return true;
    }
    return false;
  };
  for (const v of plainField(text, WEEKDAY, pos, special)) wd.plain.add(v % 7);
  return wd;
}

/**
 * Checks `expression` field by field and returns it as sets; throws CronSyntaxError with a message
 * naming the field and its range, e.g. `field 1 (second) value 99999999999 is out of range 0-59`.
 * Expands nothing larger than a field, whatever the input.
 */
export function parseCronFields(expression: string): CronSchedule {
  if (expression.length > CRON_MAX_LENGTH) fail(`is longer than ${CRON_MAX_LENGTH} characters`);
  const trimmed = expression.trim();
  const resolved = NICKNAMES[trimmed.toLowerCase()] ?? trimmed;
  if (resolved === '') fail('is empty');
  if (/[^\x21-\x7e ]/.test(resolved)) fail('may hold only printable ASCII, its fields separated by spaces');
  const raw = resolved.split(/ +/);
  if (raw.length !== 5 && raw.length !== 6) fail(`has ${raw.length} field${raw.length === 1 ? '' : 's'}; expected 5 (minute hour day month weekday) or 6 (second minute hour day month weekday)`);
  const offset = raw.length === 5 ? 1 : 0; // a 5-field expression has no seconds (node-cron: second 0)
  const fields = raw.length === 5 ? ['0', ...raw] : raw;
  const pos = (i: number) => i + 1 - offset;
  for (const [i, f] of fields.entries()) {
    if (f === '?' && i !== 3 && i !== 5) fail(`${label(pos(i), SPECS[i])} "?" is allowed only as the whole day or weekday field`);
  }
  return {
    expression: trimmed,
    seconds: sorted(plainField(fields[0], SECOND, pos(0))),
    minutes: sorted(plainField(fields[1], MINUTE, pos(1))),
    hours: sorted(plainField(fields[2], HOUR, pos(2))),
    days: dayField(fields[3], pos(3)),
    months: new Set(plainField(fields[4], MONTH, pos(4))),
    weekdays: weekdayField(fields[5], pos(5)),
  };
}

/**
 * The whole check, in the order that keeps it safe: the fields against their ranges (nothing is
 * expanded beyond a field), then node-cron's own validation (e.g. day 31 in a month that has none),
 * then that it fires at all within node-cron's look-ahead (node-cron throws when it starts a task
 * that never fires). Throws CronSyntaxError naming the problem; returns the parsed schedule.
 */
export function parseCron(expression: string): CronSchedule {
  const s = parseCronFields(expression);
  const check = validateDetailed(s.expression);
  if (!check.valid) fail(check.errors.map((e) => e.message).join('; '));
  if (!firesWithinLookahead(s)) fail('never fires: no date in the next 100 years matches its day, month and weekday fields');
  return s;
}
