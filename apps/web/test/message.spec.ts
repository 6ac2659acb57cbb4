import { h } from 'preact';
import { renderToString } from 'preact-render-to-string';
import { describe, expect, it } from 'vitest';
import { SEALED_NOTICE } from '../src/body.js';
import { mergeMessages } from '../src/store/timeline.js';
import type { TopicMessage } from '../src/types.js';
import { Message } from '../src/views/message.js';

const msg = (id: string, extra: Partial<TopicMessage> = {}): TopicMessage => ({
  id,
  topic: 'dev',
  client_id: `client-${id}`,
  sender: { member_pubkey: 'a'.repeat(64), display_name: 'alice', peer_type: 'ai' },
  reply_to: null,
  body_version: 1,
  text: `text ${id}`,
  mentions: [],
  created_at: 1_700_000_000_000,
  ...extra,
});

describe('message view', () => {
  it('shows a sealed (version 2) message as its author and the notice, with no body text', () => {
    const sealed = msg('7', { body_version: 2, text: undefined, key_epoch: 1, nonce: 'n', ciphertext: 'c', sig: 's' });
    const out = renderToString(h(Message, { message: sealed, me: 'bob' }));
    expect(out).toContain('data-id="7"');
    expect(out).toContain('alice');
    expect(out).toContain('agent');
    expect(out).toContain('class="body sealed"');
    expect(out).toContain(SEALED_NOTICE);
  });

  it('renders a plaintext body as Markdown', () => {
    const out = renderToString(h(Message, { message: msg('8', { text: '**hi** @bob' }), me: 'bob' }));
    expect(out).toContain('<strong>hi</strong>');
    expect(out).toContain('mention mention-me');
  });
});

describe('timeline merge', () => {
  it('keeps each id once, in numeric id order', () => {
    const list = mergeMessages([msg('9'), msg('10')], [msg('10'), msg('2'), msg('11'), msg('100')]);
    expect(list.map((m) => m.id)).toEqual(['2', '9', '10', '11', '100']);
  });

  it('returns the same list when nothing is new', () => {
    const list = [msg('1')];
    expect(mergeMessages(list, [msg('1')])).toBe(list);
  });
});
