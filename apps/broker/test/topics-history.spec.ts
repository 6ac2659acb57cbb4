import {
  EpochKeyring, WAITING_FOR_KEY, meshMembersWithKeys, openTopicMessages, publishRotation, shareHistory, syncEpochs, topicSendEncrypted, type MeshClient,
} from '@claudemesh/core';
import { topicScope, type Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';

/**
 * Shared history (docs/topics.md "Joiners and history", docs/crypto.md "Shared history"): in an e2e
 * topic created with history `shared`, the member whose post rotates the key for a joiner also seals
 * it the earlier epochs, so it reads what was said before it joined; in a `since_join` topic it reads
 * from its join on. Real broker, real keyrings.
 */
describe.each(dbKinds())('shared topic history on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  const open: MeshClient[] = [];
  let topicCount = 0;

  const keyring = (me: Identity): EpochKeyring => new EpochKeyring({ me, meshId: mesh.meshId, authorities: (_s, epoch) => (epoch === 1 ? [alice.publicKey, bob.publicKey] : []) });
  const member = async (who: Identity) => {
    const client = await connectClient(tb, mesh, who);
    open.push(client);
    return { client, ring: keyring(who), members: () => meshMembersWithKeys(client) };
  };
  const newTopic = async (history: 'since_join' | 'shared'): Promise<string> => {
    const name = `history-${++topicCount}`;
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    const info = await tb.broker.app.get(TopicsService).create({ state, member: state.byPubkey.get(alice.publicKey)!, topics: null }, { name, visibility: 'public', description: '', encryption: 'e2e', history });
    expect(info.history).toBe(history);
    return name;
  };
  const historySeals = (topic: string, recipient: string) => tb.broker.app.get(DataSource)
    .query(`SELECT epoch, via_epoch, sealer FROM epoch_seals WHERE mesh_id = $1 AND scope = $2 AND recipient = $3 AND via_epoch IS NOT NULL ORDER BY epoch`, [mesh.meshId, topicScope(topic), recipient])
    .then((r: Array<{ epoch: number; via_epoch: number; sealer: string }>) => r.map((x) => ({ epoch: Number(x.epoch), via: Number(x.via_epoch), sealer: x.sealer })));

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'history');
    [alice, bob] = [await addMember(tb, mesh, 'alice'), await addMember(tb, mesh, 'bob')];
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => tb?.close());

  it('a member who joins later reads what was said before it in a shared topic, and only from its join in a since-join one', async () => {
    const [shared, since] = [await newTopic('shared'), await newTopic('since_join')];
    const a = await member(alice);
    const b = await member(bob);
    for (const topic of [shared, since]) {
      await topicSendEncrypted(a.client, a.ring, topic, 'before: from alice', { members: a.members });
      await topicSendEncrypted(b.client, b.ring, topic, 'before: from bob', { members: b.members });
    }
    const dave = await addMember(tb, mesh, 'dave');
    // Alice's next post is refused until an epoch lists dave; her SDK makes it, and in the shared
    // topic seals dave the earlier epoch under it.
    for (const topic of [shared, since]) {
      const after = await topicSendEncrypted(a.client, a.ring, topic, 'after dave joined', { members: a.members });
      expect(after.key_epoch).toBe(2);
    }
    expect(await historySeals(shared, dave.publicKey)).toEqual([{ epoch: 1, via: 2, sealer: alice.publicKey }]);
    expect(await historySeals(since, dave.publicKey)).toEqual([]);

    const d = await member(dave);
    const read = async (topic: string) => (await openTopicMessages(d.client, d.ring, (await d.client.topicHistory(topic)).messages)).map((m) => m.text ?? `(${m.reason})`);
    expect(await read(shared)).toEqual(['before: from alice', 'before: from bob', 'after dave joined']);
    expect(await read(since)).toEqual([`(${WAITING_FOR_KEY})`, `(${WAITING_FOR_KEY})`, 'after dave joined']);
  });

  it('a joiner that synced before the history was shared finds it at its next read', async () => {
    const topic = await newTopic('shared');
    const a = await member(alice);
    await topicSendEncrypted(a.client, a.ring, topic, 'said before erin', { members: a.members });
    const erin = await addMember(tb, mesh, 'erin');
    // A rotation that lists erin without sharing (as an older client makes it), then erin syncs.
    await publishRotation(a.client, a.ring, topicScope(topic), { members: await a.members(), reason: 'member_added' });
    const e = await member(erin);
    await syncEpochs(e.client, e.ring, topicScope(topic));
    expect(e.ring.context(topicScope(topic), 1)).toBeNull();
    expect(await shareHistory(a.client, a.ring, topicScope(topic), 2, [erin.publicKey])).toBe(1);
    const page = await openTopicMessages(e.client, e.ring, (await e.client.topicHistory(topic)).messages);
    expect(page.map((m) => m.text)).toEqual(['said before erin']);
  });

  it('refuses history seals in a since-join topic, by another sealer, to a member the earlier epoch lists, or forged; the recipient refuses what does not verify', async () => {
    const [shared, since] = [await newTopic('shared'), await newTopic('since_join')];
    const a = await member(alice);
    for (const topic of [shared, since]) await topicSendEncrypted(a.client, a.ring, topic, 'epoch 1', { members: a.members });
    const fred = await addMember(tb, mesh, 'fred');
    for (const topic of [shared, since]) await publishRotation(a.client, a.ring, topicScope(topic), { members: await a.members(), reason: 'member_added' });

    await expect(shareHistory(a.client, a.ring, topicScope(since), 2, [fred.publicKey])).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    const seal = a.ring.historyFor(topicScope(shared), 2, [fred.publicKey])[0]!.seals[0];
    await expect(a.client.addSeals(topicScope(shared), 1, [{ ...seal!, sig: seal!.sig.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }])).rejects.toMatchObject({ code: 'E_EPOCH_INVALID' });
    await expect(a.client.addSeals(topicScope(shared), 1, [{ ...seal!, sealer: bob.publicKey }])).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(a.client.addSeals(topicScope(shared), 1, [{ ...seal!, recipient: bob.publicKey }])).rejects.toMatchObject({ code: 'E_EPOCH_INVALID' });
    await expect(a.client.addSeals(topicScope(shared), 1, [{ ...seal!, via_epoch: 1 }])).rejects.toMatchObject({ code: 'E_EPOCH_INVALID' });
    await expect(a.client.addSeals(topicScope(shared), 1, [{ ...seal!, via_epoch: 9 }])).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(await historySeals(shared, fred.publicKey)).toEqual([]);

    // Stored as sent, and fred's keyring opens it; the same box presented as a share of another
    // epoch does not verify at fred (whatever a broker hands over).
    await a.client.addSeals(topicScope(shared), 1, [seal!]);
    const f = await member(fred);
    await syncEpochs(f.client, f.ring, topicScope(shared));
    expect(f.ring.context(topicScope(shared), 1)?.manifest.epoch).toBe(1);
    const other = keyring(fred);
    const page = await f.client.getEpochs(topicScope(shared), 0);
    const result = other.ingest(topicScope(shared), page.manifests.map((m) => ({ manifest: m.manifest, sig: m.sig })), [{ epoch: 1, seal: { ...seal!, via_epoch: 2, sig: seal!.sig.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) } }]);
    expect(result.refused.map((r) => r.code)).toEqual(['E_BAD_SIGNATURE']);
    expect(other.context(topicScope(shared), 1)).toBeNull();
  });
});
