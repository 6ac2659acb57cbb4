import { MeshApi, ProtocolError, meshMembersWithKeys, openTopicMessage, revokeMember, rotateAhead, syncEpochs, topicSendEncrypted, type SealedTopicTransport } from '@claudemesh/core';
import { addMember } from '../../../test/helpers/broker.js';
import { topicScope } from '@claudemesh/crypto';
import { describe, expect, it } from 'vitest';
import { dbKinds } from '../../../test/helpers/db.js';
import { issueKey } from './bearer-api.js';
import { transportOf, useEpochFixture } from './epoch-fixture.js';

/**
 * Scheduled rotation (docs/protocol.md §5.6): after CLAUDEMESH_EPOCH_ROTATE_MESSAGES messages under
 * one epoch, the next sealed post is refused with E_EPOCH_STALE and rotate.reason `scheduled`; the
 * acks of the posts before it carry `epoch_due`, and the SDK rotates ahead in the background. The age bound is the same check, tested on its pure function
 * (apps/broker/src/epochs/epoch-use.spec.ts) so that no test waits on the clock.
 */
describe.each(dbKinds())('scheduled key rotation on %s', (kind) => {
  const f = useEpochFixture(kind, 'scheduled', { CLAUDEMESH_EPOCH_ROTATE_MESSAGES: '3' });
  const { ring, createTopic } = f;
  /** Messages per epoch of a page, in epoch order. */
  const perEpoch = (epochs: number[]): number[] => [...new Set(epochs)].sort((x, y) => x - y).map((e) => epochs.filter((x) => x === e).length);

  it('acks a post near the bound with epoch_due, at the start of the last fifth and at the bound, and refuses the post past it', async () => {
    const a = await f.connect(f.ann);
    await createTopic('hinted');
    const ra = ring(f.ann);
    const scope = topicScope('hinted');
    await topicSendEncrypted(a, ra, 'hinted', 'first', { members: () => meshMembersWithKeys(a) });
    const post = async (n: number) => {
      const id = `hinted-post-${n}`;
      const { epoch, message } = ra.encrypt(scope, id, `post ${n}`);
      return a.topicSendSealed('hinted', id, { key_epoch: epoch, ...message, mentions: [] });
    };
    // Every 3 messages: the last fifth is the last message, so the second post of the epoch is told 1 remains, the third 0.
    const second = await post(2);
    expect(second.epoch_due).toMatchObject({ epoch: 1, remaining_messages: 1 });
    expect(second.epoch_due!.due_at).toBeGreaterThan(Date.now());
    expect((await post(3)).epoch_due).toMatchObject({ epoch: 1, remaining_messages: 0 });
    await expect(post(4)).rejects.toMatchObject({ code: 'E_EPOCH_STALE', details: { current_epoch: 1, rotate: { reason: 'scheduled' } } });

    // Over REST (a keypair-holding member's API key) the hint is in the 201 body too, and
    // topicSendEncrypted on MeshApi rotates as on the WebSocket.
    const api = new MeshApi(f.tb.url, (await issueKey(f.tb, f.mesh, f.ben, { label: 'rest hint', capabilities: ['read', 'send'] })).secret);
    const rb = ring(f.ben);
    await syncEpochs(api, rb, scope);
    const members = (): Promise<string[]> => meshMembersWithKeys(api);
    const firstRest = await topicSendEncrypted(api, rb, 'hinted', 'rest 1', { members });
    expect(firstRest.key_epoch).toBe(2);
    const id = 'hinted-rest-2';
    const { epoch, message } = rb.encrypt(scope, id, 'rest 2');
    const posted = await api.postSealed('hinted', { body_version: 2, client_id: id, key_epoch: epoch, ...message, mentions: [] });
    expect(posted.epoch_due).toMatchObject({ epoch: 2, remaining_messages: 1 });
  });

  it('rotates ahead once per epoch: a send made meanwhile waits for the new epoch instead of being refused, a second hint starts nothing', async () => {
    const a = await f.connect(f.ann);
    await createTopic('ahead');
    const ra = ring(f.ann);
    const scope = topicScope('ahead');
    const members = (): Promise<string[]> => meshMembersWithKeys(a);
    await topicSendEncrypted(a, ra, 'ahead', 'first', { members });
    const id = 'ahead-post-2';
    const { epoch, message } = ra.encrypt(scope, id, 'second');
    const { epoch_due: due } = await a.topicSendSealed('ahead', id, { key_epoch: epoch, ...message, mentions: [] });
    expect(due).toMatchObject({ epoch: 1, remaining_messages: 1 });
    // The rotation's publish is held at the client until the third send has started.
    let reached!: () => void;
    const atPublish = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held: SealedTopicTransport = { ...transportOf(a), publishEpoch: async (signed, seals) => {
      reached();
      await gate;
      return a.publishEpoch(signed, seals);
    } };
    const ahead = rotateAhead(held, ra, scope, due!);
    expect(ahead).not.toBeNull();
    expect(rotateAhead(a, ra, scope, due!)).toBeNull();
    await atPublish;
    const posted: number[] = [];
    const counting: SealedTopicTransport = { ...transportOf(a), topicSendSealed: (topic, sid, body, options) => {
      posted.push(body.key_epoch);
      return a.topicSendSealed(topic, sid, body, options);
    } };
    const third = topicSendEncrypted(counting, ra, 'ahead', 'third', { members });
    // While the publish is out, the send seals nothing under the epoch being replaced.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(posted).toEqual([]);
    release();
    expect(await ahead).toBe(true);
    expect((await third).key_epoch).toBe(2);
    expect(posted).toEqual([2]);
    expect(ra.currentManifest(scope)).toMatchObject({ epoch: 2, reason: 'scheduled' });
    // Past that epoch, the same hint starts nothing.
    expect(rotateAhead(a, ra, scope, due!)).toBeNull();
  });

  it('makes a rotation ahead for the members of the epoch it replaces, asking nobody; one a member revoked since makes fails, and the next post rotates them out', async () => {
    const cid = await addMember(f.tb, f.mesh, 'cid');
    const a = await f.connect(f.ann);
    await createTopic('carried');
    const ra = ring(f.ann);
    const scope = topicScope('carried');
    let asked = 0;
    const members = async (): Promise<string[]> => {
      asked += 1;
      return meshMembersWithKeys(a);
    };
    await topicSendEncrypted(a, ra, 'carried', 'first', { members });
    const listed = ra.currentManifest(scope)!.members;
    expect(listed).toContain(cid.publicKey);
    expect(asked).toBe(1);
    const id = 'carried-post-2';
    const { epoch, message } = ra.encrypt(scope, id, 'second');
    const { epoch_due: due } = await a.topicSendSealed('carried', id, { key_epoch: epoch, ...message, mentions: [] });
    expect(await rotateAhead(a, ra, scope, due!)).toBe(true);
    expect(ra.currentManifest(scope)).toMatchObject({ epoch: 2, reason: 'scheduled', members: listed });
    expect(asked).toBe(1);

    // cid is revoked after the hint: the carried-over list names a revoked member, which the broker refuses to list.
    await revokeMember(f.tb.url, f.mesh.owner, f.mesh.meshId, cid.publicKey);
    expect(await rotateAhead(a, ra, scope, { epoch: 2, remaining_messages: 1, due_at: null })).toBe(false);
    expect(ra.currentEpoch(scope)).toBe(2);
    expect(ra.proposedEpoch(scope)).toBeNull();
    // The next post under epoch 2 is refused as listing a departed member; the rotation then asks for the members.
    const after = await topicSendEncrypted(a, ra, 'carried', 'after the revocation', { members });
    expect(after.key_epoch).toBe(3);
    expect(asked).toBe(2);
    expect(ra.currentManifest(scope)!.members).not.toContain(cid.publicKey);
  });

  it('publishes a rotation made ahead only once its own post under the old epoch is answered, so that post is stored, not refused as stale', async () => {
    const a = await f.connect(f.ann);
    await createTopic('drained');
    const ra = ring(f.ann);
    const scope = topicScope('drained');
    const members = (): Promise<string[]> => meshMembersWithKeys(a);
    await topicSendEncrypted(a, ra, 'drained', 'first', { members });
    // The second post is sealed under epoch 1 and held on its way out.
    let reached!: () => void;
    const atSend = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const held: SealedTopicTransport = { ...transportOf(a), topicSendSealed: async (topic, id, body, options) => {
      reached();
      await gate;
      const posted = await a.topicSendSealed(topic, id, body, options);
      order.push(`post ${body.key_epoch}`);
      return posted;
    } };
    const second = topicSendEncrypted(held, ra, 'drained', 'second', { members });
    await atSend;
    const publishing: SealedTopicTransport = { ...transportOf(a), publishEpoch: async (signed, seals) => {
      order.push(`publish ${signed.manifest.epoch}`);
      return a.publishEpoch(signed, seals);
    } };
    const ahead = rotateAhead(publishing, ra, scope, { epoch: 1, remaining_messages: 1, due_at: null });
    expect(ahead).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(order).toEqual([]);
    release();
    expect((await second).key_epoch).toBe(1);
    expect(await ahead).toBe(true);
    expect(order).toEqual(['post 1', 'publish 2']);
  });

  it('seals no more under an epoch than the room its hint names: a post past it waits for the rotation instead of being refused at the bound', async () => {
    const a = await f.connect(f.ann);
    await createTopic('budgeted');
    const ra = ring(f.ann);
    const members = (): Promise<string[]> => meshMembersWithKeys(a);
    const refusals: string[] = [];
    const counting = (gate?: Promise<void>): SealedTopicTransport => ({ ...transportOf(a), topicSendSealed: async (topic, id, body, options) => {
      await gate;
      return a.topicSendSealed(topic, id, body, options).catch((error: unknown) => {
        refusals.push((error as ProtocolError).code);
        throw error;
      });
    } });
    await topicSendEncrypted(counting(), ra, 'budgeted', 'one', { members });
    // Epochs of 3: "three" is sealed under epoch 1 and held on its way; "two" is stored second and
    // its ack says 1 message remains — taken by "three", in flight. So "four" has no room in epoch 1.
    let release!: () => void;
    const third = topicSendEncrypted(counting(new Promise<void>((resolve) => (release = resolve))), ra, 'budgeted', 'three', { members });
    const second = await topicSendEncrypted(counting(), ra, 'budgeted', 'two', { members });
    expect(second.key_epoch).toBe(1);
    const fourth = topicSendEncrypted(counting(), ra, 'budgeted', 'four', { members });
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    expect((await third).key_epoch).toBe(1);
    expect((await fourth).key_epoch).toBe(2);
    expect(refusals).toEqual([]);
  });

  it('lands every one of many posts in flight at once, however many epochs fill up meanwhile', async () => {
    const a = await f.connect(f.ann);
    await createTopic('crowded');
    const ra = ring(f.ann);
    const members = (): Promise<string[]> => meshMembersWithKeys(a);
    // 40 posts at once into epochs of 3: a post can be refused under several newer epochs in turn.
    const posted = await Promise.all(Array.from({ length: 40 }, (_, i) => topicSendEncrypted(a, ra, 'crowded', `crowd ${i}`, { members })));
    expect(new Set(posted.map((m) => m.client_id)).size).toBe(40);
    // And none of those epochs carried more than 3, though all 40 were in flight together.
    const stored = (await a.topicHistory('crowded', { limit: 100 })).messages.map((m) => m.key_epoch!);
    expect(stored).toHaveLength(40);
    expect(Math.max(...perEpoch(stored))).toBeLessThanOrEqual(3);
    expect(ra.currentEpoch(topicScope('crowded'))).toBeGreaterThanOrEqual(14);
  });

  it('rotates every 3 messages, ahead of the bound or at it: no epoch carries more, a retry of a stored post stays a duplicate', async () => {
    const [a, b] = [await f.connect(f.ann), await f.connect(f.ben)];
    await createTopic('ticking');
    const [ra, rb] = [ring(f.ann), ring(f.ben)];
    const epochs: number[] = [];
    for (let i = 1; i <= 7; i++) {
      const [client, r] = i % 2 ? [a, ra] : [b, rb];
      epochs.push((await topicSendEncrypted(client, r, 'ticking', `tick ${i}`, { members: () => meshMembersWithKeys(client) })).key_epoch!);
    }
    // A rotation made ahead of the bound may land before or after the next post: either way epochs
    // only move forward and none carries more than 3 messages, so 7 messages need at least 3 epochs.
    expect(epochs).toEqual([...epochs].sort((x, y) => x - y));
    expect(Math.max(...perEpoch(epochs))).toBeLessThanOrEqual(3);
    expect(epochs.at(-1)).toBeGreaterThanOrEqual(3);
    expect(ra.currentManifest(topicScope('ticking'))?.reason ?? rb.currentManifest(topicScope('ticking'))?.reason).toBe('scheduled');

    // Everything stays readable to both, across the epochs.
    const page = await b.topicHistory('ticking');
    await syncEpochs(b, rb, topicScope('ticking'));
    expect(page.messages.map((m) => openTopicMessage(rb, m).text)).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => `tick ${i}`));
    expect(Math.max(...perEpoch(page.messages.map((m) => m.key_epoch!)))).toBeLessThanOrEqual(3);

    // The last post, sent again under its id once its epoch is over: the stored one, not a refusal.
    const last = page.messages[6]!;
    for (let i = 8; ra.currentEpoch(topicScope('ticking')) <= last.key_epoch!; i++) {
      await topicSendEncrypted(a, ra, 'ticking', `tick ${i}`, { members: () => meshMembersWithKeys(a) });
    }
    const again = await a.topicSendSealed('ticking', last.client_id, { key_epoch: last.key_epoch!, nonce: last.nonce!, ciphertext: last.ciphertext!, sig: last.sig!, mentions: [] });
    expect(again).toMatchObject({ message: { id: last.id, key_epoch: last.key_epoch }, duplicate: true });

    // Five posts in flight at once, near or past the bound, share one rotation rather than each
    // making its own (which stacked epochs one per refusal).
    const before = ra.currentEpoch(topicScope('ticking'));
    const burst = await Promise.all([1, 2, 3, 4, 5].map((i) => topicSendEncrypted(a, ra, 'ticking', `burst ${i}`, { members: () => meshMembersWithKeys(a) })));
    expect(burst.every((m) => m.key_epoch! >= before && m.key_epoch! <= before + 2)).toBe(true);
    // (On one node the bound is exact: each post takes its place under the topic's lock.)
    expect(ra.currentEpoch(topicScope('ticking'))).toBeLessThanOrEqual(before + 2);
  });
});
