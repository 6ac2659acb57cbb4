import { MeshClient, type InboundMessage } from '@claudemesh/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

describe.each(dbKinds())('offline queue on %s', (kind) => {
  let tb: TestBroker;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
  });
  afterAll(async () => tb?.close());

  it('delivers messages sent while the recipient was offline, in send order, on connect', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    const acks = [];
    for (let i = 0; i < 50; i++) acks.push(await a.send('bob', `queued #${i}`));
    const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => a.send('bob', `burst #${i}`)));

    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, {}, inbox);
    expect(b.lastHelloAck?.queued).toBe(100);
    await waitFor(() => inbox.length === 100, 'all 100 queued messages');
    expect(inbox.slice(0, 50).map((m) => m.text)).toEqual(acks.map((_, i) => `queued #${i}`));
    expect(inbox.slice(50).map((m) => m.text)).toEqual(burst.map((_, i) => `burst #${i}`));
    const ids = inbox.map((m) => BigInt(m.messageId));
    expect(ids).toEqual([...ids].sort((x, y) => (x < y ? -1 : 1)));
    await a.close();
    await b.close();
  });

  it('reports the drain done only once every message hello_ack announced has reached the message listeners', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    for (let i = 0; i < 30; i++) await a.send('bob', `waiting #${i}`);
    const inbox: InboundMessage[] = [];
    let seenAtDrained = -1;
    const b = new MeshClient({ url: tb.wsUrl, meshId: mesh.meshId, identity: bob, meshKey: mesh.meshKey });
    b.on('message', (m) => inbox.push(m));
    b.on('drained', ({ queued }) => {
      seenAtDrained = inbox.length;
      expect(queued).toBe(30);
    });
    expect(b.drained).toBe(false);
    await b.connect();
    expect(await b.waitDrained(10_000)).toBe(true);
    expect(seenAtDrained).toBe(30);
    expect(b.drained).toBe(true);
    // Nothing queued: drained as soon as the hello is answered.
    const c = await connectClient(tb, mesh, alice);
    expect(c.drained).toBe(true);
    await b.close();
    expect(b.drained).toBe(false);
    expect(await b.waitDrained(50)).toBe(false);
    await a.close();
    await c.close();
  });

  it('leaves a message unconfirmed when the application listener throws, so it comes back after a reconnect', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    const sent = await a.send('bob', 'store me or lose me');
    const b = await connectClient(tb, mesh, bob, { reconnect: false });
    const errors: Error[] = [];
    b.on('error', (e) => errors.push(e));
    let attempts = 0;
    b.on('message', () => {
      attempts += 1;
      throw new Error('disk full');
    });
    await waitFor(() => attempts === 1 && errors.length === 1, 'the failing listener');
    await new Promise((r) => setTimeout(r, 100));
    const [status] = await a.messageStatus({ messageIds: [sent.message_id] });
    expect(status!.recipients.map((r) => r.state)).toEqual(['queued']);
    await b.close();
    const again: InboundMessage[] = [];
    const b2 = await connectClient(tb, mesh, bob, {}, again);
    await waitFor(() => again.length === 1, 'redelivery');
    expect(again[0]!.messageId).toBe(sent.message_id);
    await a.close();
    await b2.close();
  });

  it('keeps unconfirmed messages queued across reconnects and stops once delivered', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    await a.send('bob', 'one');
    await a.send('bob', 'two');

    // First connection reads but never confirms: the messages must stay queued.
    const seen: InboundMessage[] = [];
    const silent = await connectClient(tb, mesh, bob, { autoDelivered: false }, seen);
    await waitFor(() => seen.length === 2, 'first reading');
    await silent.close();

    const again: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, {}, again);
    expect(b.lastHelloAck?.queued).toBe(2);
    await waitFor(() => again.length === 2, 'redelivery');
    expect(again.map((m) => m.text)).toEqual(['one', 'two']);
    await new Promise((r) => setTimeout(r, 200));
    await b.close();

    const c = await connectClient(tb, mesh, bob);
    expect(c.lastHelloAck?.queued).toBe(0);
    await c.close();
    await a.close();
  });

  it('interleaves live messages after the drained backlog without loss or duplication', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    for (let i = 0; i < 300; i++) void a.send('bob', `m${i}`);
    await waitFor(() => a.unacked === 0, 'backlog acked');
    const inbox: InboundMessage[] = [];
    const connecting = connectClient(tb, mesh, bob, {}, inbox);
    const live = Array.from({ length: 200 }, (_, i) => a.send('bob', `m${300 + i}`));
    const b = await connecting;
    await Promise.all(live);
    await waitFor(() => inbox.length >= 500, '500 messages');
    await new Promise((r) => setTimeout(r, 100));
    const texts = inbox.map((m) => m.text);
    expect(new Set(texts).size).toBe(500);
    expect(texts.length).toBe(500);
    const ids = inbox.map((m) => BigInt(m.messageId));
    expect(ids).toEqual([...ids].sort((x, y) => (x < y ? -1 : 1)));
    await a.close();
    await b.close();
  });

  it('keeps ascending ids and loses nothing with concurrent commits while the recipient reconnects mid-stream', async () => {
    const mesh = await createTestMesh(tb);
    const bob = await addMember(tb, mesh, 'bob');
    const senders = await Promise.all(['s1', 's2', 's3', 's4'].map(async (n) => connectClient(tb, mesh, await addMember(tb, mesh, n))));
    const received = new Map<string, InboundMessage>();
    const ordered: bigint[][] = [];
    const session = async () => {
      const ids: bigint[] = [];
      ordered.push(ids);
      const c = await connectClient(tb, mesh, bob, {});
      c.on('message', (m) => {
        ids.push(BigInt(m.messageId));
        received.set(m.messageId, m);
      });
      return c;
    };
    let b = await session();
    const sends: Array<Promise<unknown>> = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 150; i++) sends.push(senders[i % 4]!.send('bob', `r${round}-${i}`));
      await new Promise((r) => setTimeout(r, 30));
      await b.close();
      b = await session();
    }
    await Promise.all(sends);
    await waitFor(() => received.size === 600, 'all 600 messages', 20_000);
    for (const ids of ordered) expect(ids).toEqual([...ids].sort((x, y) => (x < y ? -1 : 1)));
    await b.close();
    for (const s of senders) await s.close();
  });
});
