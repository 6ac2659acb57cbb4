import { EpochKeyring, MESH_SCOPE, ProtocolError, SEALED_SEND_WINDOW, meshMembersWithKeys, newClientId, rotateAhead, syncEpochs, topicSendEncrypted, type Ack, type MeshClient, type SealedTopicTransport, type TopicPostResult } from '@claudemesh/core';
import { topicScope } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { dbKinds } from '../../../test/helpers/db.js';
import { transportOf, useEpochFixture } from './epoch-fixture.js';

/**
 * Publish order (docs/protocol.md §5.6): on one connection an `epoch_publish` is handled after the
 * sealed sends of its scope received before it and before those received after it, so a client
 * seals under its new epoch as soon as the publish is on its way, and a rotation holds no send.
 */
describe.each(dbKinds())('the order of a publish and the sealed posts around it on %s', (kind) => {
  const f = useEpochFixture(kind, 'ordered', { CLAUDEMESH_EPOCH_ROTATE_MESSAGES: '3' });
  const { ring, connect, createTopic } = f;
  /** Client ids by name, for the posts of these tests. */
  const ids = new Map<string, string>();
  const idOf = (name: string): string => ids.get(name) ?? (ids.set(name, newClientId()), ids.get(name)!);
  /** Seals `text` under what the ring seals under now and writes it at once (no await before the write). */
  const post = (c: MeshClient, r: EpochKeyring, topic: string, name: string, text: string): Promise<TopicPostResult> => {
    const id = idOf(name);
    const { epoch, message } = r.encrypt(topicScope(topic), id, text);
    return c.topicSendSealed(topic, id, { key_epoch: epoch, ...message, mentions: [] });
  };

  it('stores posts written before a publish under the old epoch and posts written right after it under the new one', async () => {
    const a = await connect(f.ann);
    await createTopic('around');
    const ra = ring(f.ann);
    const scope = topicScope('around');
    await topicSendEncrypted(a, ra, 'around', 'epoch 1 is made', { members: () => meshMembersWithKeys(a) });
    const pending = ra.rotate(scope, { members: await meshMembersWithKeys(a), reason: 'scheduled' });
    const before = [post(a, ra, 'around', 'before-1', 'one'), post(a, ra, 'around', 'before-2', 'two')];
    let after: Array<Promise<TopicPostResult>> = [];
    const published = a.publishEpoch(pending.signed, pending.seals, {
      sent: () => {
        // Not answered yet: without the broker's order these would be checked before epoch 2 exists (E_EPOCH_STALE).
        ra.propose(scope, pending);
        after = [post(a, ra, 'around', 'after-1', 'three'), post(a, ra, 'around', 'after-2', 'four')];
      },
    });
    expect(await published).toMatchObject({ epoch: 2 });
    expect(after).toHaveLength(2);
    ra.accept(scope, pending);
    expect((await Promise.all(before)).map((p) => p.message.key_epoch)).toEqual([1, 1]);
    expect((await Promise.all(after)).map((p) => p.message.key_epoch)).toEqual([2, 2]);
    // In the history every post under epoch 1 comes before the posts under 2. (Two posts in flight
    // together on one connection may be stored in either order: the protocol orders a publish and
    // the sends around it, not the sends among themselves.)
    const page = await a.topicHistory('around');
    const stored = page.messages.map((m) => `${m.key_epoch} ${m.client_id}`);
    const ids = (epoch: number, ...names: string[]): string[] => names.map((n) => `${epoch} ${idOf(n)}`).sort();
    expect(stored).toHaveLength(5);
    expect(stored[0]).toMatch(/^1 /);
    expect(stored.slice(1, 3).sort()).toEqual(ids(1, 'before-1', 'before-2'));
    expect(stored.slice(3).sort()).toEqual(ids(2, 'after-1', 'after-2'));
  });

  it('refuses a post held behind its connection\'s refused publish as stale, naming the epoch that won, and stores nothing of it', async () => {
    const [a, b] = [await connect(f.ann), await connect(f.ben)];
    await createTopic('raced');
    const [ra, rb] = [ring(f.ann), ring(f.ben)];
    const scope = topicScope('raced');
    await topicSendEncrypted(a, ra, 'raced', 'epoch 1 is made', { members: () => meshMembersWithKeys(a) });
    await syncEpochs(b, rb, scope);
    // f.ben's epoch 2 is accepted first; f.ann, not knowing it, publishes her own epoch 2 and seals under it at once.
    const bens = rb.rotate(scope, { members: await meshMembersWithKeys(b), reason: 'scheduled' });
    await b.publishEpoch(bens.signed, bens.seals);
    const anns = ra.rotate(scope, { members: await meshMembersWithKeys(a), reason: 'scheduled' });
    let held!: Promise<TopicPostResult>;
    const published = a.publishEpoch(anns.signed, anns.seals, {
      sent: () => {
        ra.propose(scope, anns);
        held = post(a, ra, 'raced', 'held', 'sealed under the epoch that lost');
      },
    });
    await expect(published).rejects.toMatchObject({ code: 'E_EPOCH_CONFLICT' });
    // Not E_MESSAGE_INVALID (its signature names f.ann's epoch 2, not f.ben's): a refusal the SDK seals again after.
    const refused = await held.catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProtocolError);
    expect(refused).toMatchObject({ code: 'E_EPOCH_STALE', details: { current_epoch: 2 } });
    expect((await a.topicHistory('raced')).messages.map((m) => m.client_id)).not.toContain(idOf('held'));
  });

  it('orders the mesh scope the same way: a `*` message sealed under the mesh epoch being published is stored under it', async () => {
    const o = await connect(f.mesh.owner);
    const ro = new EpochKeyring({ me: f.mesh.owner, meshId: f.mesh.meshId, authorities: () => [f.mesh.owner.publicKey] });
    const members = await meshMembersWithKeys(o);
    const first = ro.rotate(MESH_SCOPE, { members, reason: 'create' });
    await o.publishEpoch(first.signed, first.seals);
    ro.accept(MESH_SCOPE, first);
    const next = ro.rotate(MESH_SCOPE, { members, reason: 'scheduled' });
    const send = (name: string): Promise<Ack> => {
      const id = idOf(name);
      const { epoch, message } = ro.encrypt(MESH_SCOPE, id, `${name} to all`, '*');
      return o.sendFrame({ type: 'send', id, to: '*', body_version: 2, key_epoch: epoch, nonce: message.nonce, ciphertext: message.ciphertext, sig: message.sig });
    };
    const before = send('mesh-before');
    let after!: Promise<Ack>;
    await o.publishEpoch(next.signed, next.seals, {
      sent: () => {
        ro.propose(MESH_SCOPE, next);
        after = send('mesh-after');
      },
    });
    ro.accept(MESH_SCOPE, next);
    expect((await before).id).toBe(idOf('mesh-before'));
    expect((await after).id).toBe(idOf('mesh-after'));
    const [row] = await f.tb.broker.app.get(DataSource).query('SELECT key_epoch FROM messages WHERE client_id = $1', [idOf('mesh-after')]) as Array<{ key_epoch: number }>;
    expect(Number(row?.key_epoch)).toBe(2);
  });

  it('over a connection that orders publishes, a rotation made ahead holds no send: it is sealed under the new epoch before the publish is answered', async () => {
    const a = await connect(f.ann);
    await createTopic('unheld');
    const ra = ring(f.ann);
    const scope = topicScope('unheld');
    const members = (): Promise<string[]> => meshMembersWithKeys(a);
    await topicSendEncrypted(a, ra, 'unheld', 'first', { members });
    // The publish goes out at once; the client learns of its answer only once the gate opens.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let out!: () => void;
    const isOut = new Promise<void>((resolve) => (out = resolve));
    const slowAnswer: SealedTopicTransport = { ...transportOf(a), ordersPublishes: true, publishEpoch: async (signed, seals, o) => {
      const answer = await a.publishEpoch(signed, seals, { sent: () => { o?.sent?.(); out(); } });
      await gate;
      return answer;
    } };
    const ahead = rotateAhead(slowAnswer, ra, scope, { epoch: 1, remaining_messages: 2, due_at: null });
    expect(ahead).not.toBeNull();
    await isOut;
    expect(ra.sendingEpoch(scope)).toBe(2);
    expect(ra.currentEpoch(scope)).toBe(1);
    // Stored under epoch 2 while the rotation still waits for its answer (it would wait for the gate without the order).
    const sent = await topicSendEncrypted(slowAnswer, ra, 'unheld', 'second', { members });
    expect(sent.key_epoch).toBe(2);
    release();
    expect(await ahead).toBe(true);
    expect(ra.currentEpoch(scope)).toBe(2);
    expect(ra.proposedEpoch(scope)).toBeNull();
  });
});

