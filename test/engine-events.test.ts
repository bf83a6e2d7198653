// The engine's event emitter (src/engine/events.ts): order-free subscription, a throwing subscriber
// that breaks nothing, and `watching` (status changes are built only while a subscriber wants them).
import { expect } from 'chai';
import { EngineEvents } from '../src/engine/events.js';
import { createLogger } from '../src/infra/logger.js';

describe('engine events', () => {
  it('reaches every subscriber, past one that throws, and stops at unsubscribe', () => {
    const ev = new EngineEvents(createLogger('silent'));
    ev.emit('lockBusy', 1); // nobody listens: nothing happens
    const seen: string[] = [];
    ev.on('lockBusy', () => {
      throw new Error('a broken observer');
    });
    const off = ev.on('lockBusy', (fiId) => seen.push(`a${fiId}`));
    ev.on('lockBusy', (fiId) => seen.push(`b${fiId}`));
    expect(() => ev.emit('lockBusy', 7)).not.to.throw();
    off();
    ev.emit('lockBusy', 8);
    expect(seen).to.deep.equal(['a7', 'b7', 'b8']);
  });

  it('is watching while some statusChanges subscriber wants them', () => {
    const ev = new EngineEvents(createLogger('silent'));
    expect(ev.watching).to.equal(false);
    ev.on('finished', () => {});
    expect(ev.watching).to.equal(false);
    let wanted = false;
    const off = ev.on('statusChanges', () => {}, { when: () => wanted });
    expect(ev.watching).to.equal(false);
    wanted = true;
    expect(ev.watching).to.equal(true);
    ev.on('statusChanges', () => {}, {
      when: () => {
        throw new Error('a broken predicate');
      },
    });
    wanted = false;
    expect(ev.watching).to.equal(false);
    off();
    const offAll = ev.on('statusChanges', () => {});
    expect(ev.watching).to.equal(true);
    offAll();
    expect(ev.watching).to.equal(false);
  });
});
