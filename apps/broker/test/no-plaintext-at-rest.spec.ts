import { EpochKeyring, MESH_SCOPE, meshMembersWithKeys, openTopicMessages, topicSendEncrypted, type InboundMessage, type TopicMessage } from '@claudemesh/core';
import { firstEpoch, openEpochSeal, sealEpochKey, topicScope, toB64u, type EpochManifest } from '@claudemesh/crypto';
import { describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { dumpDatabase } from '../../../test/helpers/db-dump.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';


describe.each(dbKinds())('no plaintext at rest on %s', (kind) => {
  it('stores DMs, group and broadcast messages, and shared state, so that a full dump contains none of the plaintexts', async () => {
    const tb = await startTestBroker(kind);
    const mesh = await createTestMesh(tb, 'control-mesh-name-7c1e');
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    const b = await connectClient(tb, mesh, bob);
    await b.joinGroup('secret-club');
    const inbox: InboundMessage[] = [];
    b.on('message', (m) => inbox.push(m));

    const secrets = Array.from({ length: 20 }, (_, i) => `PLAINTEXT-CANARY-${i}-the launch code is ${1000 + i}`);
    for (const [i, secret] of secrets.entries()) {
      await a.send(i % 3 === 0 ? 'bob' : i % 3 === 1 ? '@secret-club' : '*', secret);
    }
    // Offline recipient too: these stay queued in the database.
    const carol = await addMember(tb, mesh, 'carol');
    await a.send(carol.publicKey, 'PLAINTEXT-CANARY-offline-carol');
    await waitFor(() => inbox.length === secrets.length, 'every message delivered');
    expect(inbox.map((m) => m.text)).toEqual(secrets);
    // Shared state (protocol §6.4): sealed by the writer, read back by a peer.
    await a.stateSet('plan/secret', 'PLAINTEXT-CANARY-state-value', 1);
    expect((await b.stateGet({ owner: alice.publicKey, key: 'plan/secret' }))[0]!.text).toBe('PLAINTEXT-CANARY-state-value');
    await a.close();
    await b.close();
    await tb.broker.close(); // flushes the embedded data dir to disk

    const dump = dumpDatabase(tb);
    // Control: the dump is readable for strings the broker does store in clear.
    expect(dump.includes(Buffer.from('control-mesh-name-7c1e'))).toBe(true);
    for (const secret of [...secrets, 'PLAINTEXT-CANARY-offline-carol', 'PLAINTEXT-CANARY-state-value']) {
      expect(dump.includes(Buffer.from(secret)), secret).toBe(false);
      expect(dump.includes(Buffer.from(Buffer.from(secret).toString('hex'))), `${secret} as hex`).toBe(false);
    }
    expect(dump.includes(Buffer.from('PLAINTEXT-CANARY'))).toBe(false);
    await tb.close();
  });

  it('stores e2e topic messages sealed: a full dump holds none of their texts, and a plaintext topic\'s text as the control', async () => {
    const tb = await startTestBroker(kind);
    const mesh = await createTestMesh(tb, 'control-e2e-topics-9d3f');
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    const topics = tb.broker.app.get(TopicsService);
    const as = (who: typeof alice) => ({ state, member: state.byPubkey.get(who.publicKey)!, topics: null });
    await topics.create(as(alice), { name: 'sealed', visibility: 'public', description: '', encryption: 'e2e' });
    await topics.join(as(bob), 'sealed');
    const a = await connectClient(tb, mesh, alice);
    const b = await connectClient(tb, mesh, bob);
    const got: TopicMessage[] = [];
    b.on('topic', (m) => got.push(m));
    const authorities = (_scope: string, epoch: number) => (epoch === 1 ? [alice.publicKey, bob.publicKey] : []);
    const [ringA, ringB] = [new EpochKeyring({ me: alice, meshId: mesh.meshId, authorities }), new EpochKeyring({ me: bob, meshId: mesh.meshId, authorities })];

    const secrets = Array.from({ length: 10 }, (_, i) => `PLAINTEXT-CANARY-topic-${i} quorvexine ${2000 + i}`);
    for (const secret of secrets) await topicSendEncrypted(a, ringA, 'sealed', secret, { members: () => meshMembersWithKeys(a), mentions: [bob.publicKey] });
    await waitFor(() => got.length === secrets.length, 'every topic message pushed');
    expect((await openTopicMessages(b, ringB, got)).map((m) => m.text)).toEqual(secrets);
    await a.topicSend('general', 'CONTROL-CANARY-plaintext-topic-5e1a');
    await a.close();
    await b.close();
    await tb.broker.close();

    const dump = dumpDatabase(tb);
    // Control: a plaintext topic's text is stored in clear, and this dump would show it.
    expect(dump.includes(Buffer.from('CONTROL-CANARY-plaintext-topic-5e1a'))).toBe(true);
    for (const secret of secrets) {
      expect(dump.includes(Buffer.from(secret)), secret).toBe(false);
      expect(dump.includes(Buffer.from(Buffer.from(secret).toString('hex'))), `${secret} as hex`).toBe(false);
    }
    expect(dump.includes(Buffer.from('PLAINTEXT-CANARY'))).toBe(false);
    // Nor any word of them on its own (a search vector would hold it).
    expect(dump.includes(Buffer.from('quorvexine'))).toBe(false);
    await tb.close();
  });

  it('stores @group and * messages under mesh epochs sealed (body_version 2): a full dump holds none of their texts nor the epoch keys', async () => {
    const tb = await startTestBroker(kind);
    const mesh = await createTestMesh(tb, 'control-mesh-epochs-2a6c');
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const authorities = (scope: string) => (scope === MESH_SCOPE ? [mesh.owner.publicKey] : []);
    const ring = (me: typeof alice) => new EpochKeyring({ me, meshId: mesh.meshId, authorities });
    const [ringOwner, ringA, ringB] = [ring(mesh.owner), ring(alice), ring(bob)];
    const owner = await connectClient(tb, mesh, mesh.owner, { keyring: ringOwner });
    const a = await connectClient(tb, mesh, alice, { keyring: ringA });
    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, { keyring: ringB }, inbox);
    await b.joinGroup('secret-club');

    // The owner's first broadcast creates mesh epoch 1; alice then writes under it too.
    await owner.send('*', 'PLAINTEXT-CANARY-mesh-epoch-first zyphorant 3000');
    const secrets = Array.from({ length: 10 }, (_, i) => `PLAINTEXT-CANARY-mesh-epoch-${i} zyphorant ${3001 + i}`);
    for (const [i, secret] of secrets.entries()) await a.send(i % 2 === 0 ? '@secret-club' : '*', secret);
    await waitFor(() => inbox.length === secrets.length + 1, 'every message delivered');
    expect(inbox.every((m) => m.keyEpoch === 1)).toBe(true);
    expect(inbox.map((m) => m.text)).toEqual(['PLAINTEXT-CANARY-mesh-epoch-first zyphorant 3000', ...secrets]);
    const context = ringB.context(MESH_SCOPE, 1)!;
    for (const c of [owner, a, b]) await c.close();
    await tb.broker.close();

    const dump = dumpDatabase(tb);
    expect(dump.includes(Buffer.from('control-mesh-epochs-2a6c'))).toBe(true);
    for (const secret of secrets) {
      expect(dump.includes(Buffer.from(secret)), secret).toBe(false);
      expect(dump.includes(Buffer.from(Buffer.from(secret).toString('hex'))), `${secret} as hex`).toBe(false);
    }
    expect(dump.includes(Buffer.from('PLAINTEXT-CANARY'))).toBe(false);
    expect(dump.includes(Buffer.from('zyphorant'))).toBe(false);
    for (const secret of [context.epochKey, context.messageKey]) {
      expect(dump.includes(Buffer.from(secret))).toBe(false);
      expect(dump.includes(Buffer.from(toB64u(secret)))).toBe(false);
      expect(dump.includes(Buffer.from(Buffer.from(secret).toString('hex')))).toBe(false);
    }
    await tb.close();
  });

  it('stores key epochs as manifests and sealed boxes only: a full dump contains no epoch key, in any spelling', async () => {
    const tb = await startTestBroker(kind);
    const mesh = await createTestMesh(tb, 'control-epochs-mesh-4b2d');
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const carol = await addMember(tb, mesh, 'carol');
    const a = await connectClient(tb, mesh, alice);
    const b = await connectClient(tb, mesh, bob);
    const members = [alice.publicKey, bob.publicKey, carol.publicKey];
    const topicEpoch = firstEpoch({ meshId: mesh.meshId, scope: topicScope('general'), members, creator: alice });
    await a.publishEpoch(topicEpoch.signed, [sealEpochKey(topicEpoch.context, alice.publicKey, alice), sealEpochKey(topicEpoch.context, bob.publicKey, alice)]);
    // Bob opens his seal and re-seals for carol, the other path a key takes to the broker.
    const page = await b.getEpochs('topic:general');
    const { epoch: _epoch, ...seal } = page.seals[0]!;
    const held = openEpochSeal(seal, { manifest: page.manifests[0]!.manifest as EpochManifest, recipient: bob });
    await b.addSeals('topic:general', 1, [sealEpochKey(held, carol.publicKey, bob)]);
    const owner = await connectClient(tb, mesh, mesh.owner);
    const meshEpoch = firstEpoch({ meshId: mesh.meshId, scope: 'mesh', members: [mesh.owner.publicKey, alice.publicKey], creator: mesh.owner });
    await owner.publishEpoch(meshEpoch.signed, [sealEpochKey(meshEpoch.context, alice.publicKey, mesh.owner)]);
    for (const c of [a, b, owner]) await c.close();
    await tb.broker.close();

    const dump = dumpDatabase(tb);
    // Control: what the broker keeps in clear is there (a manifest's commitment and a seal's box).
    expect(dump.includes(Buffer.from(topicEpoch.signed.manifest.key_commitment))).toBe(true);
    expect(dump.includes(Buffer.from(seal.sealed))).toBe(true);
    for (const { context } of [topicEpoch, meshEpoch]) {
      for (const secret of [context.epochKey, context.messageKey]) {
        const bytes = Buffer.from(secret);
        expect(dump.includes(bytes)).toBe(false);
        expect(dump.includes(Buffer.from(bytes.toString('hex')))).toBe(false);
        expect(dump.includes(Buffer.from(toB64u(secret)))).toBe(false);
        expect(dump.includes(Buffer.from(bytes.toString('base64')))).toBe(false);
      }
    }
    await tb.close();
  });
});
