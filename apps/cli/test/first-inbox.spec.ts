import { MeshClient, issueInvite, loadMeshes, saveMesh } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

  it('answers from what this machine holds, with a note naming the broker, when the queue never arrives', { timeout: 60_000 }, async () => {
    const joinedHome = home();
    expect((await cli(joinedHome, ['join', await invite(), '--name', 'cutoff'])).code).toBe(0);
    const cut = home();
    saveMesh(cut, { ...loadMeshes(joinedHome)[0]!, broker_url: 'http://127.0.0.1:9' });
    const env = { CLAUDEMESH_INBOX_WAIT_MS: '300' };
    // Twice: the call that starts the daemon, then one through the running daemon (fast path).
    for (let i = 0; i < 2; i++) {
      const r = await cli(cut, ['inbox'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('(no messages)\n');
      expect(r.stderr).toMatch(/^claudemesh: the broker at http:\/\/127\.0\.0\.1:9 did not hand over your queued messages within 0\.3 s \(unreachable\?\)/);
    }
    expect(JSON.parse((await cli(cut, ['daemon', 'status', '--json'])).stdout)).toMatchObject({ running: true });
  });
});
