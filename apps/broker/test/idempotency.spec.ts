import { revokeMember, type InboundMessage } from '@claudemesh/core';
import { boxEncrypt } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

describe.each(dbKinds())('idempotent sends on %s', (kind) => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startTestBroker(kind);
  });
  afterAll(async () => tb?.close());

  it('stores and delivers a retried client id once, acking the retry as a duplicate of the same message', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    const b = await connectClient(tb, mesh, bob);
    const raw: string[] = [];
    b.on('message', (m: InboundMessage) => raw.push(m.messageId));

    const sealed = boxEncrypt('exactly once', bob.publicKey, alice);
    const frame = { type: 'send' as const, id: 'retry-me-0001', to: 'bob', ...sealed };
    const first = await a.sendFrame(frame);
    const second = await a.sendFrame(frame);
    // Concurrent retries land in the same group-commit batch.
    const [third, fourth] = await Promise.all([a.sendFrame({ ...frame }), a.sendFrame({ ...frame })]);
    expect(first.duplicate).toBe(false);
    for (const retry of [second, third, fourth]) {
      expect(retry.message_id).toBe(first.message_id);
      expect(retry.duplicate).toBe(true);
      expect(retry.recipients).toBe(1);
    }
    await waitFor(() => raw.length >= 1, 'delivery');
    await new Promise((r) => setTimeout(r, 200));
    expect(raw).toEqual([first.message_id]);
    const [status] = await a.messageStatus({ clientIds: ['retry-me-0001'] });
    expect(status?.recipients).toHaveLength(1);
    await a.close();
    await b.close();
  });
});

describe.each(dbKinds())('retries after the target is gone on %s', (kind) => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startTestBroker(kind);
  });
  afterAll(async () => tb?.close());

  it('acks a retry of a stored DM as a duplicate even after its recipient was revoked', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    const frame = { type: 'send' as const, id: 'retry-after-revoke', to: 'bob', ...boxEncrypt('before revocation', bob.publicKey, alice) };
    const first = await a.sendFrame(frame);
    await revokeMember(tb.url, mesh.owner, mesh.meshId, bob.publicKey);
    const retry = await a.sendFrame(frame);
    expect(retry).toMatchObject({ message_id: first.message_id, duplicate: true });
    await expect(a.sendFrame({ ...frame, id: 'new-after-revoke' })).rejects.toMatchObject({ code: 'E_UNKNOWN_TARGET' });
    await a.close();
  });
});
