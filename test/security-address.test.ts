// The pieces HTTP tasks are checked with, on their own: which addresses are private, what
// HTTP_TASK_ALLOW opens, `${env:NAME}` resolution, and how secrets are masked in text.
import { expect } from 'chai';
import { AddressPolicy, parseIp, privateKind } from '../src/executors/addressPolicy.js';
import { resolveEnvRefs, resolveEnvRefsDeep } from '../src/executors/envRefs.js';
import { TaskFailure } from '../src/executors/types.js';
import { isOnlyEnvRef, maskSecretsInText, secretHeaderNames } from '../src/infra/secrets.js';
import { ConfigError, loadConfig } from '../config/index.js';

describe('security: address policy', () => {
  it('parses IPv4 and IPv6 (compressed, with an IPv4 tail, bracketed, with a zone)', () => {
    expect(parseIp('10.1.2.3')).to.deep.equal({ family: 4, value: 0x0a010203n });
    expect(parseIp('::1')).to.deep.equal({ family: 6, value: 1n });
    expect(parseIp('[::ffff:127.0.0.1]')).to.deep.equal({ family: 6, value: 0xffff7f000001n });
    expect(parseIp('2001:db8::8:800:200c:417a')!.value).to.equal(0x20010db80000000000080800200c417an);
    expect(parseIp('fe80::1%eth0')!.value).to.equal(0xfe800000000000000000000000000001n);
    for (const bad of ['', 'localhost', '1.2.3', '256.0.0.1', '::g', '1.2.3.4/8']) expect(parseIp(bad), bad).to.equal(null);
  });

  const cases: [string, string | null][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fd00::2', 'private'],
    ['fc00::1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    // IPv6 forms that carry an IPv4 address are judged by it.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:0a00:0001::', 'private'],
    ['::7f00:1', 'reserved'],
    // Documentation ranges (TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20): no real host should answer there.
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.255', 'documentation'],
    ['2001:db8::1', 'documentation'],
    ['2001:db8:ffff::9', 'documentation'],
    ['3fff::1', 'documentation'],
    ['::ffff:192.0.2.1', 'documentation'],
    // Public.
    ['1.1.1.1', null],
    ['8.8.8.8', null],
    ['172.32.0.1', null],
    ['100.128.0.1', null],
    ['2606:4700::1111', null],
    ['192.0.3.1', null],
    ['198.51.101.1', null],
    ['203.0.114.1', null],
    ['2001:db9::1', null],
    ['::ffff:8.8.8.8', null],
  ];
  for (const [ip, kind] of cases) {
    it(`${ip} is ${kind ?? 'public'}`, () => expect(privateKind(ip)).to.equal(kind));
  }

  it('refuses the host\'s own interface addresses, even public ones', () => {
    const p = new AddressPolicy([], ['93.184.215.7', '2606:4700::7']);
    expect(p.refusal('93.184.215.7')).to.equal("this member's own");
    expect(p.refusal('::ffff:93.184.215.7')).to.equal("this member's own");
    expect(p.refusal('2606:4700::7')).to.equal("this member's own");
    expect(p.refusal('93.184.215.8')).to.equal(null);
  });

  it('HTTP_TASK_ALLOW opens addresses, CIDRs (their IPv6-mapped forms too) and host names', () => {
    const p = new AddressPolicy(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', 'Metadata.Internal'], []);
    expect(p.refusal('127.0.0.1')).to.equal(null);
    expect(p.refusal('::ffff:127.0.0.1')).to.equal(null);
    expect(p.refusal('127.0.0.2')).to.equal('loopback');
    expect(p.refusal('10.200.3.4')).to.equal(null);
    expect(p.refusal('11.0.0.1')).to.equal(null); // public anyway
    expect(p.refusal('192.168.0.1')).to.equal('private');
    expect(p.refusal('fd12:3456::1')).to.equal(null);
    expect(p.refusal('fc00::1')).to.equal('private');
    expect(p.refusal('::1')).to.equal('loopback');
    expect(p.allowsHost('metadata.internal')).to.equal(true);
    expect(p.allowsHost('METADATA.INTERNAL.')).to.equal(true);
    expect(p.allowsHost('internal')).to.equal(false);
    expect(p.allowsHost('x.metadata.internal')).to.equal(false);
  });

  it('the configuration refuses a bad HTTP_TASK_ALLOW entry, naming the variable', () => {
    expect(loadConfig({ HTTP_TASK_ALLOW: ' 127.0.0.1 , 10.0.0.0/8, [::1], fd00::/8, api.internal ' }).httpTaskAllow).to.deep.equal(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'api.internal']);
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'http://x', 'a b', '1.2.3.4/x/1']) {
      expect(() => loadConfig({ HTTP_TASK_ALLOW: bad }), bad).to.throw(ConfigError, /^HTTP_TASK_ALLOW /);
    }
  });
});

