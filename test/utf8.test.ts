// The shared byte-limit helpers (src/infra/utf8.ts, src/infra/size.ts): a cut never splits a character.
import { expect } from 'chai';
import { clipUtf8, lastUtf8 } from '../src/infra/utf8.js';
import { sizeInBytes } from '../src/infra/size.js';

describe('utf8 and size helpers', () => {
  it('clipUtf8 keeps short text, and cuts long text at a character boundary within the limit, marked …', () => {
    expect(clipUtf8('héllo', 6)).to.equal('héllo');
    const text = '€'.repeat(10); // 3 bytes each
    for (let max = 4; max <= 30; max++) {
      const out = clipUtf8(text, max);
      expect(Buffer.byteLength(out), `max ${max}`).to.be.at.most(max);
      expect(out.includes('\uFFFD'), `max ${max}`).to.equal(false);
    }
    expect(clipUtf8(text, 10)).to.equal('€€…');
  });

  it('lastUtf8 keeps the last bytes, starting at a whole character', () => {
    const b = Buffer.from('a€b€c');
    expect(lastUtf8(b, 100)).to.equal('a€b€c');
    expect(lastUtf8(b, 5)).to.equal('b€c');
    expect(lastUtf8(b, 4)).to.equal('€c');
    expect(lastUtf8(b, 3)).to.equal('c'); // the cut would land inside the last €
  });

  it('sizeInBytes reads the units of BODY_LIMIT and refuses anything else', () => {
    expect(sizeInBytes('512')).to.equal(512);
    expect(sizeInBytes(' 1MB ')).to.equal(1024 * 1024);
    expect(sizeInBytes('2kb')).to.equal(2048);
    expect(() => sizeInBytes('huge')).to.throw('not a size');
    expect(() => sizeInBytes('1.5mb')).to.throw('not a size');
  });
});
