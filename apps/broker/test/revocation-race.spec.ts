import { revokeMember, type InboundMessage, type TopicMessage } from '@claudemesh/core';
import { randomBytes, toB64u } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

/** Hellos in flight when the revocation lands (the review saw 25–49 of 60 survive it). */
const HELLOS = 60;

const answered = (p: RawPeer, types: string[]): boolean => types.every((t) => p.frames.some((f) => f['type'] === t || (f['type'] === 'error' && f['ref'] === `probe-${t}`)));

describe.each(dbKinds())('member revocation racing its hellos on %s', (kind) => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startTestBroker(kind);
  });
  afterAll(async () => tb?.close());

  it(`leaves no session alive of a member revoked while ${HELLOS} of its hellos are verified: none sends a DM, posts to a topic or receives topic traffic`, async () => {
    const mesh = await createTestMesh(tb, 'race');
    const victim = await addMember(tb, mesh, 'victim');
    const bob = await addMember(tb, mesh, 'bob');
    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, {}, inbox);
    const topicSeen: TopicMessage[] = [];
    b.on('topic', (m) => topicSeen.push(m));

    const peers = await Promise.all(Array.from({ length: HELLOS }, () => RawPeer.connect(tb.wsUrl)));
    // The hellos go out a few at a time, before, during and after the revocation request, so some
    // are between their membership check and their registration when the revocation lands.
    let revocation: Promise<{ revoked: boolean }> | null = null;
    for (let i = 0; i < HELLOS; i += 3) {
      for (const p of peers.slice(i, i + 3)) p.send(buildHello(mesh.meshId, victim, p.challenge));
      if (i === 12) revocation = revokeMember(tb.url, mesh.owner, mesh.meshId, victim.publicKey);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await revocation!).toEqual({ revoked: true });

    // Every hello is answered: a close, or hello_ack. A connection still open then tries what a
    // member does; each probe is answered (ack, topic_ack, peers or an error) unless the broker closes it.
    await Promise.all(peers.map((p) => waitFor(() => p.closed !== null || p.frames.some((f) => f['type'] === 'hello_ack'), 'every hello answered', 60_000)));
    peers.forEach((p, i) => {
      if (p.closed) return;
      p.send({ type: 'send', id: `probe-dm-${i}-xxxx`, to: bob.publicKey, nonce: toB64u(randomBytes(24)), ciphertext: toB64u(randomBytes(32)) });
      p.send({ type: 'topic_send', id: `probe-topic-${i}-xxxx`, topic: 'general', text: `still here ${i}` });
      p.send({ type: 'list_peers', req_id: 'probe-peers' });
    });
    await Promise.all(peers.map((p) => waitFor(() => p.closed !== null || answered(p, ['peers']), 'every probe answered or the connection closed', 60_000)));

    const survivors = peers.filter((p) => p.closed === null);
    expect(survivors.length, 'sessions of the revoked member still open').toBe(0);
    expect(new Set(peers.map((p) => p.closed!.reason))).toEqual(new Set(['E_REVOKED']));
    expect(peers.flatMap((p) => p.frames.filter((f) => ['ack', 'topic_ack', 'peers'].includes(f['type'] as string)))).toEqual([]);

    // What reached bob: a sentinel DM sent after everything arrives, and nothing from the victim before it.
    const o = await connectClient(tb, mesh, mesh.owner);
    await o.send('bob', 'sentinel');
    await waitFor(() => inbox.some((m) => m.text === 'sentinel'), 'the sentinel DM');
    expect(inbox.filter((m) => m.from.memberPubkey === victim.publicKey)).toEqual([]);
    // The topic holds no post of the victim, and a post now reaches bob but no session of the victim.
    const posted = await o.topicSend('general', 'after the revocation');
    await waitFor(() => topicSeen.some((m) => m.id === posted.id), 'the topic post at bob');
    const history = await b.topicHistory('general', { limit: 200 });
    expect(history.messages.filter((m) => m.sender.member_pubkey === victim.publicKey)).toEqual([]);
    expect(peers.flatMap((p) => p.frames.filter((f) => f['type'] === 'topic_message'))).toEqual([]);
    // A revoked member is no longer listed, so it shows no session either.
    expect((await b.listPeers()).map((p) => p.member_pubkey)).not.toContain(victim.publicKey);
    await o.close();
    await b.close();
  });
});
