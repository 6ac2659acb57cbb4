import { describe, expect, it } from 'vitest';
import { AwaitingKey } from '../src/client/awaiting-key.js';
import type { ServerFrameMap } from '../src/protocol/v1/server-frames.js';

const push = (id: string, bytes: number): ServerFrameMap['push'] => ({
  type: 'push', message_id: id, client_id: `c-${id}`, kind: 'broadcast', to: '*', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(bytes), sent_at: 1,
  from: { member_pubkey: 'a'.repeat(64), session_pubkey: 'b'.repeat(64), display_name: 'a' }, key_epoch: 1, sig: 'A'.repeat(86),
});

describe('AwaitingKey', () => {
  it('holds pushes up to its count and byte limits, gives them back in arrival order, and holds a push once', () => {
    const held = new AwaitingKey({ maxPushes: 3, maxBytes: 100 });
    expect(held.hold(push('1', 40))).toBe(true);
    expect(held.hold(push('1', 40))).toBe(true);
    expect(held.hold(push('2', 40))).toBe(true);
    expect(held.hold(push('3', 40))).toBe(false);
    expect(held.hold(push('4', 20))).toBe(true);
    expect(held.hold(push('5', 1))).toBe(false);
    expect(held.take().map((f) => f.message_id)).toEqual(['1', '2', '4']);
    expect(held.size).toBe(0);
    expect(held.hold(push('6', 100))).toBe(true);
    held.clear();
    expect(held.hold(push('7', 100))).toBe(true);
  });
});
