import { MeshClient, createMesh, issueInvite, joinMesh, type Ack, type InboundMessage } from '@claudemesh/core';
import { cryptoReady, generateIdentity, generateMeshKey } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, waitFor } from '../../../test/helpers/broker.js';
import { BrokerProcess, freePort } from '../../../tools/bench/src/broker-process.js';
import { createTestDatabase, dbKinds } from '../../../test/helpers/db.js';

describe.each(dbKinds())('broker killed with SIGKILL mid-traffic on %s', (kind) => {
  it('loses no acked message and surfaces none twice after a restart', { timeout: 120_000 }, async () => {
    await cryptoReady();
    const home = mkdtempSync(join(tmpdir(), 'cmh-crash-'));
    const pg = kind === 'postgres' ? await createTestDatabase() : null;
    const port = await freePort();
    const env = { PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: home, ADMIN_TOKEN, BOOTSTRAP_MESH: 'off', LOG_LEVEL: 'error', ...(pg ? { DATABASE_URL: pg.url } : {}) };
    let broker = new BrokerProcess(env);
    const clients: MeshClient[] = [];
    try {
      await broker.start();
      const url = `http://127.0.0.1:${port}`;
      const owner = generateIdentity();
      const created = await createMesh(url, { name: 'crash', owner, displayName: 'owner', adminToken: ADMIN_TOKEN });
      const meshKey = generateMeshKey();
      const enroll = async (name: string) => {
        const identity = generateIdentity();
        const { invite } = await issueInvite(url, { meshId: created.mesh_id, meshName: 'crash', brokerUrl: url, issuer: owner });
        await joinMesh(url, { invite, identity, displayName: name });
        return identity;
      };
      const alice = await enroll('alice');
      const bob = await enroll('bob');
      const connect = async (identity: typeof alice) => {
        const c = new MeshClient({ url: `ws://127.0.0.1:${port}/ws`, meshId: created.mesh_id, identity, meshKey, backoff: { initialMs: 50, maxMs: 300 }, resendAfterMs: 2_000 });
        clients.push(c);
        await c.connect();
        return c;
      };
      const a = await connect(alice);
      const b = await connect(bob);
      const surfaced: InboundMessage[] = [];
      b.on('message', (m) => surfaced.push(m));

      const total = 400;
      const acks = new Map<string, Ack>();
      const sends: Array<Promise<void>> = [];
      let ackedBeforeKill = -1;
      for (let i = 0; i < total; i++) {
        sends.push(a.send('bob', `crash-msg-${i}`, { id: `crash-${String(i).padStart(6, '0')}` }).then((ack) => void acks.set(ack.id, ack)));
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
        if (i === 250) {
          // Kill only once acks have started, so acked and unacked sends are both in flight.
          await waitFor(() => acks.size > 0, 'first acks before the kill', 20_000);
          ackedBeforeKill = acks.size;
          await broker.kill('SIGKILL');
          broker = new BrokerProcess(env);
          await broker.start();
        }
      }
      // The kill hit live traffic: some sends were acked before it, some were still in flight.
      expect(ackedBeforeKill).toBeGreaterThan(0);
      expect(ackedBeforeKill).toBeLessThan(251);
      await Promise.all(sends);
      expect(acks.size).toBe(total);
      await waitFor(() => surfaced.length >= total, `all ${total} messages at bob (got ${surfaced.length})`, 60_000);
      await new Promise((r) => setTimeout(r, 300));

      const texts = surfaced.map((m) => m.text);
      expect(new Set(texts).size).toBe(total);
      expect(texts.length).toBe(total);
      const surfacedIds = new Set(surfaced.map((m) => m.messageId));
      for (const ack of acks.values()) expect(surfacedIds.has(ack.message_id)).toBe(true);
    } finally {
      for (const c of clients) await c.close();
      await broker.kill('SIGKILL');
      await pg?.drop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
