import { decodeBody, issueInvite, type InboundMessage, type MeshClient } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { cli } from './helpers/cli.js';

/** Through the daemon's fast path, the command tree through the daemon, and a direct connection. */
const PATHS: Array<[string, Record<string, string>]> = [
  ['fast path', { CLAUDEMESH_FAST: 'only' }],
  ['command tree', { CLAUDEMESH_FAST: 'off' }],
  ['no daemon', { CLAUDEMESH_DAEMON: 'off' }],
];

/**
 * Peer names as people type them (issue 12 item 6): a name in another case resolves when one member
 * has it; a name that matches none is "not found" (exit 4) for every verb, with the close names; two
 * members that differ only in case are never guessed between.
 */
describe('peer names typed by hand', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let home: string;
  let owner: MeshClient;
  const inbox: InboundMessage[] = [];

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'names-mesh');
    await addMember(tb, mesh, 'Dana');
    await addMember(tb, mesh, 'dana');
    home = mkdtempSync(join(tmpdir(), 'cmh-names-'));
    const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
    expect((await cli(home, ['join', encodeInviteLink(invite, mesh.meshKey), '--name', 'erin'])).code).toBe(0);
    owner = await connectClient(tb, mesh, mesh.owner, {}, inbox);
    expect((await cli(home, ['daemon', 'start'])).code).toBe(0);
  });
  afterAll(async () => {
    await cli(home, ['daemon', 'stop']);
    await owner?.close();
    await tb?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('sends to a name typed in another case when one member has it, and says whom it went to', { timeout: 90_000 }, async () => {
    for (const [how, env] of PATHS) {
      const r = await cli(home, ['send', 'OWNER', `shouted by ${how}`], env);
      expect(r.code, `${how}: ${r.stderr}`).toBe(0);
      expect(r.stdout, how).toMatch(/^sent to owner \(message \d+/);
      expect(r.stderr, how).toBe('');
    }
    await waitFor(() => inbox.length === PATHS.length, 'the three messages at the owner');
    expect(inbox.map((m) => decodeBody(m.text).text)).toEqual(PATHS.map(([how]) => `shouted by ${how}`));
  });

  it('answers an unknown name with exit 4 and the close names, the same for send and peer verify', { timeout: 90_000 }, async () => {
    const expected = 'claudemesh: no peer named "ownr" in this mesh; did you mean owner? [E_UNKNOWN_TARGET]\n  next: see who is there: claudemesh peer list\n';
    for (const [how, env] of PATHS) expect(await cli(home, ['send', 'ownr', 'hi'], env), how).toEqual({ code: 4, stdout: '', stderr: expected });
    const verify = await cli(home, ['peer', 'verify', 'ownr']);
    expect(verify).toMatchObject({ code: 4, stdout: '' });
    expect(verify.stderr).toContain('no peer named "ownr" in this mesh; did you mean owner?');
    const grant = await cli(home, ['peer', 'grant', 'ownr', 'state-write']);
    expect(grant.code).toBe(4);
    // A name typed in another case is found there too.
    expect(JSON.parse((await cli(home, ['peer', 'verify', 'Owner', '--json'])).stdout)).toMatchObject({ peer: 'owner' });
  });

  it('does not guess between two members whose names differ only in case', { timeout: 60_000 }, async () => {
    for (const [how, env] of PATHS) {
      const r = await cli(home, ['send', 'DANA', 'which one?'], env);
      expect(r.code, how).toBe(4);
      expect(r.stderr, how).toContain('no peer named "DANA"; several differ from it only in case: Dana, dana (names are exact)');
    }
    expect((await cli(home, ['send', 'dana', 'the exact name works'])).code).toBe(0);
  });
});
