import { cryptoReady, generateIdentity, sealEpochKey, topicScope, type Identity, type SignedEpochManifest } from '@claudemesh/crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { EpochKeyError, EpochKeyring, type EpochSealOf, type PendingEpoch } from '../src/client/epoch-keyring.js';

await cryptoReady();

const MESH = '6f1f7a52-3c1e-4d7e-9f55-2f0b1c9a7e01';
const SCOPE = topicScope('ops');

/**
 * What the broker would do with epochs, reduced to its ordering rule: epoch N+1 is accepted once,
 * on top of epoch N; seals are stored per recipient. Members' keyrings get only what it hands out.
 */
class Orderer {
  readonly chain: SignedEpochManifest[] = [];
  readonly seals = new Map<string, EpochSealOf[]>();

  publish(p: PendingEpoch): 'ok' | 'conflict' {
    if (p.signed.manifest.epoch !== this.chain.length + 1) return 'conflict';
    this.chain.push(p.signed);
    for (const seal of p.seals) this.addSeal(p.signed.manifest.epoch, seal);
    return 'ok';
  }

  addSeal(epoch: number, seal: EpochSealOf['seal']): void {
    const list = this.seals.get(seal.recipient) ?? [];
    if (!list.some((s) => s.epoch === epoch)) list.push({ epoch, seal });
    this.seals.set(seal.recipient, list);
  }

  /** What epoch_get would answer to `member`. */
  feed(ring: EpochKeyring, member: Identity) {
    return ring.ingest(SCOPE, this.chain, this.seals.get(member.publicKey) ?? []);
  }
}

