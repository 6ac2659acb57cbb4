import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromB64u, fromHex, toHex } from './encoding.js';
import { deriveEpochMessageKey, epochContext } from './epoch-key.js';
import { manifestHash, verifyManifestChain } from './epoch-manifest.js';
import { decryptEpochMessage, decryptEpochMessageText, encryptEpochMessageWithNonce, verifyEpochMessageSignature } from './epoch-message.js';
import { newEpochWithKey, nextFields } from './epoch-rotation.js';
import type { EpochContext, EpochMessage, SignedEpochManifest } from './epoch-types.js';
import { identityFromSeed, type Identity } from './identity.js';
import { epochManifestString, epochMessageString } from './signed-strings.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

/** docs/test-vectors/mesh-messages.json: `@group` and `*` under the mesh scope's epochs (docs/crypto.md). */
interface MeshVectors {
  mesh_id: string;
  manifests: (
    | { name: string; from: string }
    | { name: string; previous: string; authorities: string[]; epoch_key_hex: string; message_key_hex: string; signed_string: string; hash: string; signed: SignedEpochManifest }
  )[];
  messages: { context: string; sender: string; message_id: string; target: string; plaintext_utf8: string; associated_data: string; message: EpochMessage }[];
  message_negative: { description: string; context: string; sender: string; message_id: string; target: string | null; message: EpochMessage; error: string }[];
}
interface EpochsVectors {
  identities: Record<string, { seed_hex: string }>;
  manifests: { name: string; epoch_key_hex: string; signed: SignedEpochManifest }[];
}

const read = <T>(file: string): T => JSON.parse(readFileSync(new URL(`../../../docs/test-vectors/${file}`, import.meta.url), 'utf8')) as T;
const vectors = read<MeshVectors>('mesh-messages.json');
const epochs = read<EpochsVectors>('epochs.json');

await cryptoReady();

const people = Object.fromEntries(Object.entries(epochs.identities).map(([name, v]) => [name, identityFromSeed(fromHex(v.seed_hex))])) as Record<string, Identity>;
const mesh1 = epochs.manifests.find((m) => m.name === 'mesh_1')!;
const own = vectors.manifests.filter((m): m is Extract<MeshVectors['manifests'][number], { signed: unknown }> => 'signed' in m);
const mesh2 = own.find((m) => m.name === 'mesh_2')!;
const contexts: Record<string, EpochContext> = {
  mesh_1: epochContext(mesh1.signed.manifest, fromHex(mesh1.epoch_key_hex)),
  mesh_2: epochContext(mesh2.signed.manifest, fromHex(mesh2.epoch_key_hex)),
};

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const nodeVerifies = (data: Uint8Array, sigB64u: string, publicKeyHex: string): boolean =>
  nodeVerify(null, data, createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' }), Buffer.from(sigB64u, 'base64url'));

describe('mesh-messages.json: manifests', () => {
  it('takes mesh_1 from epochs.json and reproduces mesh_2 on top of it, a chain alice may extend as a member of epoch 1', () => {
    expect(vectors.manifests.find((m) => m.name === 'mesh_1')).toEqual({ name: 'mesh_1', from: 'epochs.json' });
    expect(vectors.mesh_id).toBe(mesh1.signed.manifest.mesh_id);
    const m = mesh2.signed.manifest;
    const fields = nextFields(mesh1.signed.manifest, { members: [...m.members].reverse(), reason: m.reason, now: m.created_at });
    expect(newEpochWithKey(fields, people.alice!, fromHex(mesh2.epoch_key_hex)).signed).toEqual(mesh2.signed);
    expect(epochManifestString(m)).toBe(mesh2.signed_string);
    expect(manifestHash(m)).toBe(mesh2.hash);
    expect(toHex(deriveEpochMessageKey(fromHex(mesh2.epoch_key_hex)))).toBe(mesh2.message_key_hex);
    expect(m.members).not.toContain(people.carol!.publicKey);
    expect(verifyManifestChain([mesh1.signed, mesh2.signed], { authorities: mesh2.authorities })).toMatchObject({ ok: true });
  });
});

describe('mesh-messages.json: messages', () => {
  it.each(vectors.messages.map((m) => [`${m.sender} to ${m.target} in ${m.context}`, m] as const))('%s: reproduces the associated data, ciphertext and signature, which an independent verifier accepts', (_, v) => {
    const context = contexts[v.context]!;
    const sender = people[v.sender]!;
    const m = context.manifest;
    const fields = { meshId: m.mesh_id, scope: m.scope, epoch: m.epoch, manifestHash: context.manifestHash, sender: sender.publicKey, messageId: v.message_id, target: v.target };
    expect(epochMessageString(fields)).toBe(v.associated_data);
    expect(v.associated_data.split('\n')).toHaveLength(8);
    expect(v.associated_data.endsWith(`\n${v.target}`)).toBe(true);
    const nonce = fromB64u(v.message.nonce);
    expect(encryptEpochMessageWithNonce({ context, sender, messageId: v.message_id, target: v.target, plaintext: v.plaintext_utf8 }, nonce)).toEqual(v.message);
    const signed = Buffer.concat([Buffer.from(v.associated_data, 'utf8'), Buffer.from([0x0a]), nonce, fromB64u(v.message.ciphertext)]);
    expect(nodeVerifies(signed, v.message.sig, sender.publicKey)).toBe(true);
    expect(verifyEpochMessageSignature(v.message, fields)).toBe(true);
    expect(decryptEpochMessageText(v.message, { context, sender: sender.publicKey, messageId: v.message_id, target: v.target })).toBe(v.plaintext_utf8);
  });

  it.each(vectors.message_negative.map((n) => [n.description, n] as const))('refuses %s', (_, n) => {
    const context = contexts[n.context]!;
    const sender = people[n.sender]!.publicKey;
    const target = n.target === null ? {} : { target: n.target };
    expect(codeOf(() => decryptEpochMessage(n.message, { context, sender, messageId: n.message_id, ...target }))).toBe(n.error);
    // What the broker checks before storing refuses the same re-labelling, without throwing.
    const m = context.manifest;
    expect(verifyEpochMessageSignature(n.message, { meshId: m.mesh_id, scope: m.scope, epoch: m.epoch, manifestHash: context.manifestHash, sender, messageId: n.message_id, ...target })).toBe(false);
  });

  it('refuses a target on a topic scope, and a mesh-scope target the protocol cannot address', () => {
    const fields = { meshId: vectors.mesh_id, scope: 'topic:design', epoch: 1, manifestHash: mesh2.hash, sender: people.alice!.publicKey, messageId: '01JG7Z8Y6X5W4V3T2S1R0Q9P8N' };
    expect(codeOf(() => epochMessageString({ ...fields, target: '*' }))).toBe('E_FIELD_INVALID');
    for (const target of ['', '@', '@a\nb', 'alice', '**', `@${'a'.repeat(65)}`]) {
      expect(codeOf(() => epochMessageString({ ...fields, scope: 'mesh', target })), target).toBe('E_FIELD_INVALID');
    }
  });
});
