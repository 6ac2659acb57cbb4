import { describe, expect, it } from 'vitest';
import { MeshState, type MemberRecord } from './mesh-directory.js';

const member = (revoked: boolean): MemberRecord => ({
  id: '7',
  meshId: 'm',
  pubkey: 'a'.repeat(64),
  displayName: 'victim',
  role: 'member',
  peerType: 'ai',
  revoked,
  restOnly: false,
  scope: null,
  joinedAt: 0,
  groups: new Set(),
});

describe('MeshState membership cache', () => {
  it('keeps a revoked member revoked when a reload read its row before the revocation committed', () => {
    const state = new MeshState({ id: 'm', name: 'm', ownerPubkey: 'b'.repeat(64), createdAt: 0 });
    state.put(member(false));
    const held = state.byId.get('7')!;
    held.revoked = true; // what MeshesService.revokeMember does after its UPDATE
    state.put(member(false)); // a refresh whose SELECT ran before that UPDATE
    expect(held.revoked).toBe(true);
    expect(state.activeMembers()).toEqual([]);
  });
});
