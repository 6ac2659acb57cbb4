import type { InboundMessage, MeshClient, Receipt } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

describe.each(dbKinds())('group and broadcast fan-out on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  const clients: MeshClient[] = [];
  const inbox = new Map<MeshClient, InboundMessage[]>();

  async function connect(identity: Identity): Promise<MeshClient> {
    const c = await connectClient(tb, mesh, identity);
    const box: InboundMessage[] = [];
    c.on('message', (m) => box.push(m));
    inbox.set(c, box);
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await tb?.close();
  });

  it('fans @group out to its members only, and * to every other member, never to the sender’s sibling sessions', async () => {
    const bob = await addMember(tb, mesh, 'bob');
    const carol = await addMember(tb, mesh, 'carol');
    const a1 = await connect(alice);
    const a2 = await connect(alice); // a sibling session of the sender
    const b = await connect(bob);
    const c = await connect(carol);
    await b.joinGroup('reviewers');
    await a1.joinGroup('reviewers');

    const group = await a1.send('@reviewers', 'please review');
    expect(group.recipients).toBe(1);
    const all = await a1.send('*', 'hello everyone');
    expect(all.recipients).toBe(3); // bob, carol and the (offline) owner

    await waitFor(() => inbox.get(b)!.length === 2 && inbox.get(c)!.length === 1, 'fan-out');
    expect(inbox.get(b)!.map((m) => [m.kind, m.to, m.text])).toEqual([
      ['group', '@reviewers', 'please review'],
      ['broadcast', '*', 'hello everyone'],
    ]);
    expect(inbox.get(c)!.map((m) => m.text)).toEqual(['hello everyone']);
    await new Promise((r) => setTimeout(r, 150));
    expect(inbox.get(a1)).toEqual([]);
    expect(inbox.get(a2)).toEqual([]);
  });

  it('delivers a DM to every live session of the recipient member', async () => {
    const dave = await addMember(tb, mesh, 'dave');
    const d1 = await connect(dave);
    const d2 = await connect(dave);
    const a = clients[0]!;
    const ack = await a.send('dave', 'to both of your sessions');
    await waitFor(() => inbox.get(d1)!.length === 1 && inbox.get(d2)!.length === 1, 'both sessions');
    expect(inbox.get(d2)![0]!.messageId).toBe(ack.message_id);
  });

  it('pushes no receipts for a group message by default, only read ones with receipts=read, all with receipts=all; message_status has every state', async () => {
    const sender = await connect(await addMember(tb, mesh, 'rsender'));
    const r1 = await connect(await addMember(tb, mesh, 'rone'));
    const r2 = await connect(await addMember(tb, mesh, 'rtwo'));
    await r1.joinGroup('receipts');
    await r2.joinGroup('receipts');
    const receipts: Receipt[] = [];
    sender.on('receipt', (r) => receipts.push(r));
    const quiet = await sender.send('@receipts', 'no receipts wanted');
    const readOnly = await sender.send('@receipts', 'tell me who read it', { receipts: 'read' });
    const all = await sender.send('@receipts', 'tell me everything', { receipts: 'all' });
    const dm = await sender.send('rone', 'a DM: receipts by default');
    await waitFor(() => inbox.get(r1)!.length === 4 && inbox.get(r2)!.length === 3, 'group deliveries');
    await waitFor(() => receipts.filter((r) => r.message_id === all.message_id).length === 2 && receipts.some((r) => r.message_id === dm.message_id), 'delivered receipts');
    r1.markRead([quiet.message_id, readOnly.message_id]);
    await waitFor(() => receipts.some((r) => r.message_id === readOnly.message_id), 'read receipt');
    await new Promise((r) => setTimeout(r, 150));
    expect(receipts.filter((r) => r.message_id === quiet.message_id)).toEqual([]);
    expect(receipts.filter((r) => r.message_id === readOnly.message_id).map((r) => r.state)).toEqual(['read']);
    expect(receipts.filter((r) => r.message_id === all.message_id).map((r) => r.state)).toEqual(['delivered', 'delivered']);
    const [status] = await sender.messageStatus({ messageIds: [quiet.message_id] });
    expect(status!.recipients.map((r) => r.state).sort()).toEqual(['delivered', 'read']);
  });

  it('delivers a reply addressed to a rotated session key to the member’s current session, boxed for the member', async () => {
    const frank = await addMember(tb, mesh, 'frank');
    const a = clients[0]!;
    const f1 = await connect(frank);
    await f1.send('alice', 'from my first session');
    await waitFor(() => inbox.get(a)!.some((m) => m.text === 'from my first session'), 'the first message');
    const oldSession = inbox.get(a)!.find((m) => m.text === 'from my first session')!.from.sessionPubkey;
    await f1.close();
    const f2 = await connect(frank);
    const ack = await a.send(oldSession, 'reply to your old session');
    expect(ack.recipients).toBe(1);
    await waitFor(() => inbox.get(f2)!.some((m) => m.text === 'reply to your old session'), 'the reply at the new session');
  });

  it('stops delivering @group messages after leave_group and rejects an unknown group', async () => {
    const erin = await addMember(tb, mesh, 'erin');
    const e = await connect(erin);
    await e.joinGroup('ops');
    await e.leaveGroup('ops');
    const a = clients[0]!;
    await expect(a.send('@ops', 'anyone?')).rejects.toMatchObject({ code: 'E_UNKNOWN_TARGET' });
  });
});
