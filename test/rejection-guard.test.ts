// The unhandled-rejection guard of the root hooks (helpers/rejectionGuard.ts), run on a fixture in a
// mocha process of its own: a test during which a promise was rejected with nobody to handle it fails
// with that reason, and the run goes on with the next test.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

describe('test harness: unhandled rejections fail the test they happen in', function () {
  this.timeout(60_000);

  it('fails exactly the tests that left a rejection unhandled, with its reason, and runs the rest', () => {
    const res = spawnSync(process.execPath, [
      'node_modules/mocha/bin/mocha.js', '--no-config', '--node-option', 'import=tsx',
      '--require', 'test/helpers/rejectionGuard.ts', '--reporter', 'json', 'test/fixtures/unhandledRejection.fixture.ts',
    ], { cwd: ROOT, encoding: 'utf8', timeout: 50_000 });
    const json = res.stdout.slice(res.stdout.indexOf('{'));
    let report: any;
    try {
      report = JSON.parse(json);
    } catch {
      throw new Error(`no JSON report (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
    }
    const failed = Object.fromEntries(report.failures.map((f: any) => [f.title, f.err.message as string]));
    expect(Object.keys(failed).sort()).to.deep.equal([
      'a callback-style body leaving a rejection unhandled',
      'a rejection at the very end of the body',
      'an async body leaving a rejection unhandled',
      'is reported by the first test after it',
    ]);
    expect(failed['an async body leaving a rejection unhandled']).to.match(/unhandled promise rejection \(in "guarded an async body[^)]*\): Error: lost in an async body/);
    expect(failed['a callback-style body leaving a rejection unhandled']).to.include('lost in a callback body');
    expect(failed['a rejection at the very end of the body']).to.include('lost on the way out');
    expect(failed['is reported by the first test after it']).to.include('lost in a before hook').and.include('reported by the next test');
    expect(report.passes.map((p: any) => p.title).sort()).to.deep.equal(['a clean test after it still runs and passes', 'a handled rejection is fine']);
    expect(res.status).to.equal(4);
  });
});
