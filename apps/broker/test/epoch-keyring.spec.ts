import { EpochKeyring, ingestPage, publishRotation, revokeMember, syncEpochs, type MeshClient } from '@claudemesh/core';
import { topicScope, type Identity } from '@claudemesh/crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';

/**
 * Member clients' keyrings against a real broker: what one member rotates, the others verify and
 * open through epoch_get; racing rotations end as consecutive epochs; a revoked member's keyring
 * gets nothing after its removal.
 */
describe.each(dbKinds())('keyrings over a real broker on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<'alice' | 'bob' | 'carol', Identity>;
  const open: MeshClient[] = [];
  let topicCount = 0;

  /** Any mesh member may create epoch 1 of a public topic; later epochs only members of the one before. */
  const keyring = (me: Identity) =>
    new EpochKeyring({ me, meshId: mesh.meshId, authorities: (_scope, epoch) => (epoch === 1 ? Object.values(ids).map((i) => i.publicKey) : []) });
  const member = async (who: Identity) => {
    const client = await connectClient(tb, mesh, who);
    open.push(client);
    return { client, ring: keyring(who) };
  };
  const newTopic = async (): Promise<string> => {
    const name = `keyring-${++topicCount}`;
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    await tb.broker.app.get(TopicsService).create({ state, member: state.byPubkey.get(mesh.owner.publicKey)!, topics: null }, { name, visibility: 'public', description: '', encryption: 'plaintext' });
    return topicScope(name);
  };

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'keyrings');
    for (const n of ['alice', 'bob', 'carol'] as const) ids[n] = await addMember(tb, mesh, n);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => tb?.close());

  it('hands a rotation to every listed member, who verify the chain and read what was written under it', async () => {
    const scope = await newTopic();
    const [alice, bob, carol] = [await member(ids.alice), await member(ids.bob), await member(ids.carol)];
    expect(await publishRotation(alice.client, alice.ring, scope, { members: [ids.bob.publicKey], reason: 'create' })).toBe(1);
    const sent = alice.ring.encrypt(scope, 'kr-msg-0001', 'the plan');

    expect(await syncEpochs(bob.client, bob.ring, scope)).toMatchObject({ verified: [1], opened: [1], refused: [], missing: [] });
    expect(bob.ring.decrypt(scope, 1, ids.alice.publicKey, 'kr-msg-0001', sent.message)).toBe('the plan');
    // carol reads the topic but is not listed: she verifies the chain and holds no key.
    expect(await syncEpochs(carol.client, carol.ring, scope)).toMatchObject({ verified: [1], opened: [], refused: [] });
    expect(() => carol.ring.decrypt(scope, 1, ids.alice.publicKey, 'kr-msg-0001', sent.message)).toThrow(/waiting for a key from a member/);
  });

  it('ends two racing rotations as consecutive epochs; both members hold both keys', async () => {
    const scope = await newTopic();
    const [alice, bob] = [await member(ids.alice), await member(ids.bob)];
    const both = [ids.alice.publicKey, ids.bob.publicKey];
    await publishRotation(alice.client, alice.ring, scope, { members: both, reason: 'create' });
    await syncEpochs(bob.client, bob.ring, scope);
    const epochs = await Promise.all([
      publishRotation(alice.client, alice.ring, scope, { members: both, reason: 'scheduled' }),
      publishRotation(bob.client, bob.ring, scope, { members: both, reason: 'scheduled' }),
    ]);
    expect(epochs.sort()).toEqual([2, 3]);
    for (const m of [alice, bob]) {
      await syncEpochs(m.client, m.ring, scope);
      expect(m.ring.currentEpoch(scope)).toBe(3);
      expect([1, 2, 3].map((e) => m.ring.context(scope, e) !== null)).toEqual([true, true, true]);
    }
    const fromBob = bob.ring.encrypt(scope, 'kr-msg-0002', 'on the newest epoch');
    expect(fromBob.epoch).toBe(3);
    expect(alice.ring.decrypt(scope, 3, ids.bob.publicKey, 'kr-msg-0002', fromBob.message)).toBe('on the newest epoch');
  });

  it('rotates a revoked member out: its keyring keeps the old epoch and gets nothing of the new one', async () => {
    const scope = await newTopic();
    const [alice, carol] = [await member(ids.alice), await member(ids.carol)];
    await publishRotation(alice.client, alice.ring, scope, { members: [ids.carol.publicKey], reason: 'create' });
    await syncEpochs(carol.client, carol.ring, scope);
    const old = alice.ring.encrypt(scope, 'kr-msg-0003', 'before the removal');

    await revokeMember(tb.url, mesh.owner, mesh.meshId, ids.carol.publicKey);
    const remaining = [ids.alice.publicKey];
    expect(alice.ring.rotationDue(scope, { members: remaining, sentInEpoch: 1 })).toBe('member_removed');
    expect(await publishRotation(alice.client, alice.ring, scope, { members: remaining, reason: 'member_removed' })).toBe(2);
    const after = alice.ring.encrypt(scope, 'kr-msg-0004', 'after the removal');
    expect(after.epoch).toBe(2);

    // The revoked member's open client is told so instead of waiting for a session that never comes,
    await expect(syncEpochs(carol.client, carol.ring, scope)).rejects.toMatchObject({ code: 'E_REVOKED' });
    // the broker refuses it a new session; and even given everything the broker holds of
    // the new epoch (the page a listed member gets), its keyring verifies the chain and opens nothing.
    await expect(connectClient(tb, mesh, ids.carol, { reconnect: false })).rejects.toThrow(/revoked/i);
    const leaked = await alice.client.getEpochs(scope);
    expect(ingestPage(carol.ring, { ...leaked, seals: [] })).toEqual({ verified: [2], opened: [], refused: [] });
    expect(carol.ring.context(scope, 2)).toBeNull();
    expect(carol.ring.decrypt(scope, 1, ids.alice.publicKey, 'kr-msg-0003', old.message)).toBe('before the removal');
    expect(() => carol.ring.decrypt(scope, 2, ids.alice.publicKey, 'kr-msg-0004', after.message)).toThrow(/waiting for a key/);
  });
});
