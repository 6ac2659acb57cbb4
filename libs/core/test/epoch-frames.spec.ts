import { describe, expect, it } from 'vitest';
import { EPOCH_LIMITS, LIMITS, decodeClientFrame, decodeServerFrame } from '../src/index.js';

/**
 * The epoch limits (docs/protocol.md §1.2, §5.6) are chosen so that the largest frames they allow
 * still fit the frame limit: a publish of a full manifest with a full batch of seals, and an
 * `epochs` page at its byte budget with a full `missing` list.
 */
const key = (i: number): string => i.toString(16).padStart(64, '0');
const seal = (i: number) => ({ recipient: key(i), sealer: key(0), sealed: 'A'.repeat(107), sig: 'A'.repeat(86) });
const manifest = (epoch: number, members: number) => ({
  v: 1, mesh_id: '0f0e0d0c-0b0a-4908-8706-050403020100', scope: 'topic:design', epoch, prev_epoch_hash: epoch === 1 ? null : 'A'.repeat(43),
  members: Array.from({ length: members }, (_, i) => key(i)), reason: epoch === 1 ? 'create' : 'member_added', created_by: key(0),
  created_at: 1767225600000, key_commitment: 'A'.repeat(43),
});
const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

describe('epoch frames at their limits', () => {
  it('carries a manifest of maxMembers keys with maxSealsPerFrame seals in one frame', () => {
    const frame = { type: 'epoch_publish', req_id: 'e1', manifest: { manifest: manifest(1, EPOCH_LIMITS.maxMembers), sig: 'A'.repeat(86) }, seals: Array.from({ length: EPOCH_LIMITS.maxSealsPerFrame }, (_, i) => seal(i)) };
    expect(bytes(frame)).toBeLessThan(LIMITS.maxFrameBytes);
    expect(decodeClientFrame(JSON.stringify(frame))).toMatchObject({ ok: true });
  });

  it('refuses one member or one seal more with E_SCHEMA', () => {
    const tooMany = { type: 'epoch_publish', req_id: 'e2', manifest: { manifest: manifest(1, EPOCH_LIMITS.maxMembers + 1), sig: 'A'.repeat(86) }, seals: [] };
    expect(decodeClientFrame(JSON.stringify(tooMany))).toMatchObject({ ok: false, code: 'E_SCHEMA' });
    const seals = Array.from({ length: EPOCH_LIMITS.maxSealsPerFrame + 1 }, (_, i) => seal(i));
    expect(decodeClientFrame(JSON.stringify({ type: 'epoch_seal', req_id: 's1', scope: 'mesh', epoch: 1, seals }))).toMatchObject({ ok: false, code: 'E_SCHEMA' });
  });

  it('fits a worst-case epochs page: the manifest byte budget, a seal per epoch and a full missing list', () => {
    const one = manifest(2, EPOCH_LIMITS.maxMembers);
    // A page stays within the budget (one manifest alone may not exceed it at maxMembers); one more for margin.
    const count = Math.floor(EPOCH_LIMITS.maxPageManifestBytes / bytes(one)) + 1;
    const manifests = Array.from({ length: count }, (_, i) => ({ manifest: { ...one, epoch: i + 2 }, sig: 'A'.repeat(86), manifest_hash: 'A'.repeat(43), accepted_at: 1767225600000 }));
    const frame = {
      type: 'epochs', req_id: 'g1', scope: 'topic:design', current_epoch: count + 1, manifests,
      seals: manifests.map((m) => ({ epoch: m.manifest.epoch, ...seal(1) })), missing: one.members, has_more: true,
    };
    expect(bytes(frame)).toBeLessThan(LIMITS.maxFrameBytes);
    expect(decodeServerFrame(JSON.stringify(frame))).toMatchObject({ ok: true });
  });
});
