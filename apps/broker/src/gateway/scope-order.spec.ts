import { ProtocolError } from '@claudemesh/core';
import { describe, expect, it } from 'vitest';
import { MAX_REFUSED_SCOPES, ScopeOrder } from './scope-order.js';

/** A promise settled from outside, to hold a frame's work where the test wants it. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void; fail: (e: unknown) => void } {
  let open!: (v: T) => void;
  let fail!: (e: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => ((open = resolve), (fail = reject)));
  return { promise, open, fail };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ScopeOrder (one connection\'s order of publishes and sealed sends, docs/protocol.md §5.6 "Publish order")', () => {
  it('runs a publish after the sends of its scope received before it, and the sends received after it once it settled', async () => {
    const order = new ScopeOrder();
    const log: string[] = [];
    const before = gate();
    const sent = order.send('topic:a', 1, async () => {
      await before.promise;
      log.push('send 1');
    });
    const published = order.publish('topic:a', 2, async () => {
      log.push('publish 2');
    });
    const after = order.send('topic:a', 2, async () => {
      log.push('send 2');
    });
    // Another scope is not held by either.
    await order.send('topic:b', 1, async () => {
      log.push('other scope');
    });
    await tick();
    expect(log).toEqual(['other scope']);
    before.open();
    await Promise.all([sent, published, after]);
    expect(log).toEqual(['other scope', 'send 1', 'publish 2', 'send 2']);
    expect(order.size).toBe(0);
  });

  it('starts a send at once while no publish is pending (no extra turn of the event loop)', () => {
    const order = new ScopeOrder();
    let started = false;
    void order.send('mesh', 1, async () => {
      started = true;
    });
    expect(started).toBe(true);
  });

  it('answers E_EPOCH_STALE, with the epoch the refusal named, for a send held behind a refused publish of its epoch that its check finds invalid', async () => {
    const order = new ScopeOrder();
    const invalid = (): Promise<never> => Promise.reject(new ProtocolError('E_MESSAGE_INVALID', 'the message is not signed by you for #a, epoch 3'));
    const published = order.publish('topic:a', 3, async () => {
      throw new ProtocolError('E_EPOCH_CONFLICT', 'epoch 3 was published by another member first', { current_epoch: 3 });
    });
    const held = order.send('topic:a', 3, invalid);
    const older = order.send('topic:a', 2, async () => 'stored under 2');
    await expect(published).rejects.toMatchObject({ code: 'E_EPOCH_CONFLICT' });
    await expect(held).rejects.toMatchObject({ code: 'E_EPOCH_STALE', details: { current_epoch: 3 } });
    await expect(older).resolves.toBe('stored under 2');
    // A refusal without a current epoch (any other error) names the epoch before the proposed one.
    const failed = order.publish('topic:a', 5, () => Promise.reject(new Error('database unavailable')));
    const next = order.send('topic:a', 5, invalid);
    await expect(failed).rejects.toThrow('database unavailable');
    await expect(next).rejects.toMatchObject({ code: 'E_EPOCH_STALE', details: { current_epoch: 4 } });
    expect(order.size).toBe(0);
  });

  it('answers E_EPOCH_STALE as well for a send under the refused epoch that arrives after the refusal went out, until a publish of the scope is accepted', async () => {
    const order = new ScopeOrder();
    const invalid = (): Promise<never> => Promise.reject(new ProtocolError('E_MESSAGE_INVALID', 'the message is not signed by you for #a, epoch 2'));
    await expect(order.publish('topic:a', 2, () => Promise.reject(new ProtocolError('E_EPOCH_CONFLICT', 'epoch 2 was published by another member first', { current_epoch: 2 })))).rejects.toMatchObject({ code: 'E_EPOCH_CONFLICT' });
    // Nothing pending any more: the client sealed this one under its proposal before it read the refusal.
    await expect(order.send('topic:a', 2, invalid)).rejects.toMatchObject({ code: 'E_EPOCH_STALE', details: { current_epoch: 2 } });
    // Another epoch, another scope: their own answers.
    await expect(order.send('topic:a', 1, invalid)).rejects.toMatchObject({ code: 'E_MESSAGE_INVALID' });
    await expect(order.send('topic:b', 2, invalid)).rejects.toMatchObject({ code: 'E_MESSAGE_INVALID' });
    await expect(order.send('topic:a', 2, async () => 'stored under the winner')).resolves.toBe('stored under the winner');
    // A publish of the scope accepted: an invalid send under 2 is invalid again.
    await expect(order.publish('topic:a', 3, async () => 'accepted')).resolves.toBe('accepted');
    await expect(order.send('topic:a', 2, invalid)).rejects.toMatchObject({ code: 'E_MESSAGE_INVALID' });
    expect(order.size).toBe(0);
  });

  it(`remembers the refused publishes of at most ${MAX_REFUSED_SCOPES} scopes, forgetting the oldest`, async () => {
    const order = new ScopeOrder();
    const invalid = (): Promise<never> => Promise.reject(new ProtocolError('E_MESSAGE_INVALID', 'bad signature'));
    for (let i = 0; i <= MAX_REFUSED_SCOPES; i++) {
      await expect(order.publish(`topic:t${i}`, 2, () => Promise.reject(new ProtocolError('E_EPOCH_CONFLICT', 'lost', { current_epoch: 2 })))).rejects.toBeDefined();
    }
    await expect(order.send('topic:t0', 2, invalid)).rejects.toMatchObject({ code: 'E_MESSAGE_INVALID' });
    await expect(order.send('topic:t1', 2, invalid)).rejects.toMatchObject({ code: 'E_EPOCH_STALE' });
    await expect(order.send(`topic:t${MAX_REFUSED_SCOPES}`, 2, invalid)).rejects.toMatchObject({ code: 'E_EPOCH_STALE' });
  });

  it("gives a send held behind a refused publish its own answer when that is not the lost race's: another refusal, or stored", async () => {
    const order = new ScopeOrder();
    const refusal = new ProtocolError('E_TOPIC_MODE', '#general is not an e2e topic');
    const published = order.publish('topic:general', 2, () => Promise.reject(refusal));
    const plaintextTopic = order.send('topic:general', 2, () => Promise.reject(new ProtocolError('E_TOPIC_MODE', '#general takes text, not ciphertext')));
    const stored = order.send('topic:general', 2, async () => 'stored under 2');
    // A send of the same scope under another epoch is not the refused proposal's.
    const other = order.send('topic:general', 1, () => Promise.reject(new ProtocolError('E_MESSAGE_INVALID', 'bad signature')));
    await expect(published).rejects.toBe(refusal);
    await expect(plaintextTopic).rejects.toMatchObject({ code: 'E_TOPIC_MODE' });
    await expect(stored).resolves.toBe('stored under 2');
    await expect(other).rejects.toMatchObject({ code: 'E_MESSAGE_INVALID' });
  });

  it('settles a publish whose work throws before returning a promise, so the sends behind it are not held for ever', async () => {
    const order = new ScopeOrder();
    const published = order.publish('topic:a', 2, () => {
      throw new Error('thrown at once');
    });
    const after = order.send('topic:a', 1, async () => 'ran');
    await expect(published).rejects.toThrow('thrown at once');
    await expect(after).resolves.toBe('ran');
  });

  it('orders publishes of one scope one after the other', async () => {
    const order = new ScopeOrder();
    const log: string[] = [];
    const first = gate();
    const p2 = order.publish('mesh', 2, async () => {
      await first.promise;
      log.push('publish 2');
    });
    const p3 = order.publish('mesh', 3, async () => {
      log.push('publish 3');
    });
    await tick();
    expect(log).toEqual([]);
    first.open();
    await Promise.all([p2, p3]);
    expect(log).toEqual(['publish 2', 'publish 3']);
  });
});