describe('EpochKeyring', () => {
  let alice: Identity;
  let bob: Identity;
  let carol: Identity;
  let mallory: Identity;
  // A public topic: any mesh member may create its epoch 1; later epochs only members of the one before, or `admins`.
  const ring = (me: Identity, admins: string[] = []) =>
    new EpochKeyring({ me, meshId: MESH, authorities: (_scope, epoch) => (epoch === 1 ? [alice, bob, carol].map((m) => m.publicKey) : admins) });

  beforeAll(() => {
    [alice, bob, carol, mallory] = [generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()];
  });

  /** alice creates epoch 1 of the topic for alice and bob, and it is published. */
  function started() {
    const broker = new Orderer();
    const rings = { alice: ring(alice), bob: ring(bob), carol: ring(carol) };
    const first = rings.alice.rotate(SCOPE, { members: [bob.publicKey], reason: 'create', now: 1_000 });
    expect(broker.publish(first)).toBe('ok');
    rings.alice.accept(SCOPE, first);
    return { broker, rings };
  }

  it('hands a member of the epoch the creator’s key through its seal; a non-member waits for a key', () => {
    const { broker, rings } = started();
    expect(broker.feed(rings.bob, bob)).toEqual({ verified: [1], opened: [1], refused: [] });
    const sent = rings.alice.encrypt(SCOPE, 'msg-00000001', 'deploy at 5');
    expect(sent.epoch).toBe(1);
    expect(rings.bob.decrypt(SCOPE, 1, alice.publicKey, 'msg-00000001', sent.message)).toBe('deploy at 5');
    expect(broker.feed(rings.carol, carol)).toEqual({ verified: [1], opened: [], refused: [] });
    expect(() => rings.carol.decrypt(SCOPE, 1, alice.publicKey, 'msg-00000001', sent.message)).toThrow(EpochKeyError);
    expect(() => rings.carol.decrypt(SCOPE, 1, alice.publicKey, 'msg-00000001', sent.message)).toThrow(/waiting for a key from a member/);
  });

  it('rotates before the next send when a member is removed: the removed member opens nothing new and keeps the old epoch', () => {
    const { broker, rings } = started();
    broker.feed(rings.bob, bob);
    const before = rings.alice.encrypt(SCOPE, 'msg-00000002', 'before');
    expect(rings.alice.rotationDue(SCOPE, { members: [alice.publicKey, bob.publicKey], sentInEpoch: 1, now: 2_000 })).toBeNull();
    // bob is removed, carol joins: both force a new epoch.
    const members = [alice.publicKey, carol.publicKey];
    expect(rings.alice.rotationDue(SCOPE, { members, sentInEpoch: 1, now: 2_000 })).toBe('member_removed');
    const second = rings.alice.rotate(SCOPE, { members, reason: 'member_removed' });
    expect(broker.publish(second)).toBe('ok');
    rings.alice.accept(SCOPE, second);
    const after = rings.alice.encrypt(SCOPE, 'msg-00000003', 'after');
    expect(after.epoch).toBe(2);

    expect(broker.feed(rings.bob, bob)).toEqual({ verified: [2], opened: [], refused: [] });
    expect(() => rings.bob.decrypt(SCOPE, 2, alice.publicKey, 'msg-00000003', after.message)).toThrow(/waiting for a key/);
    // Even a seal meant for someone else, handed to bob, opens nothing for him.
    expect(rings.bob.ingest(SCOPE, [], [{ epoch: 2, seal: second.seals.find((s) => s.recipient === carol.publicKey)! }]).opened).toEqual([]);
    expect(rings.bob.decrypt(SCOPE, 1, alice.publicKey, 'msg-00000002', before.message)).toBe('before');

    expect(broker.feed(rings.carol, carol)).toMatchObject({ verified: [1, 2], opened: [2], refused: [] });
    expect(rings.carol.decrypt(SCOPE, 2, alice.publicKey, 'msg-00000003', after.message)).toBe('after');
  });

  it('lets exactly one of two concurrent rotations become the next epoch; the other rebuilds on top of it', () => {
    const { broker, rings } = started();
    broker.feed(rings.bob, bob);
    const byAlice = rings.alice.rotate(SCOPE, { members: [alice.publicKey, bob.publicKey], reason: 'scheduled' });
    const byBob = rings.bob.rotate(SCOPE, { members: [alice.publicKey, bob.publicKey], reason: 'scheduled' });
    expect(byAlice.signed.manifest.epoch).toBe(2);
    expect(byBob.signed.manifest.epoch).toBe(2);
    expect(broker.publish(byAlice)).toBe('ok');
    expect(broker.publish(byBob)).toBe('conflict');
    rings.alice.accept(SCOPE, byAlice);
    // bob learns the winner; his own epoch 2 is now a fork and is refused.
    expect(broker.feed(rings.bob, bob)).toMatchObject({ verified: [2], opened: [2], refused: [] });
    expect(() => rings.bob.accept(SCOPE, byBob)).toThrow(/no longer follows the chain/);
    const retry = rings.bob.rotate(SCOPE, { members: [alice.publicKey, bob.publicKey], reason: 'scheduled' });
    expect(retry.signed.manifest.epoch).toBe(3);
    expect(broker.publish(retry)).toBe('ok');
    rings.bob.accept(SCOPE, retry);
    const msg = rings.bob.encrypt(SCOPE, 'msg-00000004', 'on epoch 3');
    expect(broker.feed(rings.alice, alice)).toMatchObject({ verified: [3], opened: [3] });
    expect(rings.alice.decrypt(SCOPE, 3, bob.publicKey, 'msg-00000004', msg.message)).toBe('on epoch 3');
  });

  it('refuses a different manifest for an epoch it already verified (a fork the broker presents) and keeps its chain', () => {
    const { rings, broker } = started();
    broker.feed(rings.bob, bob);
    const other = ring(alice).rotate(SCOPE, { members: [bob.publicKey], reason: 'create' });
    const result = rings.bob.ingest(SCOPE, [other.signed], [{ epoch: 1, seal: other.seals.find((s) => s.recipient === bob.publicKey)! }]);
    expect(result.refused).toEqual([{ epoch: 1, code: 'E_EPOCH_FORK', message: 'epoch 1 differs from the manifest already verified' }]);
    expect(rings.bob.currentManifest(SCOPE)).toEqual(broker.chain[0]!.manifest);
    const msg = rings.alice.encrypt(SCOPE, 'msg-00000005', 'still epoch 1');
    expect(rings.bob.decrypt(SCOPE, 1, alice.publicKey, 'msg-00000005', msg.message)).toBe('still epoch 1');
  });

  it('refuses a rotation by a non-member unless it is an authority, and stops the chain there', () => {
    const { broker, rings } = started();
    const malloryRing = ring(mallory);
    malloryRing.ingest(SCOPE, broker.chain);
    const forged = malloryRing.rotate(SCOPE, { members: [alice.publicKey, bob.publicKey, mallory.publicKey], reason: 'manual' });
    const result = rings.bob.ingest(SCOPE, [...broker.chain, forged.signed], [{ epoch: 2, seal: forged.seals.find((s) => s.recipient === bob.publicKey)! }]);
    expect(result.verified).toEqual([1]);
    expect(result.refused).toMatchObject([{ epoch: 2, code: 'E_MANIFEST_UNAUTHORIZED' }]);
    expect(rings.bob.currentEpoch(SCOPE)).toBe(1);
    // The same manifest from a key the member counts as an authority (an admin) is accepted.
    const withAdmin = ring(bob, [mallory.publicKey]);
    expect(withAdmin.ingest(SCOPE, [...broker.chain, forged.signed], [{ epoch: 2, seal: forged.seals.find((s) => s.recipient === bob.publicKey)! }])).toMatchObject({ verified: [1, 2], opened: [2], refused: [] });
  });

  it('refuses a seal forged by someone outside the epoch, and one of another mesh’s or scope’s chain', () => {
    const { broker, rings } = started();
    const forgedSeal = sealEpochKey(ring(mallory).rotate(SCOPE, { members: [bob.publicKey], reason: 'create' }).context, bob.publicKey, mallory);
    const result = rings.bob.ingest(SCOPE, broker.chain, [{ epoch: 1, seal: forgedSeal }]);
    expect(result).toMatchObject({ verified: [1], opened: [], refused: [{ epoch: 1, code: 'E_SEAL_UNAUTHORIZED' }] });
    expect(rings.bob.context(SCOPE, 1)).toBeNull();
    expect(ring(bob).ingest(topicScope('other'), broker.chain).refused).toMatchObject([{ epoch: 1, code: 'E_MANIFEST_CHAIN' }]);
    expect(new EpochKeyring({ me: bob, meshId: 'another-mesh', authorities: () => [alice.publicKey] }).ingest(SCOPE, broker.chain).refused).toMatchObject([{ epoch: 1, code: 'E_MANIFEST_CHAIN' }]);
    expect(ring(bob).ingest(SCOPE, [{ manifest: null } as unknown as SignedEpochManifest]).refused).toMatchObject([{ epoch: null, code: 'E_MANIFEST_INVALID' }]);
  });

  it('re-seals a held epoch for a member of it whose seal is missing; nobody outside the epoch gets one', () => {
    const broker = new Orderer();
    const a = ring(alice);
    const epoch = a.rotate(SCOPE, { members: [bob.publicKey, carol.publicKey], reason: 'create' });
    // carol's seal is lost on the way.
    expect(broker.publish({ ...epoch, seals: epoch.seals.filter((s) => s.recipient !== carol.publicKey) })).toBe('ok');
    a.accept(SCOPE, epoch);
    const b = ring(bob);
    const c = ring(carol);
    broker.feed(b, bob);
    expect(broker.feed(c, carol).opened).toEqual([]);
    const resealed = b.resealFor(SCOPE, 1, [carol.publicKey, mallory.publicKey]);
    expect(resealed.map((s) => [s.recipient, s.sealer])).toEqual([[carol.publicKey, bob.publicKey]]);
    for (const seal of resealed) broker.addSeal(1, seal);
    expect(broker.feed(c, carol).opened).toEqual([1]);
    const msg = a.encrypt(SCOPE, 'msg-00000006', 'hello carol');
    expect(c.decrypt(SCOPE, 1, alice.publicKey, 'msg-00000006', msg.message)).toBe('hello carol');
    expect(() => ring(mallory).resealFor(SCOPE, 1, [mallory.publicKey])).toThrow(/waiting for a key/);
  });

  it('schedules a rotation after the policy’s message count or age', () => {
    const { rings } = started();
    const members = [alice.publicKey, bob.publicKey];
    const policy = { everyMessages: 3, everyMs: 10_000 };
    expect(ring(carol).rotationDue(SCOPE, { members, sentInEpoch: 0 })).toBe('create');
    expect(rings.alice.rotationDue(SCOPE, { members, sentInEpoch: 2, now: 5_000, policy })).toBeNull();
    expect(rings.alice.rotationDue(SCOPE, { members, sentInEpoch: 3, now: 5_000, policy })).toBe('scheduled');
    expect(rings.alice.rotationDue(SCOPE, { members, sentInEpoch: 0, now: 11_000, policy })).toBe('scheduled');
    expect(rings.alice.rotationDue(SCOPE, { members: [...members, carol.publicKey], sentInEpoch: 0, now: 5_000, policy })).toBe('member_added');
  });

  it('snapshots and restores verified chains and keys; a stored key that does not match its manifest is refused', () => {
    const { broker, rings } = started();
    broker.feed(rings.bob, bob);
    const msg = rings.alice.encrypt(SCOPE, 'msg-00000007', 'kept');
    const snapshot = JSON.parse(JSON.stringify(rings.bob.snapshot())) as ReturnType<EpochKeyring['snapshot']>;
    const restored = ring(bob);
    expect(restored.restore(snapshot)).toEqual([{ verified: [1], opened: [], refused: [] }]);
    expect(restored.decrypt(SCOPE, 1, alice.publicKey, 'msg-00000007', msg.message)).toBe('kept');

    const tampered = structuredClone(snapshot);
    tampered.scopes[SCOPE]!.keys['1'] = 'A'.repeat(43);
    const refusedRing = ring(bob);
    expect(refusedRing.restore(tampered)[0]!.refused).toMatchObject([{ epoch: 1, code: 'E_KEY_INVALID' }]);
    expect(refusedRing.context(SCOPE, 1)).toBeNull();
  });

  it('hands a store only what changed since its mark: new manifests as a suffix, new keys, nothing when nothing changed', () => {
    const { broker, rings } = started();
    broker.feed(rings.bob, bob);
    const mark = new Map() as Parameters<EpochKeyring['changesSince']>[0];
    const first = rings.bob.changesSince(mark)!;
    expect(first.scopes[SCOPE]!.chain.map((m) => m.manifest.epoch)).toEqual([1]);
    expect(Object.keys(first.scopes[SCOPE]!.keys)).toEqual(['1']);
    expect(rings.bob.changesSince(mark)).toBeNull();
    // Epoch 2 without bob: its manifest is new, no key for it.
    const second = rings.alice.rotate(SCOPE, { members: [alice.publicKey], reason: 'member_removed' });
    expect(broker.publish(second)).toBe('ok');
    rings.alice.accept(SCOPE, second);
    broker.feed(rings.bob, bob);
    const next = rings.bob.changesSince(mark)!;
    expect(next.scopes[SCOPE]!.chain.map((m) => m.manifest.epoch)).toEqual([2]);
    expect(next.scopes[SCOPE]!.keys).toEqual({});
    // alice's store: epoch 2's manifest and key, not epoch 1's again.
    const aliceMark = new Map() as Parameters<EpochKeyring['changesSince']>[0];
    rings.alice.changesSince(aliceMark);
    const third = rings.alice.rotate(SCOPE, { members: [alice.publicKey, bob.publicKey], reason: 'member_added' });
    expect(broker.publish(third)).toBe('ok');
    rings.alice.accept(SCOPE, third);
    const aliceNext = rings.alice.changesSince(aliceMark)!;
    expect(aliceNext.scopes[SCOPE]!.chain.map((m) => m.manifest.epoch)).toEqual([3]);
    expect(Object.keys(aliceNext.scopes[SCOPE]!.keys)).toEqual(['3']);
    // The pieces, put together in order, restore what the whole snapshot restores.
    broker.feed(rings.bob, bob);
    const last = rings.bob.changesSince(mark)!;
    expect(last.scopes[SCOPE]!.chain.map((m) => m.manifest.epoch)).toEqual([3]);
    expect(Object.keys(last.scopes[SCOPE]!.keys)).toEqual(['3']);
    const joined = { v: 1 as const, scopes: { [SCOPE]: { chain: [first, next, last].flatMap((p) => p.scopes[SCOPE]!.chain), keys: Object.assign({}, ...[first, next, last].map((p) => p.scopes[SCOPE]!.keys)) as Record<string, string> } } };
    expect(joined).toEqual(JSON.parse(JSON.stringify(rings.bob.snapshot())));
  });

  it('seals under a proposed next epoch until it is accepted or withdrawn; the proposal never opens messages and is not kept', () => {
    const { broker, rings } = started();
    rings.bob.ingest(SCOPE, broker.chain, broker.seals.get(bob.publicKey) ?? []);
    const next = rings.alice.rotate(SCOPE, { members: [bob.publicKey], reason: 'scheduled', now: 2_000 });
    rings.alice.propose(SCOPE, next);
    expect([rings.alice.currentEpoch(SCOPE), rings.alice.proposedEpoch(SCOPE), rings.alice.sendingEpoch(SCOPE)]).toEqual([1, 2, 2]);
    const sealed = rings.alice.encrypt(SCOPE, 'msg-proposed', 'under 2');
    expect(sealed.epoch).toBe(2);
    expect(rings.alice.context(SCOPE, 2)).toBeNull();
    expect(rings.alice.snapshot().scopes[SCOPE]!.chain).toHaveLength(1);
    expect(Object.keys(rings.alice.snapshot().scopes[SCOPE]!.keys)).toEqual(['1']);
    // Withdrawn (its publish refused): back to epoch 1.
    rings.alice.withdraw(SCOPE, next);
    expect([rings.alice.proposedEpoch(SCOPE), rings.alice.encrypt(SCOPE, 'msg-back-1', 'under 1').epoch]).toEqual([null, 1]);
    // Proposed again and accepted: the epoch is verified like any other, and bob opens what was sealed under it.
    rings.alice.propose(SCOPE, next);
    expect(broker.publish(next)).toBe('ok');
    rings.alice.accept(SCOPE, next);
    expect([rings.alice.currentEpoch(SCOPE), rings.alice.proposedEpoch(SCOPE)]).toEqual([2, null]);
    broker.feed(rings.bob, bob);
    expect(rings.bob.decrypt(SCOPE, 2, alice.publicKey, 'msg-proposed', sealed.message)).toBe('under 2');
    // A proposal that is not the next epoch is ignored; one overtaken by another member's epoch is no longer used.
    const stale = rings.alice.rotate(SCOPE, { members: [bob.publicKey], reason: 'scheduled', now: 3_000 });
    const bobs = rings.bob.rotate(SCOPE, { members: [alice.publicKey], reason: 'scheduled', now: 3_000 });
    rings.alice.propose(SCOPE, stale);
    expect(broker.publish(bobs)).toBe('ok');
    broker.feed(rings.alice, alice);
    expect([rings.alice.currentEpoch(SCOPE), rings.alice.proposedEpoch(SCOPE), rings.alice.encrypt(SCOPE, 'msg-third', 'x').epoch]).toEqual([3, null, 3]);
    rings.alice.propose(SCOPE, stale);
    expect(rings.alice.proposedEpoch(SCOPE)).toBeNull();
  });

  it('refuses to encrypt before any epoch or without the current key', () => {
    expect(() => ring(alice).encrypt(SCOPE, 'msg-00000008', 'x')).toThrow(expect.objectContaining({ code: 'E_NO_EPOCH' }));
    const { broker } = started();
    const c = ring(carol);
    broker.feed(c, carol);
    expect(() => c.encrypt(SCOPE, 'msg-00000009', 'x')).toThrow(expect.objectContaining({ code: 'E_NO_KEY' }));
  });
});
