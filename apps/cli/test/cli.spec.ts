import { MeshClient, decodeBody, issueInvite, type InboundMessage } from '@claudemesh/core';
import { encodeInviteHttpsLink, encodeInviteLink, fromB64u, parseIdentity } from '@claudemesh/crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { cli } from './helpers/cli.js';



describe('claudemesh CLI against a live broker', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const homes: string[] = [];
  const home = () => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-cli-'));
    homes.push(h);
    return h;
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'cli-mesh');
  });
  afterAll(async () => {
    await tb?.close();
    // A daemon a run started may still be writing its last files as it exits: retry, as rm -rf would.
    for (const h of homes) rmSync(h, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  const invite = async () => (await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner })).invite;

  it('joins with an ic:// link, stores the keys 0600, lists peers and sends an encrypted DM', async () => {
    const bobHome = home();
    const joined = await cli(bobHome, ['join', encodeInviteLink(await invite(), mesh.meshKey), '--name', 'bob', '--json']);
    expect(joined.code).toBe(0);
    const result = JSON.parse(joined.stdout) as { mesh_id: string; file: string; member: { display_name: string } };
    expect(result).toMatchObject({ mesh_id: mesh.meshId, member: { display_name: 'bob' } });
    expect(statSync(result.file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(result.file, 'utf8')) as { mesh_key: string; identity: { v: 1; seed: string; public_key: string } };
    expect(fromB64u(stored.mesh_key)).toEqual(mesh.meshKey);

    // The owner listens through the SDK; bob talks through the CLI.
    const inbox: InboundMessage[] = [];
    const owner = new MeshClient({ url: tb.wsUrl, meshId: mesh.meshId, identity: mesh.owner, meshKey: mesh.meshKey });
    owner.on('message', (m) => inbox.push(m));
    await owner.connect();
    const peers = await cli(bobHome, ['peers', '--json']);
    expect(peers.code).toBe(0);
    expect((JSON.parse(peers.stdout) as Array<{ display_name: string; online: boolean }>).map((p) => [p.display_name, p.online])).toEqual([
      ['owner', true],
      ['bob', true],
    ]);
    const sent = await cli(bobHome, ['send', 'owner', 'hello', 'from', 'the', 'cli']);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/sent to owner/);
    await waitFor(() => inbox.length === 1, 'the DM at the owner');
    expect(decodeBody(inbox[0]!.text).text).toBe('hello from the cli');
    expect(inbox[0]).toMatchObject({ kind: 'dm', from: { displayName: 'bob', memberPubkey: parseIdentity(stored.identity).publicKey } });

    await owner.send('bob', 'reply for the inbox');
    await owner.send('*', 'broadcast for the inbox');
    const received = await cli(bobHome, ['inbox']);
    expect(received.code).toBe(0);
    expect(received.stdout).toContain('owner: reply for the inbox');
    expect(received.stdout).toContain('owner → *: broadcast for the inbox');
    // Peeking marks nothing read: the same messages again, then --read, then nothing unread.
    expect((await cli(bobHome, ['inbox'])).stdout).toContain('owner: reply for the inbox');
    expect((await cli(bobHome, ['message', 'inbox', '--read'])).stdout).toContain('owner: reply for the inbox');
    expect((await cli(bobHome, ['inbox'])).stdout).toContain('(no messages)');
    expect((await cli(bobHome, ['inbox', '--all'])).stdout).toContain('owner: reply for the inbox');
    await owner.close();
  });

  it('joins with the https form of the link', async () => {
    const h = home();
    const joined = await cli(h, ['join', encodeInviteHttpsLink(await invite(), mesh.meshKey), '--name', 'carol']);
    expect(joined.code).toBe(0);
    expect(joined.stdout).toMatch(/joined "cli-mesh" as carol/);
  });

  it('fails with exit codes and messages that say what to do next', async () => {
    const empty = home();
    const none = await cli(empty, ['peers']);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/claudemesh join/);
    const bad = await cli(empty, ['join', 'not-a-link']);
    expect(bad.code).toBe(2);
    const bobHome = homes[0]!;
    // An unknown peer is "not found" (4) for every verb, with the close names.
    const unknown = await cli(bobHome, ['send', 'nobody', 'hi']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/E_UNKNOWN_TARGET/);
    const typo = await cli(bobHome, ['send', 'ownr', 'hi']);
    expect(typo.code).toBe(4);
    expect(typo.stderr).toContain('no peer named "ownr" in this mesh; did you mean owner?');
  });
});
