// The cron expression check (src/definitions/cronExpression.ts) and its ticks (cronTicks.ts) as a unit: every field against its real
// range before anything expands it, node-cron 4's syntax and nothing more, and ticks computed from the
// parsed sets that agree with node-cron's own schedule.
import { expect } from 'chai';
import cron from 'node-cron';
import { CronSyntaxError, parseCron } from '../src/definitions/cronExpression.js';
import { latestTick, nextTick } from '../src/definitions/cronTicks.js';

const refused = (expr: string): string => {
  try {
    parseCron(expr);
  } catch (e) {
    expect(e).to.be.instanceOf(CronSyntaxError);
    return (e as Error).message;
  }
  throw new Error(`"${expr}" was accepted`);
};

describe('cron expressions', () => {
  describe('refused before anything expands them', () => {
    const cases: [string, string][] = [
      // The killers: node-cron would build arrays of 1e11, 1e7 and 3e7 numbers.
      ['1-99999999999 * * * * *', 'field 1 (second) value 99999999999 is out of range 0-59'],
      ['1-10000000 * * * * *', 'field 1 (second) value 10000000 is out of range 0-59'],
      ['* 1-30000000 * * * *', 'field 2 (minute) value 30000000 is out of range 0-59'],
      ['0 0 1-99999999999999999999 * *', 'field 3 (day) value 99999999999999999999 is out of range 1-31'],
      ['61 * * * *', 'field 1 (minute) value 61 is out of range 0-59'],
      ['0 24 * * *', 'field 2 (hour) value 24 is out of range 0-23'],
      ['0 0 0 * *', 'field 3 (day) value 0 is out of range 1-31'],
      ['0 0 1 13 *', 'field 4 (month) value 13 is out of range 1-12'],
      ['0 0 * * 8', 'field 5 (weekday) value 8 is out of range 0-7'],
      ['*/0 * * * * *', 'field 1 (second) step 0 is out of range 1-60'],
      ['*/61 * * * * *', 'field 1 (second) step 61 is out of range 1-60'],
      ['0 0-23/99999999999 * * *', 'field 2 (hour) step 99999999999 is out of range 1-24'],
      ['5/15 * * * * *', 'field 1 (second) "5/15": a step needs * or a range before it'],
      ['* * * * * * *', 'has 7 fields; expected 5'],
      ['* * * *', 'has 4 fields; expected 5'],
      ['? * * * *', 'field 1 (minute) "?" is allowed only as the whole day or weekday field'],
      ['0\t0 * * *', 'printable ASCII'],
      ['0 0 * * foo', 'field 5 (weekday) "foo" is not a number from 0 to 7 or a name'],
      ['0 0 * jan-foo *', 'field 4 (month) "foo" is not a number from 1 to 12 or a name'],
      ['0 0 * * jan', 'field 5 (weekday) "jan"'],
      ['1,,2 * * * *', 'field 1 (minute) "1,,2" has an empty list item'],
      ['*-5 * * * *', '* cannot start a range'],
      ['1-2-3 * * * *', 'field 1 (minute) "1-2-3"'],
      ['0 0 L-31 * *', 'L-n needs n from 1 to 30'],
      ['0 0 32W * *', 'field 3 (day) value 32 is out of range 1-31'],
      ['0 0 * * 1#6', 'n#k needs k from 1 to 5'],
      ['0 0 * * 9L', 'field 5 (weekday) value 9 is out of range 0-7'],
      // node-cron's own check, after ours: a day no month has.
      ['0 0 30 2 *', 'impossible day of month'],
      // Accepted by node-cron, but it throws when it starts the task: nothing ever matches.
      ['0 0 1 * 1#2', 'never fires'],
      ['0 0 L-30 2 *', 'never fires'],
      ['', 'is empty'],
      ['x'.repeat(129), 'longer than 128 characters'],
    ];
    for (const [expr, message] of cases) {
      it(`${JSON.stringify(expr.length > 40 ? expr.slice(0, 40) + '…' : expr)} → ${message}`, () => {
        expect(refused(expr)).to.contain(message);
      });
    }
  });

  describe('node-cron 4 syntax is accepted, and the ticks are node-cron\'s', () => {
    const accepted = [
      '* * * * * *', '*/7 * * * * *', '0 */5 * * * *', '10-50/15 * 22-2 * * *', '0 0 L * *', '0 0 L-3 * *',
      '0 0 15W * *', '0 0 lw * *', '0 0 * * 5L', '0 0 * * fri#2', '0 0 * * MON-fri', '0 0 1 jan-mar/2 *',
      '0 0 1 January,DEC *', '@hourly', '@Daily', '0 30 9 ? * 7', '59 59 23 31 12 *', '0 0 * * 5-1',
      '0 0 * * 7-2', '0 0 1 * 0#1', '  5   4 * * *  ', '0 0 29 2 *', '00 05 * * *',
    ];
    for (const expr of accepted) {
      it(`${JSON.stringify(expr)}: the next six ticks equal node-cron's; latestTick finds each one back`, () => {
        const s = parseCron(expr);
        // node-cron counts from its own clock reading: both lists are made within one second (a tick of
        // a per-second expression can fall between two readings), else made again.
        let theirs: number[] = [];
        let ours: number[] = [];
        for (let attempt = 0; attempt < 5; attempt++) {
          const t0 = Date.now();
          const task = cron.createTask(expr, () => {});
          theirs = task.getNextRuns(6).map((d) => d.getTime());
          void task.destroy();
          ours = [];
          let from = new Date(t0);
          for (let i = 0; i < 6; i++) {
            from = nextTick(s, from)!;
            ours.push(from.getTime());
          }
          if (Math.floor(Date.now() / 1000) === Math.floor(t0 / 1000)) break;
        }
        expect(ours.map((t) => new Date(t).toISOString())).to.deep.equal(theirs.map((t) => new Date(t).toISOString()));
        for (let i = 1; i < theirs.length; i++) {
          // The latest tick up to (and including) a tick is that tick, wherever in its second we ask.
          expect(latestTick(s, new Date(theirs[0]), new Date(theirs[i] + 999))?.getTime()).to.equal(theirs[i]);
          // Between two consecutive ticks there is none; the lower bound is exclusive.
          expect(latestTick(s, new Date(theirs[i - 1]), new Date(theirs[i] - 1))).to.equal(null);
        }
      });
    }
  });

  describe('latestTick', () => {
    it('walks back across days, months and years within the window, and answers null outside it', () => {
      const s = parseCron('0 30 9 1 * *'); // 09:30:00 on the 1st of every month, local time
      const upTo = new Date(2030, 2, 15, 12, 0, 0); // 15 March 2030
      expect(latestTick(s, new Date(2029, 11, 1), upTo)?.getTime()).to.equal(new Date(2030, 2, 1, 9, 30, 0).getTime());
      expect(latestTick(s, new Date(2030, 2, 1, 9, 30, 0), upTo)).to.equal(null);
      const yearly = parseCron('@yearly');
      expect(latestTick(yearly, new Date(2028, 5, 1), upTo)?.getTime()).to.equal(new Date(2030, 0, 1, 0, 0, 0).getTime());
      expect(latestTick(yearly, new Date(2030, 0, 2), upTo)).to.equal(null);
      expect(latestTick(yearly, upTo, upTo)).to.equal(null);
    });

    it('the weekday and the day of month must both match (node-cron ANDs them)', () => {
      const s = parseCron('0 0 0 13 * fri'); // Friday the 13th
      const t = latestTick(s, new Date(2029, 0, 1), new Date(2030, 0, 1))!;
      expect([t.getDate(), t.getDay(), t.getMonth()]).to.deep.equal([13, 5, 6]); // 13 July 2029 was a Friday
    });

    it('uses the process\'s local time, and skips a wall-clock time a DST change leaves out (as node-cron does)', () => {
      const tz = process.env.TZ;
      process.env.TZ = 'Europe/Berlin'; // 31 March 2030: 02:00 → 03:00
      try {
        const s = parseCron('0 30 2 * * *');
        const t = latestTick(s, new Date(2030, 2, 29, 12), new Date(2030, 2, 31, 12))!;
        expect(t.toISOString()).to.equal('2030-03-30T01:30:00.000Z'); // 02:30 CET on the 30th; the 31st has no 02:30
        expect(nextTick(s, new Date(2030, 2, 30, 12))!.toISOString()).to.equal('2030-04-01T00:30:00.000Z'); // 02:30 CEST
      } finally {
        if (tz === undefined) delete process.env.TZ;
        else process.env.TZ = tz;
      }
    });
  });
});
