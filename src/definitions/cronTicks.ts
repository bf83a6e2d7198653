// Ticks of a parsed cron expression (CronSchedule, from cronExpression.ts), computed from its sets
// without node-cron and without expanding anything: which calendar days match, the latest tick in a
// window (the misfire catch-up). Local time of the process, as node-cron uses; a
// wall-clock time a DST change skips does not fire (node-cron skips it too).

/** node-cron looks 36,600 days ahead for the next match and throws when there is none; we look 100 years. */
const LOOKAHEAD_MONTHS = 1200;

/** An expression as sets: what a tick must match. Values are sorted ascending. */
export interface CronSchedule {
  expression: string;
  seconds: number[];
  minutes: number[];
  hours: number[];
  months: Set<number>;
  /** Day of month: plain days, plus node-cron's L, L-n, nW and LW. */
  days: { plain: Set<number>; last: boolean; lastOffsets: number[]; nearestWeekday: ('L' | number)[] };
  /** Weekday 0-6 (Sunday 0; 7 is read as 0), plus nL (last such weekday) and n#k (k-th such weekday). */
  weekdays: { plain: Set<number>; last: number[]; nth: { weekday: number; nth: number }[] };
}

// ---- calendar matching (as node-cron's matchesDayOfMonth / matchesDayOfWeek) -----------------

/** A calendar day: y, m (1-12), d, its weekday w (0 = Sunday) and the last day of its month. */
interface Day {
  y: number;
  m: number;
  d: number;
  w: number;
  last: number;
}

const lastDayOfMonth = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

function dayOf(y: number, m: number, d: number): Day {
  return { y, m, d, w: new Date(Date.UTC(y, m - 1, d)).getUTCDay(), last: lastDayOfMonth(y, m) };
}

/** node-cron's nW: the weekday nearest to day `target` within the month, or -1 past its end. */
function nearestWeekday(day: Day, target: number): number {
  if (target < 1 || target > day.last) return -1;
  const wd = (((day.w + target - day.d) % 7) + 7) % 7;
  if (wd === 6) return target === 1 ? target + 2 : target - 1;
  if (wd === 0) return target === day.last ? target - 2 : target + 1;
  return target;
}

function dayMatches(days: CronSchedule['days'], day: Day): boolean {
  const { d, last } = day;
  if (days.plain.has(d)) return true;
  if (days.last && d === last) return true;
  if (days.lastOffsets.some((n) => last - n >= 1 && last - n === d)) return true;
  return days.nearestWeekday.some((t) => nearestWeekday(day, t === 'L' ? last : t) === d);
}

function weekdayMatches(wd: CronSchedule['weekdays'], day: Day): boolean {
  if (wd.plain.has(day.w)) return true;
  if (day.d + 7 > day.last && wd.last.includes(day.w)) return true;
  return wd.nth.some((x) => x.weekday === day.w && Math.floor((day.d - 1) / 7) + 1 === x.nth);
}

function matchesDay(s: CronSchedule, day: Day): boolean {
  return s.months.has(day.m) && dayMatches(s.days, day) && weekdayMatches(s.weekdays, day);
}

/** Whether the calendar day y-m-d (m 1-12) is one the expression fires on. */
export function cronDayMatches(s: CronSchedule, y: number, m: number, d: number): boolean {
  return matchesDay(s, dayOf(y, m, d));
}

/**
 * Whether the expression fires on some day within node-cron's look-ahead (100 years) from `from`:
 * node-cron throws when it finds none. Month by month, weekdays counted on: no dates allocated.
 */
export function firesWithinLookahead(s: CronSchedule, from = new Date()): boolean {
  let y = from.getFullYear();
  let m = from.getMonth() + 1;
  let first = from.getDate();
  for (let months = 0; months < LOOKAHEAD_MONTHS; months++) {
    if (s.months.has(m)) {
      const day = dayOf(y, m, first);
      for (; day.d <= day.last; day.d++, day.w = (day.w + 1) % 7) if (matchesDay(s, day)) return true;
    }
    first = 1;
    if (++m > 12) [m, y] = [1, y + 1];
  }
  return false;
}

/** Calendar day arithmetic on (y, m, d), independent of the time zone. */
export function addDays(day: { y: number; m: number; d: number }, n: number) {
  const t = new Date(Date.UTC(day.y, day.m - 1, day.d + n));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}
export const localDay = (t: number) => {
  const d = new Date(t);
  return { y: d.getFullYear(), m: d.getMonth() + 1, d: d.getDate() };
};
const sameDay = (a: { y: number; m: number; d: number }, b: { y: number; m: number; d: number }) => a.y === b.y && a.m === b.m && a.d === b.d;

/** The local wall-clock instant, or null when it does not exist (skipped by a DST change). */
export function localInstant(y: number, m: number, d: number, h: number, mi: number, s: number): number | null {
  const t = new Date(y, m - 1, d, h, mi, s);
  return t.getDate() === d && t.getHours() === h && t.getMinutes() === mi && t.getSeconds() === s ? t.getTime() : null;
}

/**
 * The latest tick t with after < t ≤ upTo (whole seconds, local time), or null. Walks the calendar
 * days back from upTo's day to after's, so the cost follows the window, not the expression.
 */
export function latestTick(s: CronSchedule, after: Date, upTo: Date): Date | null {
  const lo = after.getTime();
  const hi = Math.floor(upTo.getTime() / 1000) * 1000;
  if (!(hi > lo)) return null;
  const first = localDay(lo);
  const desc = (v: number[]) => [...v].reverse();
  const [hours, minutes, seconds] = [desc(s.hours), desc(s.minutes), desc(s.seconds)];
  for (let day = localDay(hi); ; day = addDays(day, -1)) {
    if (cronDayMatches(s, day.y, day.m, day.d)) {
      for (const h of hours) {
        if (new Date(day.y, day.m - 1, day.d, h, 0, 0).getTime() > hi) continue;
        for (const mi of minutes) {
          const minuteStart = new Date(day.y, day.m - 1, day.d, h, mi, 0).getTime();
          if (minuteStart > hi) continue;
          for (const sec of seconds) {
            const t = localInstant(day.y, day.m, day.d, h, mi, sec);
            if (t === null || t > hi) continue;
            return t > lo ? new Date(t) : null;
          }
        }
      }
    }
    if (sameDay(day, first)) return null;
  }
}

/** The first tick strictly after `after` (a flow's `nextRunTime`) (whole seconds, local time), within maxDays days; or null. */
export function nextTick(s: CronSchedule, after: Date, maxDays = 366 * 100): Date | null {
  const lo = after.getTime();
  let day = localDay(lo);
  for (let i = 0; i <= maxDays; i++, day = addDays(day, 1)) {
    if (!cronDayMatches(s, day.y, day.m, day.d)) continue;
    for (const h of s.hours) {
      const hourEnd = new Date(day.y, day.m - 1, day.d, h, 59, 59).getTime();
      if (hourEnd <= lo) continue;
      for (const mi of s.minutes) {
        if (new Date(day.y, day.m - 1, day.d, h, mi, 59).getTime() <= lo) continue;
        for (const sec of s.seconds) {
          const t = localInstant(day.y, day.m, day.d, h, mi, sec);
          if (t !== null && t > lo) return new Date(t);
        }
      }
    }
  }
  return null;
}
