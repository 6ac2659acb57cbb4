import { decodeServerFrame, serverFrame, type StoredEpochManifest } from '@claudemesh/core';
import { describe, expect, it } from 'vitest';
import { epochNewFrames } from './epochs.service.js';

describe('epochNewFrames', () => {
  const key = (c: string): string => c.repeat(64);
  const manifest: StoredEpochManifest = {
    manifest: {
      v: 1, mesh_id: 'm-1', scope: 'topic:ops', epoch: 2, prev_epoch_hash: 'A'.repeat(43), members: [key('a'), key('b')], reason: 'scheduled',
      created_by: key('a'), created_at: 1_700_000_000_000, key_commitment: 'A'.repeat(43),
    },
    sig: 'Q'.repeat(85) + 'A', manifest_hash: 'g'.repeat(42) + 'A', accepted_at: 1_700_000_000_001,
  };
  const seal = { recipient: key('b'), sealer: key('a'), sealed: 'E'.repeat(106) + 'A', sig: 'F'.repeat(85) + 'A' };

  it('gives byte for byte what serverFrame gives, with and without a seal, and frames that decode', () => {
    const push = epochNewFrames('topic:ops', 2, manifest);
    expect(push(seal)).toBe(serverFrame('epoch_new', { scope: 'topic:ops', epoch: 2, manifest, seal: { epoch: 2, ...seal } }));
    expect(push(undefined)).toBe(serverFrame('epoch_new', { scope: 'topic:ops', epoch: 2, manifest }));
    const decoded = decodeServerFrame(push(seal));
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded).toMatchObject({ ok: true, frame: { type: 'epoch_new', seal: { epoch: 2, recipient: key('b') } } });
  });
});
