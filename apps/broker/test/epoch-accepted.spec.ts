import { EpochKeyring, MESH_SCOPE, meshMembersWithKeys, newClientId, publishRotation, topicSendEncrypted, type MeshClient } from '@claudemesh/core';
import { topicScope } from '@claudemesh/crypto';
import { describe, expect, it } from 'vitest';
import { dbKinds } from '../../../test/helpers/db.js';
import { useEpochFixture } from './epoch-fixture.js';
import { recordStatements } from './statement-recorder.js';

/** The reads a send path makes to learn an epoch it does not hold: which epoch is current, its manifest, its message count. */
const EPOCH_READS = /ORDER BY epoch DESC LIMIT 1|SELECT manifest FROM epoch_manifests|count\(\*\)/;
/** The same less the first: the mesh scope reads which epoch is current for every message (a body_version 1 message is refused once one exists). */
const MESH_EPOCH_READS = /SELECT manifest FROM epoch_manifests|count\(\*\)/;

/**
 * An epoch accepted on this node reaches the send paths' caches as it commits
 * (apps/broker/src/epochs/current-epoch.ts epochAccepted): the first message sealed under it is
 * stored without reading the epoch, its manifest or its message count — the round trips that
 * otherwise stood between a rotation and the sends waiting for it.
 */
describe.each(dbKinds())('the first message under an epoch this node accepted, on %s', (kind) => {
  const f = useEpochFixture(kind, 'accepted');

  it('stores a topic post under a new epoch without reading the epoch or counting its posts', async () => {
    const a = await f.connect(f.ann);
    await f.createTopic('primed');
    const ra = f.ring(f.ann);
    const members = (): Promise<string[]> => meshMembersWithKeys(a);
    expect((await topicSendEncrypted(a, ra, 'primed', 'under 1', { members })).key_epoch).toBe(1);
    expect(await publishRotation(a, ra, topicScope('primed'), { members: await members(), reason: 'scheduled' })).toBe(2);
    const statements = recordStatements(f.tb);
    try {
      expect((await topicSendEncrypted(a, ra, 'primed', 'under 2', { members })).key_epoch).toBe(2);
      expect(statements.list.filter((q) => EPOCH_READS.test(q))).toEqual([]);
      // The recorder sees the broker's reads: an epoch_get reads the current epoch.
      await a.getEpochs(topicScope('primed'));
    } finally {
      statements.stop();
    }
    expect(statements.list.some((q) => EPOCH_READS.test(q))).toBe(true);
  });

  it('sends a `*` message under a new mesh epoch without reading the epoch or counting its messages', async () => {
    const o: MeshClient = await f.connect(f.mesh.owner);
    const ro = new EpochKeyring({ me: f.mesh.owner, meshId: f.mesh.meshId, authorities: () => [f.mesh.owner.publicKey] });
    const members = await meshMembersWithKeys(o);
    const send = async (text: string): Promise<void> => {
      const id = newClientId();
      const { epoch, message } = ro.encrypt(MESH_SCOPE, id, text, '*');
      await o.sendFrame({ type: 'send', id, to: '*', body_version: 2, key_epoch: epoch, nonce: message.nonce, ciphertext: message.ciphertext, sig: message.sig });
    };
    expect(await publishRotation(o, ro, MESH_SCOPE, { members, reason: 'create' })).toBe(1);
    await send('under 1');
    expect(await publishRotation(o, ro, MESH_SCOPE, { members, reason: 'scheduled' })).toBe(2);
    const statements = recordStatements(f.tb);
    try {
      await send('under 2');
    } finally {
      statements.stop();
    }
    expect(statements.list.some((q) => q.includes('INSERT INTO messages'))).toBe(true);
    expect(statements.list.filter((q) => MESH_EPOCH_READS.test(q))).toEqual([]);
  });
});
