import { describe, expect, it } from 'vitest';
import { decodeBody, encodeBody } from '../src/index.js';

describe('message body envelope (protocol §6.3)', () => {
  it('round-trips text, priority and reply_to, and leaves the default priority out', () => {
    expect(encodeBody('hi')).toBe('{"cm":1,"text":"hi"}');
    const full = encodeBody('tests pass on main', { priority: 'now', replyTo: '41' });
    expect(full).toBe('{"cm":1,"text":"tests pass on main","priority":"now","reply_to":"41"}');
    expect(decodeBody(full)).toEqual({ text: 'tests pass on main', priority: 'now', replyTo: '41' });
  });

  it('reads anything else as plain text of priority next', () => {
    for (const plain of ['hello', '{"cm":2,"text":"x"}', '{"cm":1,"text":"x","extra":1}', '{"cm":1,', '{"text":"not an envelope"}']) {
      expect(decodeBody(plain)).toEqual({ text: plain, priority: 'next', replyTo: null });
    }
  });

  it('carries what a bridge forwarded: hops, path, original sender and mesh', () => {
    const forwarded = { hops: 1, path: ['mesh-a-id'], from: 'alice', mesh: 'team-a' };
    const encoded = encodeBody('hello', { forwarded });
    expect(encoded).toBe('{"cm":1,"text":"hello","fwd":{"hops":1,"path":["mesh-a-id"],"from":"alice","mesh":"team-a"}}');
    expect(decodeBody(encoded)).toEqual({ text: 'hello', priority: 'next', replyTo: null, forwarded });
    expect(() => encodeBody('x', { forwarded: { ...forwarded, hops: 0 } })).toThrow();
  });

  it('rejects a bad priority or reply_to when encoding', () => {
    expect(() => encodeBody('x', { replyTo: 'not-an-id' })).toThrow();
    expect(() => encodeBody('x', { priority: 'urgent' as never })).toThrow();
  });
});

describe('body codec and schema agree', () => {
  it('accepts and rejects the same envelopes', async () => {
    const { MessageBody, envelopeOf } = await import('../src/index.js');
    const samples: unknown[] = [
      { cm: 1, text: 'a' },
      { cm: 1, text: 'a', priority: 'now' },
      { cm: 1, text: 'a', priority: 'low', reply_to: '9' },
      { cm: 1, text: 'a', priority: 'urgent' },
      { cm: 1, text: 'a', reply_to: '0' },
      { cm: 1, text: 'a', reply_to: 12 },
      { cm: 1, text: 7 },
      { cm: 2, text: 'a' },
      { cm: 1, text: 'a', extra: true },
      { cm: 1, text: 'a', fwd: { hops: 1, path: ['m1'], from: 'alice', mesh: 'team' } },
      { cm: 1, text: 'a', fwd: { hops: 0, path: ['m1'], from: 'alice', mesh: 'team' } },
      { cm: 1, text: 'a', fwd: { hops: 17, path: ['m1'], from: 'alice', mesh: 'team' } },
      { cm: 1, text: 'a', fwd: { hops: 1, path: [], from: 'alice', mesh: 'team' } },
      { cm: 1, text: 'a', fwd: { hops: 1, path: ['m1'], from: 'alice' } },
      { cm: 1, text: 'a', fwd: { hops: 1, path: ['m1'], from: 'alice', mesh: 'team', via: 'x' } },
      { text: 'a' },
      [1],
      null,
      'x',
    ];
    for (const s of samples) expect(envelopeOf(s) !== null).toBe(MessageBody.safeParse(s).success);
  });
});
