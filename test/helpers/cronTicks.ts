// The next tick of a cron expression: the tests' counterpart of node-cron's getNextRuns (the program
// itself only looks back, for the misfire catch-up: latestTick in src/definitions/cronTicks.ts).
import { addDays, cronDayMatches, localDay, localInstant, type CronSchedule } from '../../src/definitions/cronTicks.js';

/** The first tick strictly after `after` (whole seconds, local time), within maxDays days; or null. */
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
