import type { InboundMessage, OpenedTopicMessage } from '@claudemesh/core';
import { describe, expect, it } from 'vitest';
import { channelNotification, isChannelMeta, topicNotification } from './channel.js';

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

  it('shows an e2e topic message opened, or why it is not, never its ciphertext', () => {
    const sealed: Omit<OpenedTopicMessage, 'text'> = {
      id: '42', topic: 'ops', client_id: 'c7654321', reply_to: null, body_version: 2, key_epoch: 3,
      nonce: 'bm9uY2U', ciphertext: 'Y2lwaGVydGV4dC1ieXRlcw', sig: 'c2ln', mentions: [], created_at: 0,
      sender: { member_pubkey: 'a'.repeat(64), display_name: 'alice', peer_type: 'ai' } as OpenedTopicMessage['sender'],
    };
    const mesh = { mesh_id: 'm', mesh_name: 'team' };
    const opened = topicNotification({ ...sealed, text: 'the plan' }, mesh);
    expect(opened.params.content).toBe('claudemesh #ops message 42 from alice:\nthe plan');
    expect(opened.params.meta).toMatchObject({ kind: 'topic', encryption: 'e2e' });
    expect(opened.params.meta).not.toHaveProperty('undecryptable');
    const waiting = topicNotification({ ...sealed, text: null, reason: 'waiting for a key from a member' }, mesh);
    expect(waiting.params.content).toBe('claudemesh #ops message 42 from alice:\n(encrypted: waiting for a key from a member)');
    expect(waiting.params.meta).toMatchObject({ encryption: 'e2e', undecryptable: 'waiting for a key from a member' });
    const refused = topicNotification({ ...sealed, text: null, reason: `refused: bad signature${ESCAPES}` }, mesh);
    expect(refused.params.content).toContain('(encrypted: refused: bad signature');
    expect(isChannelMeta(refused.params.meta)).toBe(true);
    expect(refused.params.meta['undecryptable']).toBe('refused: bad signature␛]0;pwned␇␛[2J\\u202e');
    for (const n of [opened, waiting, refused]) expect(JSON.stringify(n)).not.toContain(sealed.ciphertext!);
  });
});