describe('security: ${env:NAME} references', () => {
  const env = { allow: new Set(['API_KEY', 'EMPTY', 'UNSET']), values: { API_KEY: 'k-123', EMPTY: '', DATABASE_URL: 'mysql://secret' } };

  it('replaces allowed names with their values, as plain text', () => {
    expect(resolveEnvRefs('Bearer ${env:API_KEY}', env, 'h')).to.equal('Bearer k-123');
    expect(resolveEnvRefs('${env:API_KEY}/${env:API_KEY}${env:EMPTY}', env, 'h')).to.equal('k-123/k-123');
    expect(resolveEnvRefs('no refs, ${API_KEY}, $env:API_KEY, ${input.x}', env, 'h')).to.equal('no refs, ${API_KEY}, $env:API_KEY, ${input.x}');
    expect(resolveEnvRefsDeep({ a: ['${env:API_KEY}', 1, null], b: { c: '${env:API_KEY}' } }, env, 'body')).to.deep.equal({ a: ['k-123', 1, null], b: { c: 'k-123' } });
  });

  it('fails the task on a name that is not allowed, not set or not a name, naming it', () => {
    const fail = (text: string) => {
      try {
        resolveEnvRefs(text, env, 'taskConfig.url');
      } catch (e) {
        expect(e).to.be.instanceOf(TaskFailure);
        return (e as Error).message;
      }
      throw new Error('expected a failure');
    };
    expect(fail('${env:DATABASE_URL}')).to.equal('taskConfig.url: ${env:DATABASE_URL} is not allowed; add DATABASE_URL to TASK_ENV_ALLOW');
    expect(fail('x${env:UNSET}')).to.equal("taskConfig.url: ${env:UNSET} is in TASK_ENV_ALLOW but not set in the member's environment");
    expect(fail('${env:a-b}')).to.equal('taskConfig.url: ${env:a-b} is not a valid variable name');
  });

  it('TASK_ENV_ALLOW takes the values of its names from the environment, once', () => {
    const c = loadConfig({ TASK_ENV_ALLOW: 'API_KEY, OTHER', API_KEY: 'v', ADMIN_TOKEN: 'a' });
    expect(c.taskEnvAllow).to.deep.equal(['API_KEY', 'OTHER']);
    expect(c.taskEnv).to.deep.equal({ API_KEY: 'v' });
    expect(() => loadConfig({ TASK_ENV_ALLOW: 'A,1B' })).to.throw(ConfigError, /^TASK_ENV_ALLOW /);
  });
});

describe('security: secrets in text', () => {
  const names = secretHeaderNames(['X-Vault-Token']);

  it('masks secret header values written as JSON, plain or escaped as in SQL text, and bearer tokens', () => {
    expect(maskSecretsInText('{"headers":{"Authorization":"Bearer abc","X-Trace":"t1","x-vault-token":"s.1"}}', names)).to.equal(
      '{"headers":{"Authorization":"***","X-Trace":"t1","x-vault-token":"***"}}',
    );
    expect(maskSecretsInText(`values ('{\\"headers\\":{\\"Cookie\\":\\"sid=1\\"}}') - Data too long`, names)).to.equal(
      `values ('{\\"headers\\":{\\"Cookie\\":\\"***\\"}}') - Data too long`,
    );
    expect(maskSecretsInText('sent Authorization: Bearer eyJhbGciOi.x-y_z', names)).to.equal('sent Authorization: Bearer ***');
  });

  it('masks SHELL env values with secret-looking names too (a rendered config quoted by a database error)', () => {
    expect(maskSecretsInText('{"env":{"DB_PASSWORD":"hunter2","REGION":"eu","api_token":"t-1"}}', names)).to.equal('{"env":{"DB_PASSWORD":"***","REGION":"eu","api_token":"***"}}');
    expect(maskSecretsInText(`rendered_config = '{\\"env\\":{\\"API_TOKEN\\":\\"rendered-1\\"}}'`, names)).to.equal(`rendered_config = '{\\"env\\":{\\"API_TOKEN\\":\\"***\\"}}'`);
  });

  it('a value that only references the environment is not a secret', () => {
    expect(isOnlyEnvRef('Bearer ${env:API_TOKEN}')).to.equal(true);
    expect(isOnlyEnvRef('${env:COOKIE}')).to.equal(true);
    expect(isOnlyEnvRef('Bearer abc${env:API_TOKEN}')).to.equal(false);
    expect(isOnlyEnvRef('Bearer abc')).to.equal(false);
  });
});
