/**
 * A push the recipient cannot open (docs/protocol.md §7.4): the SDK reports it as `decrypt_error`,
 * confirms it `delivered` so it is not pushed forever, never marks it `read`, and never hands it to
 * the application as a message.
 */
import { type InboundMessage } from '@claudemesh/core';
import { randomBytes, toB64u, type Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

describe.each(dbKinds())('a push that does not open, on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  let sender: RawPeer;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    sender = await RawPeer.connect(tb.wsUrl);
    sender.send(buildHello(mesh.meshId, alice, sender.challenge));
    await sender.next('hello_ack');
  });

  afterAll(async () => {
    sender?.close();
    await tb?.close();
  });

  async function sendGarbage(id: string, to: string): Promise<string> {
    sender.send({ type: 'send', id, to, nonce: toB64u(randomBytes(24)), ciphertext: toB64u(randomBytes(48)), receipts: 'all' });
    const ack = await sender.next('ack');
    expect(ack['id']).toBe(id);
    return ack['message_id'] as string;
  }

  it('is reported, confirmed delivered, never read, and not pushed again', async () => {
    const dm = await sendGarbage('garbage-dm-0001', 'bob');
    // bob has no mesh key: a group message cannot open either.
    const broadcast = await sendGarbage('garbage-all-001', '*');
    const failures: string[] = [];
    const messages: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, { meshKey: undefined });
    b.on('decrypt_error', (e) => failures.push(e.messageId));
    b.on('message', (m) => messages.push(m));
    try {
      await waitFor(() => failures.length === 2, 'both pushes to be reported as not opening');
      expect(failures.sort()).toEqual([dm, broadcast].sort());
      // Both confirmations are committed before message_status is asked (receipts come after the commit).
      const delivered = new Set<string>();
      while (!(delivered.has(dm) && delivered.has(broadcast))) {
        const receipts = (await sender.next('receipt'))['receipts'] as Array<{ message_id: string; state: string }>;
        for (const r of receipts) if (r.state === 'delivered') delivered.add(r.message_id);
      }
    } finally {
      await b.close();
    }
    sender.send({ type: 'message_status', req_id: 'after', message_ids: [dm, broadcast] });
    const status = (await sender.next('message_status_result'))['messages'] as Array<{ recipients: Array<{ display_name: string; state: string }> }>;
    for (const m of status) expect(m.recipients.find((r) => r.display_name === 'bob')?.state).toBe('delivered');
    expect(messages).toEqual([]);

    // The next connection gets nothing more: the failures were confirmed, not left queued.
    const again: string[] = [];
    const b2 = await connectClient(tb, mesh, bob, { meshKey: undefined });
    b2.on('decrypt_error', (e) => again.push(e.messageId));
    try {
      expect(b2.lastHelloAck?.queued).toBe(0);
      expect(again).toEqual([]);
    } finally {
      await b2.close();
    }
  });
});
