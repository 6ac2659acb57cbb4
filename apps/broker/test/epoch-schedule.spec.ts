import { EpochKeyring, meshMembersWithKeys, openTopicMessage, syncEpochs, topicSendEncrypted, type MeshClient } from '@claudemesh/core';
import { topicScope, type Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';

/**
 * Scheduled rotation (docs/protocol.md §5.6): after CLAUDEMESH_EPOCH_ROTATE_MESSAGES messages under
 * one epoch, the next sealed post is refused with E_EPOCH_STALE and rotate.reason `scheduled`; the
 * SDK rotates and posts. The age bound is the same check, tested on its pure function
 * (apps/broker/src/epochs/epoch-use.spec.ts) so that no test waits on the clock.
 */
describe.each(dbKinds())('scheduled key rotation on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let ann: Identity;
  let ben: Identity;
  const clients: MeshClient[] = [];

  beforeAll(async () => {
    tb = await startTestBroker(kind, { CLAUDEMESH_EPOCH_ROTATE_MESSAGES: '3' });
    mesh = await createTestMesh(tb, 'scheduled');
    [ann, ben] = [await addMember(tb, mesh, 'ann'), await addMember(tb, mesh, 'ben')];
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await tb?.close();
  });

  it('rotates every 3 messages: the fourth post of an epoch makes the next one, a retry of a stored post stays a duplicate', async () => {
    const ring = (me: Identity) => new EpochKeyring({ me, meshId: mesh.meshId, authorities: (_s, epoch) => (epoch === 1 ? [ann.publicKey] : []) });
    const [a, b] = [await connectClient(tb, mesh, ann), await connectClient(tb, mesh, ben)];
    clients.push(a, b);
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    await tb.broker.app.get(TopicsService).create({ state, member: state.byPubkey.get(ann.publicKey)!, topics: null }, { name: 'ticking', visibility: 'public', description: '', encryption: 'e2e' });
    const [ra, rb] = [ring(ann), ring(ben)];
    const epochs: number[] = [];
    for (let i = 1; i <= 7; i++) {
      const [client, r] = i % 2 ? [a, ra] : [b, rb];
      epochs.push((await topicSendEncrypted(client, r, 'ticking', `tick ${i}`, { members: () => meshMembersWithKeys(client) })).key_epoch!);
    }
    expect(epochs).toEqual([1, 1, 1, 2, 2, 2, 3]);
    expect(ra.currentManifest(topicScope('ticking'))?.reason ?? rb.currentManifest(topicScope('ticking'))?.reason).toBe('scheduled');

    // Everything stays readable to both, across the epochs.
    const page = await b.topicHistory('ticking');
    await syncEpochs(b, rb, topicScope('ticking'));
    expect(page.messages.map((m) => openTopicMessage(rb, m).text)).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => `tick ${i}`));

    // The first post of epoch 3, sent again under its id after epoch 3 is full: the stored one, not a refusal.
    const first3 = page.messages[6]!;
    for (let i = 8; i <= 9; i++) await topicSendEncrypted(a, ra, 'ticking', `tick ${i}`, { members: () => meshMembersWithKeys(a) });
    const again = await a.topicSendSealed('ticking', first3.client_id, { key_epoch: 3, nonce: first3.nonce!, ciphertext: first3.ciphertext!, sig: first3.sig!, mentions: [] }).catch((e: unknown) => e);
    expect(again).toMatchObject({ id: first3.id, key_epoch: 3 });

    // Epoch 3 is full: five posts in flight at once are refused together and share one rotation
    // rather than each making its own (which stacked epochs 4, 5, 6, … one per refusal). The count
    // is checked before each commit, so posts in flight together may all land in epoch 4.
    const burst = await Promise.all([1, 2, 3, 4, 5].map((i) => topicSendEncrypted(a, ra, 'ticking', `burst ${i}`, { members: () => meshMembersWithKeys(a) })));
    expect(burst.every((m) => m.key_epoch === 4 || m.key_epoch === 5)).toBe(true);
    expect(burst[0]!.key_epoch).toBe(4);
    expect(ra.currentEpoch(topicScope('ticking'))).toBeLessThanOrEqual(5);
  });
});
