import {
  EpochKeyring, MESH_SCOPE, revokeMember, syncEpochs, type InboundMessage, type MeshClient, type MeshClientEvents,
} from '@claudemesh/core';
import { secretboxDecrypt, secretboxEncrypt, type Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

type DecryptError = MeshClientEvents['decrypt_error'][0];

/**
 * `@group` and `*` under the mesh scope's key epochs (docs/protocol.md §5.2 `send`, body_version 2):
 * real broker, real WebSockets, real keyrings. The owner's first send creates epoch 1; the first
 * send after a revocation rotates; a revoked member's keys open nothing sent after it; the broker
 * cannot re-label a message; the mesh key carries no new traffic once an epoch exists, while its
 * history still opens.
 */
describe.each(dbKinds())('group and broadcast messages under mesh epochs on %s', (kind) => {
  let tb: TestBroker;
  const open: MeshClient[] = [];
  let meshCount = 0;

  const sql = <T>(query: string, params: unknown[] = []): Promise<T[]> => tb.broker.app.get(DataSource).query(query, params);
  /** Admins added by a test: with the owner, the authorities of the mesh scope (as the CLI takes them from list_peers). */
  const admins: string[] = [];
  const keyring = (mesh: TestMesh, me: Identity): EpochKeyring =>
    new EpochKeyring({ me, meshId: mesh.meshId, authorities: (scope, epoch) => (scope === MESH_SCOPE || epoch > 1 ? [mesh.owner.publicKey, ...admins] : []) });

  interface Member {
    client: MeshClient;
    ring: EpochKeyring;
    got: InboundMessage[];
    failed: DecryptError[];
  }
  const member = async (mesh: TestMesh, who: Identity, o: { ring?: EpochKeyring | null } = {}): Promise<Member> => {
    const ring = o.ring === undefined ? keyring(mesh, who) : o.ring;
    const got: InboundMessage[] = [];
    const failed: DecryptError[] = [];
    const client = await connectClient(tb, mesh, who, ring ? { keyring: ring } : {}, got);
    client.on('decrypt_error', (e) => failed.push(e));
    open.push(client);
    return { client, ring: ring!, got, failed };
  };
  const newMesh = async (...names: string[]): Promise<{ mesh: TestMesh; ids: Record<string, Identity> }> => {
    const mesh = await createTestMesh(tb, `mesh-epochs-${++meshCount}`);
    const ids: Record<string, Identity> = {};
    for (const n of names) ids[n] = await addMember(tb, mesh, n);
    return { mesh, ids };
  };
  const meshEpochs = (mesh: TestMesh) =>
    sql<{ epoch: number; reason: string }>(`SELECT epoch, manifest::json->>'reason' AS reason FROM epoch_manifests WHERE mesh_id = $1 AND scope = 'mesh' ORDER BY epoch`, [mesh.meshId])
      .then((r) => r.map((x) => ({ epoch: Number(x.epoch), reason: x.reason })));
  const lastRow = async (mesh: TestMesh) => {
    const [row] = await sql<{ client_id: string; target: string; nonce: Uint8Array; ciphertext: Uint8Array; key_epoch: number | null; sig: string | null }>(
      'SELECT client_id, target, nonce, ciphertext, key_epoch, sig FROM messages WHERE mesh_id = $1 ORDER BY id DESC LIMIT 1', [mesh.meshId],
    );
    return { ...row!, nonce: Buffer.from(row!.nonce).toString('base64url'), ciphertext: Buffer.from(row!.ciphertext).toString('base64url') };
  };

  beforeAll(async () => {
    tb = await startTestBroker(kind);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => tb?.close());

  it("creates epoch 1 at the owner's first broadcast; live and queued recipients open @group and * under it; pushes carry key_epoch and sig", async () => {
    const { mesh, ids } = await newMesh('alice', 'bob');
    const owner = await member(mesh, mesh.owner);
    const alice = await member(mesh, ids.alice!);
    await alice.client.joinGroup('design');

    const ack = await owner.client.send('*', 'hello everyone');
    expect(ack.recipients).toBe(2);
    expect(await meshEpochs(mesh)).toEqual([{ epoch: 1, reason: 'create' }]);
    expect(await lastRow(mesh)).toMatchObject({ target: '*', key_epoch: 1, sig: expect.any(String) });
    await owner.client.send('@design', 'design review at 3');
    await waitFor(() => alice.got.length === 2, 'alice to get both');
    expect(alice.got.map((m) => [m.to, m.text, m.keyEpoch])).toEqual([['*', 'hello everyone', 1], ['@design', 'design review at 3', 1]]);
    expect(alice.failed).toEqual([]);

    // bob was offline: the queue replays both, with their epoch and signature; his keyring syncs first.
    const bob = await member(mesh, ids.bob!);
    await waitFor(() => bob.got.length === 1, 'bob to drain the broadcast');
    expect(bob.got[0]).toMatchObject({ to: '*', text: 'hello everyone', keyEpoch: 1 });
    expect(bob.ring.currentEpoch(MESH_SCOPE)).toBe(1);

    // A member's reply: alice is listed in epoch 1, so she seals under it.
    await alice.client.send('*', 'hi owner');
    await waitFor(() => owner.got.length === 1 && bob.got.length === 2, 'the reply to reach owner and bob');
    expect(owner.got[0]).toMatchObject({ text: 'hi owner', keyEpoch: 1, from: { memberPubkey: ids.alice!.publicKey } });
    expect(await meshEpochs(mesh)).toHaveLength(1);
  });

  it("rotates exactly once at the first send after a revocation; the revoked member's keyring and mesh key open nothing sent after it", async () => {
    const { mesh, ids } = await newMesh('alice', 'bob', 'carol');
    const owner = await member(mesh, mesh.owner);
    const [alice, bob, carol] = [await member(mesh, ids.alice!), await member(mesh, ids.bob!), await member(mesh, ids.carol!)];
    for (const m of [alice, bob, carol]) await m.client.joinGroup('ops');
    await owner.client.send('@ops', 'before the revocation');
    await waitFor(() => carol.got.length === 1, 'carol to read epoch 1');
    expect(carol.got[0]!.text).toBe('before the revocation');
    expect(carol.ring.context(MESH_SCOPE, 1)).not.toBeNull();

    expect(await revokeMember(tb.url, mesh.owner, mesh.meshId, ids.carol!.publicKey)).toEqual({ revoked: true });
    // alice, a member of epoch 1 (not an admin), sends first: she rotates, once.
    await alice.client.send('@ops', 'after the revocation');
    expect(await meshEpochs(mesh)).toEqual([{ epoch: 1, reason: 'create' }, { epoch: 2, reason: 'member_removed' }]);
    const group = await lastRow(mesh);
    expect(group).toMatchObject({ target: '@ops', key_epoch: 2 });
    await alice.client.send('*', 'a broadcast after it');
    await owner.client.send('*', 'and one from the owner');
    expect(await meshEpochs(mesh)).toHaveLength(2);
    const broadcast = await lastRow(mesh);
    expect(broadcast).toMatchObject({ target: '*', key_epoch: 2 });
    await waitFor(() => bob.got.length === 4 && owner.got.length === 1, 'bob and the owner to read all');
    expect(bob.got.map((m) => [m.text, m.keyEpoch])).toEqual([['before the revocation', 1], ['after the revocation', 2], ['a broadcast after it', 2], ['and one from the owner', 2]]);

    // carol's own client holds its keyring (epoch 1) and the mesh key; the ciphertext comes from the database.
    expect(carol.got).toHaveLength(1);
    expect(carol.ring.context(MESH_SCOPE, 2)).toBeNull();
    for (const row of [group, broadcast]) {
      const sealed = { nonce: row.nonce, ciphertext: row.ciphertext, sig: row.sig! };
      const sender = row === group ? ids.alice!.publicKey : mesh.owner.publicKey;
      expect(codeOf(() => carol.ring.decryptBytes(MESH_SCOPE, 2, sender, row.client_id, sealed, row.target))).toBe('E_NO_KEY');
      expect(codeOf(() => carol.ring.decryptBytes(MESH_SCOPE, 1, sender, row.client_id, sealed, row.target))).toBe('E_BAD_SIGNATURE');
      expect(codeOf(() => secretboxDecrypt(sealed, mesh.meshKey))).toBe('E_DECRYPT');
    }
    // Nor can it fetch the new epoch: the broker no longer takes its sessions.
    await expect(syncEpochs(carol.client, carol.ring, MESH_SCOPE)).rejects.toThrow();
    expect(carol.ring.context(MESH_SCOPE, 2)).toBeNull();
  });

  it('rotates for a member who joined after the epoch, so the joiner reads what follows', async () => {
    const { mesh } = await newMesh('alice');
    const owner = await member(mesh, mesh.owner);
    await owner.client.send('*', 'only alice and the owner');
    const dave = await addMember(tb, mesh, 'dave');
    const d = await member(mesh, dave);
    await owner.client.send('*', 'welcome dave');
    expect(await meshEpochs(mesh)).toEqual([{ epoch: 1, reason: 'create' }, { epoch: 2, reason: 'member_added' }]);
    await waitFor(() => d.got.some((m) => m.text === 'welcome dave'), 'dave to read it');
    expect(d.got.find((m) => m.text === 'welcome dave')!.keyEpoch).toBe(2);
  });

  it('lets an admin who joined after the epoch publish the next one itself before its first send', async () => {
    const { mesh, ids } = await newMesh('alice');
    const owner = await member(mesh, mesh.owner);
    const alice = await member(mesh, ids.alice!);
    await owner.client.send('*', 'epoch one');
    const admin = await addMember(tb, mesh, 'erin', 'admin');
    admins.push(admin.publicKey);
    const erin = await member(mesh, admin);
    await erin.client.send('*', 'hello from the new admin');
    expect(await meshEpochs(mesh)).toEqual([{ epoch: 1, reason: 'create' }, { epoch: 2, reason: 'member_added' }]);
    await waitFor(() => alice.got.length === 2, 'alice to read both');
    expect(alice.got.map((m) => [m.text, m.keyEpoch])).toEqual([['epoch one', 1], ['hello from the new admin', 2]]);
  });

  it('holds a push whose epoch key has not reached the member unconfirmed, and opens it when a re-seal brings the key', async () => {
    const { mesh, ids } = await newMesh('alice', 'bob');
    const owner = await member(mesh, mesh.owner);
    const bob = await member(mesh, ids.bob!);
    // Epoch 1 lists all three, but bob's seal is left out (as when a later seal batch failed).
    const pending = owner.ring.rotate(MESH_SCOPE, { members: [mesh.owner.publicKey, ids.alice!.publicKey, ids.bob!.publicKey], reason: 'create' });
    await owner.client.publishEpoch(pending.signed, pending.seals.filter((x) => x.recipient !== ids.bob!.publicKey));
    owner.ring.accept(MESH_SCOPE, pending);
    const ack = await owner.client.send('*', 'sent before bob had the key');
    await waitFor(() => bob.failed.length === 1, 'bob to find no key for the push');
    expect(bob.failed[0]).toMatchObject({ messageId: ack.message_id, reason: 'waiting_for_key' });
    expect(bob.got).toEqual([]);
    // Not confirmed: the broker still holds it queued for bob.
    const state = async (): Promise<string | undefined> =>
      (await sql<{ state: string }>('SELECT d.state FROM deliveries d JOIN members m ON m.id = d.recipient_member_id WHERE d.message_id = $1 AND m.pubkey = $2', [ack.message_id, ids.bob!.publicKey]))[0]?.state;
    expect(await state()).toBe('queued');

    // A keyed member seals the epoch for bob: the epoch_seal_new push makes bob's client try again.
    await owner.client.addSeals(MESH_SCOPE, 1, owner.ring.resealFor(MESH_SCOPE, 1, [ids.bob!.publicKey]));
    await waitFor(() => bob.got.length === 1, 'bob to open the held push');
    expect(bob.got[0]).toMatchObject({ text: 'sent before bob had the key', keyEpoch: 1 });
    for (let i = 0; (await state()) !== 'delivered'; i++) {
      if (i > 500) throw new Error('timed out waiting for the held push to be confirmed once opened');
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('reports a push the broker re-labelled (other target, epoch or sender) as not verifying, never as a message', async () => {
    const { mesh, ids } = await newMesh('alice', 'bob');
    const owner = await member(mesh, mesh.owner);
    const bob = await member(mesh, ids.bob!);
    await bob.client.joinGroup('ops');
    await owner.client.send('*', 'epoch one');
    await revokeMember(tb.url, mesh.owner, mesh.meshId, ids.alice!.publicKey);
    await owner.client.send('*', 'epoch two'); // rotates to epoch 2
    await waitFor(() => bob.got.length === 2, 'bob to read both');
    await bob.client.close();
    open.splice(open.indexOf(bob.client), 1);

    const ids3 = [];
    for (const text of ['to be moved to a group', 'to be moved to epoch 1', 'to be claimed by bob']) {
      const ack = await owner.client.send('*', text);
      ids3.push(ack.message_id);
    }
    const bobId = (await sql<{ id: string }>('SELECT id::text FROM members WHERE pubkey = $1', [ids.bob!.publicKey]))[0]!.id;
    await sql(`UPDATE messages SET kind = 'group', target = '@ops' WHERE id = $1`, [ids3[0]]);
    await sql('UPDATE messages SET key_epoch = 1 WHERE id = $1', [ids3[1]]);
    await sql('UPDATE messages SET sender_member_id = $2 WHERE id = $1', [ids3[2], bobId]);

    const again = await member(mesh, ids.bob!, { ring: bob.ring });
    await waitFor(() => again.failed.length === 3, 'three refusals');
    expect(again.got).toEqual([]);
    expect(again.failed.map((f) => [f.messageId, f.reason])).toEqual(ids3.map((id) => [id, 'does_not_verify']));
  });

  it('refuses a mesh-key @group or * send once the mesh has an epoch (E_EPOCH_REQUIRED); before that it is taken, and that history still opens', async () => {
    const { mesh, ids } = await newMesh('alice', 'bob', 'carol');
    const legacy = await member(mesh, ids.alice!, { ring: null });
    await legacy.client.send('*', 'under the mesh key, before any epoch');
    expect(await lastRow(mesh)).toMatchObject({ key_epoch: null, sig: null });

    // A keyring client that may not create epoch 1 falls back to the mesh key while there is none.
    const bobFirst = await member(mesh, ids.bob!);
    await bobFirst.client.send('*', 'bob, still under the mesh key');
    expect(await lastRow(mesh)).toMatchObject({ key_epoch: null });
    expect(await meshEpochs(mesh)).toEqual([]);
    await waitFor(() => bobFirst.got.length === 1, 'bob to drain the first');
    await bobFirst.client.close();
    open.splice(open.indexOf(bobFirst.client), 1);

    const owner = await member(mesh, mesh.owner);
    await owner.client.send('*', 'the first under epoch 1');
    expect(await meshEpochs(mesh)).toEqual([{ epoch: 1, reason: 'create' }]);

    await expect(legacy.client.send('*', 'under the mesh key, after epoch 1')).rejects.toMatchObject({ code: 'E_EPOCH_REQUIRED', details: { current_epoch: 1 } });
    const raw = secretboxEncrypt('by hand', mesh.meshKey);
    await expect(legacy.client.sendFrame({ type: 'send', id: 'legacy-after-01', to: '*', ...raw })).rejects.toMatchObject({ code: 'E_EPOCH_REQUIRED' });
    expect(await lastRow(mesh)).toMatchObject({ key_epoch: 1 });

    // A keyring client whose ring is behind seals under the epoch (it syncs first).
    const bob = await member(mesh, ids.bob!);
    await bob.client.send('*', 'bob under epoch 1');
    expect(await lastRow(mesh)).toMatchObject({ key_epoch: 1 });

    // carol was offline throughout: the mesh-key history and the epoch message all open.
    const carol = await member(mesh, ids.carol!);
    await waitFor(() => carol.got.length === 4, 'carol to drain');
    expect(carol.got.map((m) => [m.text, m.keyEpoch])).toEqual([
      ['under the mesh key, before any epoch', undefined], ['bob, still under the mesh key', undefined], ['the first under epoch 1', 1], ['bob under epoch 1', 1],
    ]);
    expect(carol.failed).toEqual([]);
    expect(legacy.got.filter((m) => m.keyEpoch !== undefined)).toEqual([]);
    await waitFor(() => legacy.failed.length === 2, 'the keyring-less client to report the epoch messages');
    expect(legacy.failed.map((f) => f.reason)).toEqual(['waiting_for_key', 'waiting_for_key']);
  });
});

describe.each(dbKinds())('scheduled rotation of the mesh scope on %s', (kind) => {
  let tb: TestBroker;
  afterAll(async () => tb?.close());

  it('rotates the mesh scope every 2 @group / * messages; members read across the epochs', async () => {
    tb = await startTestBroker(kind, { CLAUDEMESH_EPOCH_ROTATE_MESSAGES: '2' });
    const mesh = await createTestMesh(tb, 'mesh-scheduled');
    const alice = await addMember(tb, mesh, 'alice');
    const ring = (me: Identity) => new EpochKeyring({ me, meshId: mesh.meshId, authorities: (scope) => (scope === MESH_SCOPE ? [mesh.owner.publicKey] : []) });
    const owner = await connectClient(tb, mesh, mesh.owner, { keyring: ring(mesh.owner) });
    const got: InboundMessage[] = [];
    const a = await connectClient(tb, mesh, alice, { keyring: ring(alice) }, got);
    const acks = [];
    for (let i = 1; i <= 5; i++) acks.push(await (i % 2 === 0 ? a : owner).send('*', `message ${i}`));
    // Every 2 messages: the first of an epoch is told one remains, and its sender rotates ahead in the background.
    expect(acks[0]!.epoch_due).toMatchObject({ epoch: 1, remaining_messages: 1 });
    await waitFor(() => got.length === 3, 'alice to read the owner\'s three');
    expect(got.map((m) => m.text)).toEqual(['message 1', 'message 3', 'message 5']);
    const db = tb.broker.app.get(DataSource);
    const stored = (await db.query(`SELECT key_epoch FROM messages WHERE mesh_id = $1 AND key_epoch IS NOT NULL ORDER BY id`, [mesh.meshId])) as { key_epoch: number }[];
    const epochs = stored.map((r) => Number(r.key_epoch));
    // Ahead of the bound or at it, epochs only move forward and none carries more than 2 messages.
    expect(epochs).toHaveLength(5);
    expect(epochs).toEqual([...epochs].sort((x, y) => x - y));
    expect(Math.max(...[...new Set(epochs)].map((e) => epochs.filter((x) => x === e).length))).toBeLessThanOrEqual(2);
    const reasons = await db.query(`SELECT manifest::json->>'reason' AS reason FROM epoch_manifests WHERE mesh_id = $1 AND scope = 'mesh' ORDER BY epoch`, [mesh.meshId]);
    const listed = (reasons as { reason: string }[]).map((r) => r.reason);
    expect(listed[0]).toBe('create');
    expect(listed.length).toBeGreaterThanOrEqual(3);
    expect(new Set(listed.slice(1))).toEqual(new Set(['scheduled']));
    await owner.close();
    await a.close();
  });
});

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'none';
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  }
}
