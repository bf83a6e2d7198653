// Issue 23, items 4 and 5: big outputs never take a member down. A task's output is bounded
// (TASK_OUTPUT_MAX_BYTES: over it the run fails, saying so), a filled-in content is checked before
// anything is written, results are recorded in batches bounded by bytes (a private MariaDB with a
// 1 MB max_allowed_packet: 8 parallel outputs that would make a 1.5 MB batch all record), logs carry
// no statement values, and the monitor answers previews (outputTruncated) with the whole output from
// GET /monitor/task/{tiId}.
import { Writable } from 'node:stream';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { startTestMember, type TestMember } from './helpers/member.js';
import { freshPrefix, isolated } from './helpers/env.js';
import { createFlow, createTask, detail, flowRow, startFlow, waitForEnd } from './helpers/flows.js';
import { Processes } from './helpers/processes.js';
import { PrivateMariaDb, PrivateRedis } from './helpers/privateServices.js';
import { createKnex } from '../src/infra/db.js';
import { createLogger } from '../src/infra/logger.js';
import { Batcher } from '../src/engine/batcher.js';
import { writeLimits } from '../src/infra/writeLimits.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { waitFor } from './helpers/wait.js';

const LIMIT = 256 * 1024;

describe('big outputs (issue 23: items 4 and 5)', function () {
  this.timeout(120_000);

  describe('on a member with TASK_OUTPUT_MAX_BYTES=256kb', () => {
    let m: TestMember;
    before(async () => {
      m = await startTestMember({ ...isolated(), TASK_OUTPUT_MAX_BYTES: '256kb', WORKER_CONCURRENCY: '8' });
    });
    after(async () => {
      await m.stop(1000);
    });

    const runOne = async (content: string) => {
      const task = await createTask(m.api, 'ECHO', content);
      const fiId = await startFlow(m.api, await createFlow(m.api, [[task]]));
      const row = await waitForEnd(m.api, fiId);
      const ti = await m.services.knex('task_ins').where('fi_id', fiId).first();
      return { row, ti, fiId };
    };

    it('fails a run whose output is over the limit, saying so, and keeps no output; one within it succeeds', async () => {
      const over = await runOne('x'.repeat(LIMIT + 1));
      expect(over.row.status).to.equal('FAILED');
      expect(over.ti.exec_status).to.equal('FAILED');
      expect(over.ti.error_msg).to.equal(`output is ${LIMIT + 1} bytes, over TASK_OUTPUT_MAX_BYTES (${LIMIT})`);
      expect(over.ti.output).to.equal(null);
      // Bytes, not characters: 100,000 × 'é' is 200,000 bytes (within), 140,000 × 'é' is 280,000 (over).
      expect((await runOne('é'.repeat(100_000))).row.status).to.equal('SUCCESS');
      const multi = await runOne('é'.repeat(140_000));
      expect(multi.ti.error_msg).to.equal(`output is 280000 bytes, over TASK_OUTPUT_MAX_BYTES (${LIMIT})`);
    });

    it('fails a task whose filled-in content would be over the limit before writing it (an output copied 300 times over)', async () => {
      const a = await createTask(m.api, 'ECHO', 'y'.repeat(50_000));
      const b = await createTask(m.api, 'ECHO', '${nodes.a.output}'.repeat(300));
      const flow = await m.api('POST', '/flow', {
        flowName: 'copies',
        flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'a', taskIds: String(a) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(b), prevNodes: ['a'] }, { nodeType: 'END' }],
      });
      expect(flow.status, flow.text).to.equal(200);
      const fiId = await startFlow(m.api, flow.body.data.flowId);
      const row = await waitForEnd(m.api, fiId);
      expect(row.status).to.equal('FAILED');
      const tb = await m.services.knex('task_ins').where({ fi_id: fiId, task_id: b }).first();
      expect(tb.exec_status).to.equal('FAILED');
      expect(tb.error_msg).to.match(/^the filled-in content is over \d+ bytes$/);
      expect(tb.rendered_content).to.equal(null);
      expect(tb.output).to.equal(null);
    });

    it('answers outputs in a detail and a result as previews (outputTruncated), and the whole output from GET /monitor/task/{tiId}', async () => {
      const big = 'é'.repeat(70_000) + 'the end';
      const { fiId, ti } = await runOne(big);
      const small = await runOne('short');

      const nodes = await detail(m.api, fiId);
      const t = nodes.flatMap((n) => n.tasks)[0];
      expect(t.outputTruncated).to.equal(true);
      expect(t.output).to.equal(big.slice(0, 65_536));
      const smallTask = (await detail(m.api, small.fiId)).flatMap((n) => n.tasks)[0];
      expect(smallTask).to.include({ output: 'short', outputTruncated: false });

      const whole = await m.api('GET', `/monitor/task/${ti.ti_id}`);
      expect(whole.status).to.equal(200);
      expect(whole.headers.get('content-type')).to.match(/^application\/json/);
      expect(whole.body).to.include({ code: '200', message: 'SUCCESS' });
      expect(whole.body.data).to.include({ tiId: ti.ti_id, output: big, outputTruncated: false, status: 'SUCCESS' });

      const row = await flowRow(m.api, fiId);
      expect(row.resultTruncated).to.equal(true);
      expect((Object.values(row.result)[0] as string).length).to.equal(65_536);
      expect((await flowRow(m.api, small.fiId)).resultTruncated).to.equal(undefined);
    });

    it('a detail of outputs recorded before the limit (8 × 2 MB) answers previews in the envelope; GET /monitor/task streams one whole', async () => {
      const tasks: number[] = [];
      for (let i = 0; i < 8; i++) tasks.push(await createTask(m.api, 'ECHO', `t${i}`));
      const fiId = await startFlow(m.api, await createFlow(m.api, [{ taskIds: tasks, completion: 'ALL' }]));
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const legacy = (i: number) => `${i}`.repeat(2 * 1024 * 1024);
      const tis: { ti_id: number; task_id: number }[] = await m.services.knex('task_ins').select('ti_id', 'task_id').where('fi_id', fiId);
      for (const ti of tis) await m.services.knex('task_ins').where('ti_id', ti.ti_id).update({ output: legacy(tasks.indexOf(ti.task_id)) });

      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const r = await m.api('POST', `/monitor/flow/detail/${fiId}`);
      const one = await m.api('GET', `/monitor/task/${tis[0].ti_id}`);
      delay.disable();
      console.log(`      event loop delay while answering (in-process member): max ${(delay.max / 1e6).toFixed(1)} ms`);
      expect(r.status, r.text.slice(0, 200)).to.equal(200);
      expect(r.body.code).to.equal('200');
      const rows = r.body.data.flatMap((n: { tasks: unknown[] }) => n.tasks);
      expect(rows).to.have.length(8);
      for (const t of rows) expect(t).to.include({ outputTruncated: true, output: legacy(tasks.indexOf(t.taskId)).slice(0, 65_536) });
      expect(r.text.length).to.be.below(1024 * 1024);
      expect(one.status).to.equal(200);
      expect(one.body.data).to.include({ output: legacy(tasks.indexOf(tis[0].task_id)), outputTruncated: false });
    });

    it('a result MySQL refuses for what it holds fails that task with the reason; the others of its batch record, the member stays up', async () => {
      const knex = m.services.knex;
      await knex.raw(`CREATE TRIGGER refuse_marked_output BEFORE UPDATE ON task_ins FOR EACH ROW
                        IF NEW.output = 'refuse-me' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test'; END IF`);
      try {
        const contents = ['ok-1', 'refuse-me', 'ok-2', 'ok-3'];
        const flows: number[] = [];
        for (const c of contents) flows.push(await createFlow(m.api, [[await createTask(m.api, 'ECHO', c)]]));
        const fiIds = await Promise.all(flows.map((f) => startFlow(m.api, f)));
        const rows = await Promise.all(fiIds.map((fiId) => waitForEnd(m.api, fiId, 20_000)));
        expect(rows.map((r) => r.status)).to.deep.equal(['SUCCESS', 'FAILED', 'SUCCESS', 'SUCCESS']);
        const refused = await knex('task_ins').where('fi_id', fiIds[1]).first();
        expect(refused).to.include({ exec_status: 'FAILED', output: null, attempt: 1, error_msg: 'its result could not be recorded: refused by the test' });
        const ok = await knex('task_ins').whereIn('fi_id', [fiIds[0], fiIds[2], fiIds[3]]).orderBy('ti_id');
        expect(ok.map((t: { output: string }) => t.output)).to.deep.equal(['ok-1', 'ok-2', 'ok-3']);
      } finally {
        await knex.raw('DROP TRIGGER IF EXISTS refuse_marked_output');
      }
    });

    it('a failed query logs its SQL without the values, and no more than a few KB of any text', async () => {
      const lines: string[] = [];
      const sink = new Writable({ write: (chunk, _enc, done) => { lines.push(String(chunk)); done(); } });
      const log = createLogger('info', {}, [], sink);
      const value = 'v'.repeat(1_000_000);
      const err = await m.services.knex('no_such_table').insert({ x: value }).then(() => null, (e: Error) => e);
      expect(err).to.be.instanceOf(Error);
      log.error({ err }, 'insert failed');
      log.error({ err: Object.assign(new Error('m'.repeat(100_000)), { sql: 's'.repeat(100_000) }) }, 'a long one');
      await waitFor('the log lines', async () => lines.length >= 2, 5000);
      for (const line of lines) expect(line.length).to.be.below(16 * 1024); // message, stack and sql: 4 KB each at most
      expect(lines[0]).to.include('no_such_table');
      expect(lines[0]).not.to.include('vvvvvvvvvvvvvvvvvvvv');
    });
  });

  it('TASK_OUTPUT_MAX_BYTES: bytes or a size (units of 1024), 1 KiB to the column; a bad one is one error naming it', () => {
    expect(loadConfig({}).taskOutputMaxBytes).to.equal(1024 * 1024);
    expect(loadConfig({ TASK_OUTPUT_MAX_BYTES: '256kb' }).taskOutputMaxBytes).to.equal(262_144);
    expect(loadConfig({ TASK_OUTPUT_MAX_BYTES: '2MB' }).taskOutputMaxBytes).to.equal(2_097_152);
    expect(loadConfig({ TASK_OUTPUT_MAX_BYTES: '5000' }).taskOutputMaxBytes).to.equal(5000);
    for (const bad of ['0', '1000', '16mb', 'lots', '-1', '1.5mb']) {
      expect(() => loadConfig({ TASK_OUTPUT_MAX_BYTES: bad }), bad).to.throw(ConfigError, /^TASK_OUTPUT_MAX_BYTES /);
    }
    // What a statement can carry lowers it: half the packet past 256 KiB of room.
    expect(writeLimits(1024 * 1024, 1024 * 1024)).to.deep.equal({ maxPacketBytes: 1_048_576, batchBytes: 393_216, outputMaxBytes: 393_216, contentMaxBytes: 393_216 });
    expect(writeLimits(64 * 1024 * 1024, 1024 * 1024)).to.include({ outputMaxBytes: 1_048_576, contentMaxBytes: 16_777_215 });
  });

  it('a batch is cut by weight as well as by count (an item over the weight goes alone)', async () => {
    const seen: number[][] = [];
    const b = new Batcher<number, number>(async (items) => {
      seen.push(items);
      return items;
    }, 1, 100, (n) => n, 10);
    await Promise.all([4, 4, 4, 20, 1, 1, 3, 5].map((n) => b.add(n)));
    expect(seen).to.deep.equal([[4, 4], [4], [20], [1, 1, 3, 5]]);
  });

  describe('on a private MariaDB with max_allowed_packet=1M (real member processes)', () => {
    let mariadb: PrivateMariaDb;
    let redis: PrivateRedis;
    let procs: Processes;
    let knex: Knex;
    before(async () => {
      [mariadb, redis] = await Promise.all([PrivateMariaDb.start({ args: ['--max-allowed-packet=1M'] }), PrivateRedis.start()]);
      const databaseUrl = mariadb.url('task_schedule_outputs');
      procs = new Processes(freshPrefix(), { env: { DATABASE_URL: databaseUrl, REDIS_URL: redis.url } });
      knex = createKnex(databaseUrl, 2);
    });
    after(async function () {
      await procs?.killAll();
      await knex?.destroy();
      await Promise.all([mariadb?.stop(), redis?.stop()]);
    });
    afterEach(function () {
      if (this.currentTest?.state === 'failed') console.error(`${procs.dump()}\n--- mariadb log ---\n${mariadb.logTail()}`);
    });

    it('8 parallel outputs that make a 1.5 MB batch (quotes and newlines: up to twice that escaped) all record; the member stays up and logs little', async () => {
      const m = await procs.start({ id: 'big-outputs', roles: 'web,worker', env: { WORKER_CONCURRENCY: '8' } });
      // 180,000 bytes each: quotes, backslashes and newlines double when escaped.
      const content = (i: number) => `${i}:` + 'ab"\\\n'.repeat(36_000).slice(0, 180_000 - String(i).length - 1);
      const tasks: number[] = [];
      for (let i = 0; i < 8; i++) tasks.push(await createTask(m.api, 'ECHO', content(i)));
      const fiIds: number[] = [];
      const flowId = await createFlow(m.api, [{ taskIds: tasks, completion: 'ALL' }]);
      for (let i = 0; i < 3; i++) fiIds.push(await startFlow(m.api, flowId));
      for (const fiId of fiIds) expect((await waitForEnd(m.api, fiId, 60_000)).status).to.equal('SUCCESS');
      const rows: { task_id: number; output: string }[] = await knex('task_ins').select('task_id', 'output').whereIn('fi_id', fiIds);
      expect(rows).to.have.length(24);
      for (const r of rows) expect(r.output).to.equal(content(tasks.indexOf(r.task_id)));
      expect(m.alive(), 'the member is up').to.equal(true);
      expect(m.output().length, 'its log').to.be.below(256 * 1024);
      // The output limit was lowered to what a statement on this server can carry, and said so.
      expect(m.output()).to.include('TASK_OUTPUT_MAX_BYTES lowered');
    });
  });
});
