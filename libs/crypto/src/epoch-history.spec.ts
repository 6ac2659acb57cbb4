import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './encoding.js';
import { openHistorySeal, sealHistoryKey, type VerifiedEpoch } from './epoch-history.js';
import { epochContext } from './epoch-key.js';
import { firstEpoch, nextEpoch } from './epoch-rotation.js';
import { sealEpochKey } from './epoch-seal.js';
import type { EpochHistorySeal, SignedEpochManifest } from './epoch-types.js';
import { generateIdentity, identityFromSeed } from './identity.js';
import { epochHistorySealString } from './signed-strings.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface Epochs {
  identities: Record<string, { seed_hex: string }>;
  mesh_id: string;
  manifests: { name: string; hash: string; epoch_key_hex: string; signed: SignedEpochManifest }[];
}
interface HistoryVectors {
  cases: { shared: string; via: string; sealer: string; recipient: string; authorities: string[]; signed_string: string; seal: EpochHistorySeal }[];
  negative: { description: string; shared: string; via: string; seal: EpochHistorySeal; opener: string; authorities: string[]; error: string }[];
}
const epochs = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/epochs.json', import.meta.url), 'utf8')) as Epochs;
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/epoch-history.json', import.meta.url), 'utf8')) as HistoryVectors;

await cryptoReady();

const who = (name: string) => identityFromSeed(fromHex(epochs.identities[name]!.seed_hex));
const named = (name: string) => epochs.manifests.find((m) => m.name === name)!;
const verified = (name: string): VerifiedEpoch => ({ manifest: named(name).signed.manifest, manifestHash: named(name).hash });

describe('epoch-history.json', () => {
  it.each(vectors.cases.map((v) => [`${v.sealer} shares ${v.shared} with ${v.recipient} under ${v.via}`, v] as const))('%s: the signed string is exact and the key opens', (_, v) => {
    const shared = verified(v.shared);
    const via = verified(v.via);
    expect(epochHistorySealString({
      meshId: epochs.mesh_id, scope: shared.manifest.scope, epoch: shared.manifest.epoch, manifestHash: shared.manifestHash,
      viaEpoch: via.manifest.epoch, viaManifestHash: via.manifestHash, recipient: v.seal.recipient, sealer: v.seal.sealer, sealed: v.seal.sealed,
    })).toBe(v.signed_string);
    const opened = openHistorySeal(v.seal, { shared, via, recipient: who(v.recipient), authorities: v.authorities });
    expect(toHex(opened.epochKey)).toBe(named(v.shared).epoch_key_hex);
  });

  it.each(vectors.negative.map((v) => [v.description, v] as const))('refuses %s', (_, v) => {
    expect(codeOf(() => openHistorySeal(v.seal, { shared: verified(v.shared), via: verified(v.via), recipient: who(v.opener), authorities: v.authorities }))).toBe(v.error);
  });
});

describe('shared history', () => {
  const [ann, ben, cid, dee] = [generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()];
  const e1 = firstEpoch({ meshId: 'm', scope: 'topic:ops', members: [ann.publicKey, ben.publicKey, cid.publicKey], creator: ann });
  const e2 = nextEpoch(e1.signed.manifest, { members: [ann.publicKey, ben.publicKey, cid.publicKey, dee.publicKey], reason: 'member_added', creator: ben });
  const via: VerifiedEpoch = { manifest: e2.context.manifest, manifestHash: e2.context.manifestHash };
  const shared: VerifiedEpoch = { manifest: e1.context.manifest, manifestHash: e1.context.manifestHash };

  it('gives a joiner listed in the grant the earlier key, from any member listed in it, and nobody else', () => {
    for (const sealer of [ann, ben, cid]) {
      const seal = sealHistoryKey(e1.context, via, dee.publicKey, sealer);
      expect(openHistorySeal(seal, { shared, via, recipient: dee }).epochKey).toEqual(e1.context.epochKey);
      expect(codeOf(() => openHistorySeal(seal, { shared, via, recipient: ann }))).toBe('E_SEAL_MISMATCH');
    }
    expect(codeOf(() => sealHistoryKey(e1.context, via, generateIdentity().publicKey, ann))).toBe('E_SEAL_UNAUTHORIZED');
    expect(codeOf(() => sealHistoryKey(e1.context, via, dee.publicKey, generateIdentity()))).toBe('E_SEAL_UNAUTHORIZED');
    // Shared "under" the same or an earlier epoch is not a share.
    expect(codeOf(() => sealHistoryKey(e2.context, via, dee.publicKey, ann))).toBe('E_SEAL_UNAUTHORIZED');
  });

  it('is not an ordinary seal, nor an ordinary seal a history seal', () => {
    const ordinary = sealEpochKey(e2.context, dee.publicKey, ann);
    expect(codeOf(() => openHistorySeal({ ...ordinary, via_epoch: 2 }, { shared, via, recipient: dee }))).toBe('E_BAD_SIGNATURE');
    const history = sealHistoryKey(e1.context, via, dee.publicKey, ann);
    // The same box under epoch 1 with the grant's hash in place of its own: the signature binds both.
    expect(codeOf(() => openHistorySeal(history, { shared: { ...shared, manifestHash: via.manifestHash }, via, recipient: dee }))).toBe('E_BAD_SIGNATURE');
    expect(epochContext(e1.signed.manifest, openHistorySeal(history, { shared, via, recipient: dee }).epochKey).manifestHash).toBe(shared.manifestHash);
  });
});
