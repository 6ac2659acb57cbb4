import type { InboundMessage } from '@claudemesh/core';
import { describe, expect, it } from 'vitest';
import { channelNotification, isChannelMeta } from './channel.js';

const ESCAPES = '\x1b]0;pwned\x07\x1b[2J\u202e';

describe('the channel notification for Claude Code', () => {
  it('keeps the message text exact, and makes control characters in the meta labels visible', () => {
    const text = `line one\n${ESCAPES}`;
    const m: InboundMessage = {
      messageId: '7',
      clientId: 'c1234567',
      kind: 'group',
      from: { memberPubkey: 'a'.repeat(64), sessionPubkey: 'b'.repeat(64), displayName: 'mallory' },
      to: '@ops',
      body: new TextEncoder().encode(text),
      text,
      sentAt: 0,
    };
    const n = channelNotification(m, { mesh_id: '00000000-0000-4000-8000-000000000000', mesh_name: `team${ESCAPES}` });
    // Claude Code reads the content as text, not as a terminal: it is what the sender wrote.
    expect(n.params.content.endsWith(`:\n${text}`)).toBe(true);
    expect(n.params.meta['mesh']).toBe('team␛]0;pwned␇␛[2J\\u202e');
    expect(isChannelMeta(n.params.meta)).toBe(true);
  });
});
