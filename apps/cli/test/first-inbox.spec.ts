import { MeshClient, issueInvite, loadMeshes, saveMesh } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { cli } from './helpers/cli.js';

/**
 * The first `inbox` of a peer that never ran a daemon: the verb starts the daemon, whose session
 * must drain the broker's offline queue into the local inbox before the verb answers.
 */
describe('the first inbox after joining', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let owner: MeshClient;
  const homes: string[] = [];
  const home = () => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-first-'));
    homes.push(h);
    return h;
  };
  const invite = async () => encodeInviteLink((await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner })).invite, mesh.meshKey);

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'first-hour');
    owner = await connectClient(tb, mesh, mesh.owner);
  });
  afterAll(async () => {
    for (const h of homes) await cli(h, ['daemon', 'stop']);
    await owner?.close();
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('lists every message that waited at the broker on the very call that starts the daemon, for five fresh peers in a row', { timeout: 180_000 }, async () => {
    for (let round = 0; round < 5; round++) {
      const h = home();
      const name = `newcomer${round}`;
      const joined = await cli(h, ['join', await invite(), '--name', name]);
      expect(joined.code, joined.stderr).toBe(0);
      const texts = [1, 2, 3].map((i) => `round ${round}, message ${i}`);
      for (const text of texts) await owner.send(name, text);
      expect(JSON.parse((await cli(h, ['daemon', 'status', '--json'])).stdout)).toEqual({ running: false });

      // Alternate the spellings people use: the plain text listing and --json.
      const first = await cli(h, round % 2 === 0 ? ['inbox'] : ['inbox', '--json']);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toBe('');
      if (round % 2 === 0) {
        for (const text of texts) expect(first.stdout).toContain(`owner: ${text}`);
        expect(first.stdout).not.toContain('(no messages)');
      } else {
        const listed = first.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
        expect(listed).toEqual(texts);
      }
      // The verb did start the daemon: the next call goes through it (the fast path) and agrees.
      expect(JSON.parse((await cli(h, ['daemon', 'status', '--json'])).stdout)).toMatchObject({ running: true });
      const again = await cli(h, ['inbox', '--json']);
      expect(again.stdout.trim().split('\n')).toHaveLength(3);
      expect((await cli(h, ['daemon', 'stop'])).code).toBe(0);
    }
  });

  it('answers at once from what this machine holds, naming the cause, when nothing listens at the broker', { timeout: 60_000 }, async () => {
    const joinedHome = home();
    expect((await cli(joinedHome, ['join', await invite(), '--name', 'refused'])).code).toBe(0);
    const cut = home();
    saveMesh(cut, { ...loadMeshes(joinedHome)[0]!, broker_url: 'http://127.0.0.1:9' });
    // Twice: the call that starts the daemon, then one through the running daemon (fast path).
    for (let i = 0; i < 2; i++) {
      const r = await cli(cut, ['inbox']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('(no messages)\n');
      expect(r.stderr).toBe('claudemesh: broker unreachable (connection refused: nothing listens at http://127.0.0.1:9); showing what reached this machine, more may wait at the broker\n');
    }
    expect(JSON.parse((await cli(cut, ['daemon', 'status', '--json'])).stdout)).toMatchObject({ running: true });
    expect((await cli(cut, ['daemon', 'stop'])).code).toBe(0);
  });

  it('answers from what this machine holds, with a note naming the broker, when the broker accepts but never hands the queue over', { timeout: 60_000 }, async () => {
    // A listener that accepts connections and never answers: the link is neither up nor refused.
    const sockets = new Set<Socket>();
    const silent = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const joinedHome = home();
      expect((await cli(joinedHome, ['join', await invite(), '--name', 'cutoff'])).code).toBe(0);
      const cut = home();
      saveMesh(cut, { ...loadMeshes(joinedHome)[0]!, broker_url: `http://127.0.0.1:${port}` });
      const env = { CLAUDEMESH_INBOX_WAIT_MS: '300' };
      for (let i = 0; i < 2; i++) {
        const r = await cli(cut, ['inbox'], env);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe('(no messages)\n');
        expect(r.stderr).toBe(`claudemesh: the broker at http://127.0.0.1:${port} did not hand over your queued messages within 0.3 s (unreachable?); this is what this machine holds, more may be waiting — run claudemesh inbox again later\n`);
      }
      expect((await cli(cut, ['daemon', 'stop'])).code).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
