import { createHash, createPublicKey, hkdfSync, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromB64u, fromHex, toB64u, toHex, utf8Decode } from './encoding.js';
import { deriveEpochMessageKey, epochContext, epochKeyCommitment } from './epoch-key.js';
import { manifestHash, signManifest, topicScope, verifyManifest, verifyManifestChain } from './epoch-manifest.js';
import { decryptEpochMessage, decryptEpochMessageText, encryptEpochMessage, encryptEpochMessageWithNonce, verifyEpochMessageSignature } from './epoch-message.js';
import { firstEpoch, newEpochWithKey, nextEpoch, nextFields, type NewEpoch } from './epoch-rotation.js';
import { openEpochSeal, sealEpochKey } from './epoch-seal.js';
import type { EpochContext, EpochManifest, EpochMessage, EpochSeal, SignedEpochManifest } from './epoch-types.js';
import { generateIdentity, identityFromSeed, type Identity } from './identity.js';
import { sign } from './signing.js';
import { epochManifestString, epochMessageString, epochSealString } from './signed-strings.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface ManifestVector {
  name: string;
  previous: string | null;
  authorities: string[];
  epoch_key_hex: string;
  key_commitment: string;
  message_key_hex: string;
  signed_string: string;
  hash: string;
  signed: SignedEpochManifest;
}
interface EpochVectors {
  identities: Record<string, { seed_hex: string; public_key: string }>;
  mesh_id: string;
  manifests: ManifestVector[];
  manifest_negative: { description: string; signed: SignedEpochManifest; previous: string | null; authorities: string[]; error: string }[];
  seals: { manifest: string; authorities: string[]; sealer: string; recipient: string; signed_string: string; seal: EpochSeal }[];
  seal_negative: { description: string; manifest: string; seal: EpochSeal; opener: string; authorities: string[]; error: string }[];
  messages: { context: string; sender: string; message_id: string; plaintext_utf8: string; associated_data: string; message: EpochMessage }[];
  message_negative: { description: string; context: string; sender: string; message_id: string; message: EpochMessage; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/epochs.json', import.meta.url), 'utf8')) as EpochVectors;

await cryptoReady();

const people = Object.fromEntries(Object.entries(vectors.identities).map(([name, v]) => [name, identityFromSeed(fromHex(v.seed_hex))])) as Record<string, Identity>;
const person = (name: string): Identity => people[name]!;
const manifestVector = (name: string): ManifestVector => vectors.manifests.find((m) => m.name === name)!;
const manifestOf = (name: string | null): EpochManifest | null => (name === null ? null : manifestVector(name).signed.manifest);
const contextOf = (name: string): EpochContext => epochContext(manifestVector(name).signed.manifest, fromHex(manifestVector(name).epoch_key_hex));
/** The member key a vector names: an identity's name, or a literal key. */
const keyOf = (name: string): string => people[name]?.publicKey ?? name;

// An independent reading of the spec: SHA-256, HKDF and ed25519 from node:crypto, JSON by hand.
const nodeHkdf = (key: Uint8Array, info: string): Buffer => Buffer.from(hkdfSync('sha256', key, new Uint8Array(0), info, 32));
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const nodeVerifies = (data: Uint8Array, sigB64u: string, publicKeyHex: string): boolean =>
  nodeVerify(null, data, createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' }), Buffer.from(sigB64u, 'base64url'));
const sortedJson = (value: unknown): string =>
  Array.isArray(value) ? `[${value.map(sortedJson).join(',')}]`
    : value !== null && typeof value === 'object' ? `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${sortedJson((value as Record<string, unknown>)[k])}`).join(',')}}`
      : JSON.stringify(value);

describe('epochs.json: manifests', () => {
  it('names identities whose keys match their seeds', () => {
    for (const [name, v] of Object.entries(vectors.identities)) expect(person(name).publicKey).toBe(v.public_key);
  });

  it.each(vectors.manifests.map((m) => [m.name, m] as const))('%s: is rebuilt byte for byte from its fields, key and creator', (_, v) => {
    const m = v.signed.manifest;
    const creator = Object.values(people).find((p) => p.publicKey === m.created_by)!;
    const fields = v.previous === null
      ? { mesh_id: m.mesh_id, scope: m.scope, epoch: 1, prev_epoch_hash: null, members: [...m.members].reverse(), reason: m.reason, created_at: m.created_at }
      : nextFields(manifestOf(v.previous)!, { members: [...m.members].reverse(), reason: m.reason, now: m.created_at });
    expect(newEpochWithKey(fields, creator, fromHex(v.epoch_key_hex)).signed).toEqual(v.signed);
    expect(signManifest(m, creator)).toEqual(v.signed);
  });

  it.each(vectors.manifests.map((m) => [m.name, m] as const))('%s: signed string, hash and key derivations match an independent computation', (_, v) => {
    const key = fromHex(v.epoch_key_hex);
    expect(epochManifestString(v.signed.manifest)).toBe(v.signed_string);
    expect(v.signed_string).toBe(`claudemesh/v1/key-epoch\n${sortedJson(v.signed.manifest)}`);
    expect(nodeVerifies(Buffer.from(v.signed_string, 'utf8'), v.signed.sig, v.signed.manifest.created_by)).toBe(true);
    expect(manifestHash(v.signed.manifest)).toBe(v.hash);
    expect(createHash('sha256').update(`claudemesh/v1/key-epoch-hash\n${sortedJson(v.signed.manifest)}`).digest('base64url')).toBe(v.hash);
    expect(epochKeyCommitment(key)).toBe(v.key_commitment);
    expect(nodeHkdf(key, 'claudemesh/v1/key-epoch-commitment').toString('base64url')).toBe(v.key_commitment);
    expect(v.signed.manifest.key_commitment).toBe(v.key_commitment);
    expect(toHex(deriveEpochMessageKey(key))).toBe(v.message_key_hex);
    expect(nodeHkdf(key, 'claudemesh/v1/key-epoch-message-key').toString('hex')).toBe(v.message_key_hex);
  });

  it.each(vectors.manifests.map((m) => [m.name, m] as const))('%s: verifies against its previous manifest and authorities', (_, v) => {
    expect(verifyManifest(v.signed, { previous: manifestOf(v.previous), authorities: v.authorities })).toEqual({ ok: true, manifest: v.signed.manifest, hash: v.hash });
    if (v.previous !== null) expect(v.signed.manifest.prev_epoch_hash).toBe(manifestVector(v.previous).hash);
  });

  it('chains epoch 1 → 2 → 3 of the topic with the admin as authority', () => {
    const chain = ['design_1', 'design_2', 'design_3'].map((n) => manifestVector(n).signed);
    const admin = person('dave').publicKey;
    expect(verifyManifestChain(chain, { authorities: [person('alice').publicKey, admin] })).toMatchObject({ ok: true, hash: manifestVector('design_3').hash });
    expect(verifyManifestChain(chain, { authorities: [person('alice').publicKey] })).toMatchObject({ ok: false, code: 'E_MANIFEST_UNAUTHORIZED' });
    expect(verifyManifestChain([chain[0]!, chain[2]!], { authorities: [person('alice').publicKey, admin] })).toMatchObject({ ok: false, code: 'E_MANIFEST_CHAIN' });
    expect(verifyManifestChain([], {})).toMatchObject({ ok: false, code: 'E_MANIFEST_CHAIN' });
  });

  it.each(vectors.manifest_negative.map((n) => [n.description, n] as const))('refuses %s', (_, n) => {
    expect(verifyManifest(n.signed, { previous: manifestOf(n.previous), authorities: n.authorities })).toMatchObject({ ok: false, code: n.error });
  });
});

describe('epochs.json: seals', () => {
  it.each(vectors.seals.map((s) => [`${s.manifest}, ${s.sealer} → ${s.recipient}`, s] as const))('%s: signed string and signature reproduce, and the seal opens to the epoch key', (_, v) => {
    const context = contextOf(v.manifest);
    const { recipient, sealer, sealed } = v.seal;
    expect(recipient).toBe(person(v.recipient).publicKey);
    expect(sealer).toBe(person(v.sealer).publicKey);
    const m = context.manifest;
    expect(epochSealString({ meshId: m.mesh_id, scope: m.scope, epoch: m.epoch, manifestHash: context.manifestHash, recipient, sealer, sealed })).toBe(v.signed_string);
    expect(sign(v.signed_string, person(v.sealer).secretKey)).toBe(v.seal.sig);
    expect(nodeVerifies(Buffer.from(v.signed_string, 'utf8'), v.seal.sig, sealer)).toBe(true);
    expect(fromB64u(sealed)).toHaveLength(80);
    const opened = openEpochSeal(v.seal, { manifest: m, recipient: person(v.recipient), authorities: v.authorities });
    expect(toHex(opened.epochKey)).toBe(manifestVector(v.manifest).epoch_key_hex);
    expect(opened.manifestHash).toBe(manifestVector(v.manifest).hash);
  });

  it.each(vectors.seal_negative.map((n) => [n.description, n] as const))('refuses %s', (_, n) => {
    const opts = { manifest: manifestVector(n.manifest).signed.manifest, recipient: person(n.opener), authorities: n.authorities };
    expect(codeOf(() => openEpochSeal(n.seal, opts))).toBe(n.error);
  });
});

describe('epochs.json: messages', () => {
  it.each(vectors.messages.map((m) => [`${m.context} from ${m.sender}`, m] as const))('%s: reproduces the ciphertext and signature, which an independent verifier accepts', (_, v) => {
    const context = contextOf(v.context);
    const sender = person(v.sender);
    const m = context.manifest;
    expect(epochMessageString({ meshId: m.mesh_id, scope: m.scope, epoch: m.epoch, manifestHash: context.manifestHash, sender: sender.publicKey, messageId: v.message_id })).toBe(v.associated_data);
    const nonce = fromB64u(v.message.nonce);
    expect(encryptEpochMessageWithNonce({ context, sender, messageId: v.message_id, plaintext: v.plaintext_utf8 }, nonce)).toEqual(v.message);
    const signed = Buffer.concat([Buffer.from(v.associated_data, 'utf8'), Buffer.from([0x0a]), nonce, fromB64u(v.message.ciphertext)]);
    expect(nodeVerifies(signed, v.message.sig, sender.publicKey)).toBe(true);
    expect(decryptEpochMessageText(v.message, { context, sender: sender.publicKey, messageId: v.message_id })).toBe(v.plaintext_utf8);
  });

  it.each(vectors.message_negative.map((n) => [n.description, n] as const))('refuses %s', (_, n) => {
    const opts = { context: contextOf(n.context), sender: keyOf(n.sender), messageId: n.message_id };
    expect(codeOf(() => decryptEpochMessage(n.message, opts))).toBe(n.error);
  });
});

describe('key epochs', () => {
  const members = Array.from({ length: 6 }, () => generateIdentity());
  const keys = members.map((m) => m.publicKey);
  const meshId = 'mesh-under-test';

  it('build the same manifest whatever the order of members or duplicates among them', () => {
    const key = new Uint8Array(32).fill(7);
    const build = (list: string[]): SignedEpochManifest =>
      newEpochWithKey({ mesh_id: meshId, scope: 'mesh', epoch: 1, prev_epoch_hash: null, members: list, reason: 'create', created_at: 1 }, members[0]!, key).signed;
    fc.assert(
      fc.property(fc.shuffledSubarray(keys, { minLength: keys.length }), fc.subarray(keys), (order, extra) => {
        expect(build([...order, ...extra])).toEqual(build(keys));
      }),
      { numRuns: 25 },
    );
  });

  it('verify any chain of rotations from epoch 1, and refuse it with a link left out or two links swapped', () => {
    const [owner] = members;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.subarray(keys.slice(1), { minLength: 1 }), fc.constantFrom('member_left', 'member_removed', 'scheduled', 'manual')), { minLength: 2, maxLength: 5 }), (steps) => {
        let epoch: NewEpoch = firstEpoch({ meshId, scope: topicScope('ops'), members: keys, creator: owner!, now: 1 });
        const chain = [epoch.signed];
        for (const [subset, reason] of steps) {
          // The creator of the next epoch is a member of this one (and so of the next, as it holds the key).
          const current = epoch.signed.manifest.members;
          const creatorKey = current.find((k) => subset.includes(k)) ?? current[0]!;
          const creator = members.find((m) => m.publicKey === creatorKey)!;
          epoch = nextEpoch(epoch.signed.manifest, { members: [...subset, creator.publicKey], reason, creator, now: 2 });
          chain.push(epoch.signed);
        }
        const authorities = [owner!.publicKey];
        expect(verifyManifestChain(chain, { authorities })).toMatchObject({ ok: true, manifest: { epoch: chain.length } });
        expect(verifyManifestChain([chain[0]!, ...chain.slice(2)], { authorities })).toMatchObject({ ok: false, code: 'E_MANIFEST_CHAIN' });
        expect(verifyManifestChain([chain[0]!, chain[2]!, chain[1]!, ...chain.slice(3)], { authorities })).toMatchObject({ ok: false, code: 'E_MANIFEST_CHAIN' });
      }),
      { numRuns: 15 },
    );
  });

  it('take a kept hash in place of hashing again, and fail when the kept hash is not the manifest\'s', () => {
    const first = firstEpoch({ meshId, scope: 'mesh', members: keys.slice(0, 3), creator: members[0]! });
    const second = nextEpoch(first.signed.manifest, { members: keys.slice(0, 3), reason: 'scheduled', creator: members[1]! });
    const firstHash = manifestHash(first.signed.manifest);
    const check = verifyManifest(second.signed, { previous: first.signed.manifest, previousHash: firstHash });
    expect(check).toMatchObject({ ok: true, hash: manifestHash(second.signed.manifest) });
    const otherHash = manifestHash(firstEpoch({ meshId, scope: 'mesh', members: keys.slice(0, 3), creator: members[0]! }).signed.manifest);
    expect(verifyManifest(second.signed, { previous: first.signed.manifest, previousHash: otherHash })).toMatchObject({ ok: false, code: 'E_MANIFEST_CHAIN' });
    const seal = sealEpochKey(second.context, keys[2]!, members[1]!);
    const hash = manifestHash(second.signed.manifest);
    expect(openEpochSeal(seal, { manifest: second.signed.manifest, manifestHash: hash, recipient: members[2]! }).epochKey).toEqual(second.context.epochKey);
    expect(codeOf(() => openEpochSeal(seal, { manifest: second.signed.manifest, manifestHash: firstHash, recipient: members[2]! }))).toBe('E_BAD_SIGNATURE');
  });

  it('give every member of an epoch, and nobody else, the same fresh key through its seal', () => {
    const first = firstEpoch({ meshId, scope: 'mesh', members: keys.slice(0, 4), creator: members[0]! });
    const second = nextEpoch(first.signed.manifest, { members: keys.slice(0, 3), reason: 'member_left', creator: members[1]! });
    expect(toHex(second.context.epochKey)).not.toBe(toHex(first.context.epochKey));
    for (const member of members.slice(0, 3)) {
      const seal = sealEpochKey(second.context, member.publicKey, members[1]!);
      expect(openEpochSeal(seal, { manifest: second.signed.manifest, recipient: member }).epochKey).toEqual(second.context.epochKey);
    }
    expect(codeOf(() => sealEpochKey(second.context, keys[3]!, members[1]!))).toBe('E_SEAL_UNAUTHORIZED');
    const toLeaver = sealEpochKey(first.context, keys[3]!, members[0]!);
    expect(codeOf(() => openEpochSeal(toLeaver, { manifest: second.signed.manifest, recipient: members[3]! }))).toBe('E_SEAL_UNAUTHORIZED');
  });

  it('round-trip any message for any member and id, and only under its own labels', () => {
    const { context } = firstEpoch({ meshId, scope: topicScope('general'), members: keys, creator: members[0]! });
    const id = fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 5 }), id, id, (plaintext, who, messageId, otherId) => {
        const sender = members[who]!;
        const message = encryptEpochMessage({ context, sender, messageId, plaintext });
        expect(fromB64u(message.ciphertext)).toHaveLength(plaintext.length + 16);
        expect(decryptEpochMessage(message, { context, sender: sender.publicKey, messageId })).toEqual(plaintext);
        if (otherId !== messageId) expect(codeOf(() => decryptEpochMessage(message, { context, sender: sender.publicKey, messageId: otherId }))).toBe('E_BAD_SIGNATURE');
        const other = members[(who + 1) % members.length]!;
        expect(codeOf(() => decryptEpochMessage(message, { context, sender: other.publicKey, messageId }))).toBe('E_BAD_SIGNATURE');
      }),
      { numRuns: 30 },
    );
  });

  it('verify the sender\'s signature from public fields alone, as a broker does, and only under the labels it was made for', () => {
    const { context } = firstEpoch({ meshId, scope: topicScope('ops'), members: keys, creator: members[0]! });
    const m = context.manifest;
    const fields = { meshId: m.mesh_id, scope: m.scope, epoch: m.epoch, manifestHash: context.manifestHash, sender: members[1]!.publicKey, messageId: 'public-fields-1' };
    const message = encryptEpochMessage({ context, sender: members[1]!, messageId: fields.messageId, plaintext: 'hidden' });
    expect(verifyEpochMessageSignature(message, fields)).toBe(true);
    for (const relabel of [{ scope: topicScope('other') }, { epoch: 2 }, { sender: members[2]!.publicKey }, { messageId: 'public-fields-2' }, { manifestHash: 'A'.repeat(43) }]) {
      expect(verifyEpochMessageSignature(message, { ...fields, ...relabel }), JSON.stringify(relabel)).toBe(false);
    }
    const flipped = fromB64u(message.ciphertext);
    flipped[0] = flipped[0]! ^ 1;
    expect(verifyEpochMessageSignature({ ...message, ciphertext: toB64u(flipped) }, fields)).toBe(false);
    for (const bad of [{ nonce: 'A' }, { ciphertext: '' }, { sig: 'x' }]) expect(verifyEpochMessageSignature({ ...message, ...bad }, fields)).toBe(false);
    expect(verifyEpochMessageSignature(message, { ...fields, sender: 'not-a-key' })).toBe(false);
  });

  it('use a fresh nonce per message', () => {
    const { context } = firstEpoch({ meshId, scope: 'mesh', members: keys, creator: members[0]! });
    const send = (): EpochMessage => encryptEpochMessage({ context, sender: members[0]!, messageId: 'same-id-1', plaintext: 'same' });
    expect(send().nonce).not.toBe(send().nonce);
  });

  it('keep an old epoch readable by its holders after a rotation', () => {
    const first = firstEpoch({ meshId, scope: topicScope('history'), members: keys, creator: members[0]! });
    const old = encryptEpochMessage({ context: first.context, sender: members[2]!, messageId: 'before-rotation', plaintext: 'kept' });
    const second = nextEpoch(first.signed.manifest, { members: keys.slice(0, 2), reason: 'member_removed', creator: members[0]! });
    expect(decryptEpochMessageText(old, { context: first.context, sender: keys[2]!, messageId: 'before-rotation' })).toBe('kept');
    expect(codeOf(() => decryptEpochMessage(old, { context: second.context, sender: keys[2]!, messageId: 'before-rotation' }))).toBe('E_SENDER_UNAUTHORIZED');
  });

  it('refuse to write as a key outside the epoch, to sign as another creator, or to pair a manifest with another key', () => {
    const { signed, context } = firstEpoch({ meshId, scope: 'mesh', members: keys.slice(0, 2), creator: members[0]! });
    expect(codeOf(() => encryptEpochMessage({ context, sender: members[4]!, messageId: 'outsider-1', plaintext: 'x' }))).toBe('E_SENDER_UNAUTHORIZED');
    expect(codeOf(() => signManifest(signed.manifest, members[1]!))).toBe('E_MANIFEST_INVALID');
    expect(codeOf(() => epochContext(signed.manifest, new Uint8Array(32)))).toBe('E_KEY_INVALID');
    expect(codeOf(() => firstEpoch({ meshId, scope: 'mesh', members: keys.slice(1, 3), creator: members[0]! }))).toBe('E_MANIFEST_INVALID');
    expect(codeOf(() => firstEpoch({ meshId, scope: 'topic:Not-A-Name', members: keys, creator: members[0]! }))).toBe('E_MANIFEST_INVALID');
  });

  it('never throw while verifying arbitrary input as a manifest', () => {
    const previous = manifestVector('design_1').signed.manifest;
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (manifest, sig) => {
        const result = verifyManifest({ manifest, sig } as SignedEpochManifest, { previous });
        expect(result.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
    expect(verifyManifest(null as unknown as SignedEpochManifest, { previous: null })).toMatchObject({ ok: false, code: 'E_MANIFEST_INVALID' });
  });

  it('decode message text fatally', () => {
    const { context } = firstEpoch({ meshId, scope: 'mesh', members: keys, creator: members[0]! });
    const message = encryptEpochMessage({ context, sender: members[0]!, messageId: 'bad-utf8-1', plaintext: Uint8Array.of(0xff) });
    expect(codeOf(() => decryptEpochMessageText(message, { context, sender: keys[0]!, messageId: 'bad-utf8-1' }))).toBe('E_DECRYPT');
    expect(utf8Decode(decryptEpochMessage(encryptEpochMessage({ context, sender: members[0]!, messageId: 'good-utf8-1', plaintext: 'é' }), { context, sender: keys[0]!, messageId: 'good-utf8-1' }))).toBe('é');
  });
});
