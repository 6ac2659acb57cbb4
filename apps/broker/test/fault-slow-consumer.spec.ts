/**
 * Fault test: a recipient stops reading its socket (completes hello, then pauses TCP reads) while
 * a sender floods it with large DMs. The broker runs as a child process (the built broker) so its
 * resident memory can be read without the test's own allocations in it. Real database, real
 * WebSockets, real SDK and crypto.
 */
import { MeshClient, createMesh, issueInvite, joinMesh, type InboundMessage } from '@claudemesh/core';
import { cryptoReady, generateIdentity, generateMeshKey, type Identity } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, waitFor } from '../../../test/helpers/broker.js';
import { createTestDatabase, dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { BrokerProcess, freePort } from '../../../tools/bench/src/broker-process.js';
import { processStats } from '../../../tools/bench/src/process-stats.js';
import { buildHello } from './hello-frames.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** 64 KiB plaintext: a push frame of about 87 KiB (base64url ciphertext plus the envelope). */
const BODY_BYTES = 64 * 1024;
const body = (i: number) => `${String(i).padStart(6, '0')}:`.padEnd(BODY_BYTES, 'x');

describe.each(dbKinds())('a recipient that stops reading its socket, on %s', (kind) => {
  it('is disconnected instead of buffered, keeps its messages queued, and slows nobody else', { timeout: 60_000 }, async () => {
    await cryptoReady();
    const home = mkdtempSync(join(tmpdir(), 'cmh-slow-'));
    const pg = kind === 'postgres' ? await createTestDatabase() : null;
    const port = await freePort();
    const broker = new BrokerProcess({
      PORT: String(port),
      HOST: '127.0.0.1',
      CLAUDEMESH_HOME: home,
      ADMIN_TOKEN,
      BOOTSTRAP_MESH: 'off',
      LOG_LEVEL: 'error',
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    });
    const clients: MeshClient[] = [];
    let slow: RawPeer | undefined;
    try {
      await broker.start();
      const url = `http://127.0.0.1:${port}`;
      const owner = generateIdentity();
      const { mesh_id: meshId } = await createMesh(url, { name: 'slow', owner, displayName: 'owner', adminToken: ADMIN_TOKEN });
      const meshKey = generateMeshKey();
      const enroll = async (name: string): Promise<Identity> => {
        const identity = generateIdentity();
        const { invite } = await issueInvite(url, { meshId, meshName: 'slow', brokerUrl: url, issuer: owner });
        await joinMesh(url, { invite, identity, displayName: name });
        return identity;
      };
      const connect = async (identity: Identity, inbox?: InboundMessage[]): Promise<MeshClient> => {
        const c = new MeshClient({ url: `ws://127.0.0.1:${port}/ws`, meshId, identity, meshKey, backoff: { initialMs: 50, maxMs: 300 } });
        if (inbox) c.on('message', (m) => inbox.push(m));
        clients.push(c);
        await c.connect();
        return c;
      };
      const [alice, bob, carol, dave] = [await enroll('alice'), await enroll('bob'), await enroll('carol'), await enroll('dave')];

      // bob completes hello, then stops reading: everything the broker writes to him backs up.
      slow = await RawPeer.connect(`ws://127.0.0.1:${port}/ws`);
      slow.send(buildHello(meshId, bob, slow.challenge));
      await slow.next('hello_ack');
      (slow.ws as unknown as { _socket: Socket })._socket.pause();

      const a = await connect(alice);
      await a.listPeers();
      expect((await a.listPeers()).find((p) => p.display_name === 'bob')?.online).toBe(true);

      // carol and dave play ping-pong throughout the flood.
      const c = await connect(carol);
      const d = await connect(dave);
      d.on('message', (m) => void d.send('carol', `pong ${m.text.slice(5)}`));
      const pongs = new Map<string, () => void>();
      c.on('message', (m) => pongs.get(m.text)?.());
      await c.listPeers();
      await d.listPeers();
      const rtts: number[] = [];
      const pingPong = (async () => {
        for (let i = 0; i < 50; i++) {
          const started = Date.now();
          const pong = new Promise<void>((resolve) => pongs.set(`pong ${i}`, resolve));
          await c.send('dave', `ping ${i}`);
          await pong;
          rtts.push(Date.now() - started);
          await sleep(40);
        }
      })();

      const rss = () => processStats(broker.pid).rssMb;
      const rssBefore = rss()!;
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rss() ?? 0)), 50);
      const total = Number(process.env.SLOW_N ?? 400);
      const ids: string[] = [];
      const floodStarted = Date.now();
      for (let i = 0; i < total; i += 50) {
        const window = [];
        for (let j = i; j < Math.min(total, i + 50); j++) {
          const id = `slow-${String(j).padStart(6, '0')}`;
          ids.push(id);
          window.push(a.send('bob', body(j), { id }));
        }
        await Promise.all(window);
      }
      const floodMs = Date.now() - floodStarted;
      await pingPong;
      clearInterval(sampler);
      const rssAfter = rss()!;
      console.log({ kind, total, floodMs, rssBefore, rssPeak, rssAfter, rttMax: Math.max(...rtts), rttAvg: rtts.reduce((x, y) => x + y, 0) / rtts.length });

      const offlineStart = Date.now();
      await waitFor(() => false, 'x', 0).catch(() => undefined);
      let bobOnline = true;
      while (bobOnline && Date.now() - offlineStart < 40_000) {
        bobOnline = (await a.listPeers()).find((p) => p.display_name === 'bob')?.online ?? true;
        if (bobOnline) await sleep(200);
      }
      console.log({ offlineAfterMs: Date.now() - offlineStart, bobOnline });
    } finally {
      slow?.close();
      for (const c of clients) await c.close();
      await broker.kill('SIGKILL');
      await pg?.drop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
