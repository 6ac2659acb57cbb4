import type { InboundMessage } from '@claudemesh/core';
import { describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { dumpDatabase } from '../../../test/helpers/db-dump.js';


describe.each(dbKinds())('no plaintext at rest on %s', (kind) => {
  it('stores DMs, group and broadcast messages, and shared state, so that a full dump contains none of the plaintexts', async () => {
    const tb = await startTestBroker(kind);
    const mesh = await createTestMesh(tb, 'control-mesh-name-7c1e');
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    const b = await connectClient(tb, mesh, bob);
    await b.joinGroup('secret-club');
    const inbox: InboundMessage[] = [];
    b.on('message', (m) => inbox.push(m));

    const secrets = Array.from({ length: 20 }, (_, i) => `PLAINTEXT-CANARY-${i}-the launch code is ${1000 + i}`);
    for (const [i, secret] of secrets.entries()) {
      await a.send(i % 3 === 0 ? 'bob' : i % 3 === 1 ? '@secret-club' : '*', secret);
    }
    // Offline recipient too: these stay queued in the database.
    const carol = await addMember(tb, mesh, 'carol');
    await a.send(carol.publicKey, 'PLAINTEXT-CANARY-offline-carol');
    await waitFor(() => inbox.length === secrets.length, 'every message delivered');
    expect(inbox.map((m) => m.text)).toEqual(secrets);
    // Shared state (protocol §6.4): sealed by the writer, read back by a peer.
    await a.stateSet('plan/secret', 'PLAINTEXT-CANARY-state-value', 1);
    expect((await b.stateGet({ owner: alice.publicKey, key: 'plan/secret' }))[0]!.text).toBe('PLAINTEXT-CANARY-state-value');
    await a.close();
    await b.close();
    await tb.broker.close(); // flushes the embedded data dir to disk

    const dump = dumpDatabase(tb);
    // Control: the dump is readable for strings the broker does store in clear.
    expect(dump.includes(Buffer.from('control-mesh-name-7c1e'))).toBe(true);
    for (const secret of [...secrets, 'PLAINTEXT-CANARY-offline-carol', 'PLAINTEXT-CANARY-state-value']) {
      expect(dump.includes(Buffer.from(secret)), secret).toBe(false);
      expect(dump.includes(Buffer.from(Buffer.from(secret).toString('hex'))), `${secret} as hex`).toBe(false);
    }
    expect(dump.includes(Buffer.from('PLAINTEXT-CANARY'))).toBe(false);
    await tb.close();
  });
});