/**
 * The send window (SEALED_SEND_WINDOW) and the rotation ahead under the default schedule: 400 posts
 * at once into epochs of 100. The window keeps only a few in flight, so the `epoch_due` hint comes
 * back while what is in flight fits under the epoch (without it every rotation refused most of them
 * at the bound). Over a transport that does not order publishes (REST), a post sealed before the
 * publish and stored after it is refused once; over the WebSocket none is.
 */
describe.each(dbKinds())('the send window and the publish order under the default schedule on %s', (kind) => {
  const f = useEpochFixture(kind, 'windowed');

  it.each([
    ['the WebSocket, which orders publishes', true],
    ['a transport that does not order them', false],
  ])('lands 400 posts made at once over %s, none refused at the bound', async (_label, ordered) => {
    const a = await f.connect(f.ann);
    const topic = ordered ? 'busy-ordered' : 'busy-unordered';
    await f.createTopic(topic);
    const ra = f.ring(f.ann);
    const refused = { scheduled: 0, stale: 0 };
    let inFlight = 0;
    let most = 0;
    const counting: SealedTopicTransport = { ...transportOf(a), ...(ordered ? { ordersPublishes: true, publishEpoch: (signed, seals, o) => a.publishEpoch(signed, seals, o) } : {}), topicSendSealed: async (t, id, body, options) => {
      most = Math.max(most, ++inFlight);
      try {
        return await a.topicSendSealed(t, id, body, options);
      } catch (error) {
        if (error instanceof ProtocolError && error.code === 'E_EPOCH_STALE') refused[error.details.rotate ? 'scheduled' : 'stale'] += 1;
        throw error;
      } finally {
        inFlight -= 1;
      }
    } };
    const members = (): Promise<string[]> => meshMembersWithKeys(a);
    const posted = await Promise.all(Array.from({ length: 400 }, (_, i) => topicSendEncrypted(counting, ra, topic, `busy ${i}`, { members })));
    expect(new Set(posted.map((m) => m.client_id)).size).toBe(400);
    // The window: never more in flight (without it, about 700 refusals at the bound for these 400 posts).
    expect(most).toBe(SEALED_SEND_WINDOW);
    const epochs = new Set(posted.map((m) => m.key_epoch!));
    // 400 messages, at most 100 an epoch: 4 epochs at least, rotated ahead of the bound each time.
    expect(epochs.size).toBeGreaterThanOrEqual(4);
    expect(refused.scheduled).toBe(0);
    // Over the WebSocket a post sealed before the publish is stored before it: no refusal at all.
    // Otherwise one sealed before a rotation ahead and stored after it is refused once (it was in flight).
    expect(refused.stale).toBeLessThanOrEqual(ordered ? 0 : SEALED_SEND_WINDOW * (epochs.size - 1));
  });
});
