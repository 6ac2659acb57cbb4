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

  it('rejects a bad priority or reply_to when encoding', () => {
    expect(() => encodeBody('x', { replyTo: 'not-an-id' })).toThrow();
    expect(() => encodeBody('x', { priority: 'urgent' as never })).toThrow();
  });
});
