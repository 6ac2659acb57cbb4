import { issueInvite } from '@claudemesh/core';
import { cryptoReady, encodeInviteLink } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../src/store/local-store.js';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { cli, json } from './helpers/cli.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };
const SLOW = 120_000;

interface Grant {
  peer: string;
  display_name: string;
  capabilities: string[];
  blocked: boolean;
}
interface Line {
  message_id: string;
  from_name: string;
  text: string;
}

/** peer grant|revoke|block|unblock|grants and state set|get|list, through the real CLI against a live broker. */
describe('claudemesh peer grants and shared state', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const homes: string[] = [];
  const home = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-grants-'));
    homes.push(h);
    return h;
  };
  const who = {} as Record<'alice' | 'bob' | 'carol', string>;
  const run = (name: keyof typeof who, args: string[], env: Record<string, string> = {}) => cli(who[name], args, { ...direct, ...env });
  /** Bob's inbox after waiting `wait` s at the broker: who sent what. */
  const inboxOf = async (name: keyof typeof who, wait = 1): Promise<Line[]> => {
    const r = await run(name, ['inbox', '--all', '--wait', String(wait), '--json']);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line) : [];
  };
  const texts = (lines: Line[]) => lines.map((l) => `${l.from_name}: ${l.text}`);

  beforeAll(async () => {
    await cryptoReady();
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'grants-cli');
    for (const name of ['alice', 'bob', 'carol'] as const) {
      who[name] = home();
      const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
      const joined = await cli(who[name], ['join', encodeInviteLink(invite, mesh.meshKey), '--name', name], direct);
      expect(joined.code, joined.stderr).toBe(0);
    }
  }, SLOW);
  afterAll(async () => {
    await cli(who.bob, ['daemon', 'stop']).catch(() => undefined);
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('block drops a peer’s DMs at the broker while others still arrive; unblock lets them through again', async () => {
    const blocked = json<Grant>(await run('bob', ['peer', 'block', 'alice', '--json']));
    expect(blocked).toMatchObject({ display_name: 'alice', blocked: true, capabilities: [] });
    const listed = json<{ defaults: string[]; grants: Grant[] }>(await run('bob', ['peer', 'grants', '--json']));
    expect(listed.defaults).toEqual(['dm', 'broadcast', 'read', 'state-read']);
    expect(listed.grants.map((g) => [g.display_name, g.blocked])).toEqual([['alice', true]]);

    expect((await run('alice', ['send', 'bob', 'while blocked'])).code).toBe(0); // silent to the sender
    expect((await run('carol', ['send', 'bob', 'from carol'])).code).toBe(0);
    expect(texts(await inboxOf('bob'))).toEqual(['carol: from carol']);
    // alice sees bob offline while blocked
    const peers = json<Array<{ display_name: string; online: boolean; sessions: unknown[] }>>(await run('alice', ['peer', 'list', '--json']));
    expect(peers.find((p) => p.display_name === 'bob')).toMatchObject({ online: false, sessions: [] });

    const unblocked = json<Grant>(await run('bob', ['peer', 'unblock', 'alice', '--json']));
    expect(unblocked).toMatchObject({ blocked: false, capabilities: ['broadcast', 'dm', 'read', 'state-read'] });
    expect(json<{ grants: Grant[] }>(await run('bob', ['peer', 'grants', '--json'])).grants).toEqual([]);
    expect((await run('alice', ['send', 'bob', 'after unblock'])).code).toBe(0);
    expect(texts(await inboxOf('bob'))).toEqual(['carol: from carol', 'alice: after unblock']);
  }, SLOW);

  it('revoke broadcast keeps DMs but leaves bob out of alice’s * fan-out; grant all restores and adds state-write', async () => {
    const revoked = json<Grant>(await run('bob', ['peer', 'revoke', 'alice', 'broadcast', '--json']));
    expect(revoked.capabilities).toEqual(['dm', 'read', 'state-read']);
    expect((await run('alice', ['send', '*', 'to everyone'])).code).toBe(0);
    expect((await run('alice', ['send', 'bob', 'just you'])).code).toBe(0);
    expect(texts(await inboxOf('carol'))).toContain('alice: to everyone');
    const bob = texts(await inboxOf('bob'));
    expect(bob).toContain('alice: just you');
    expect(bob).not.toContain('alice: to everyone');

    const all = json<Grant>(await run('bob', ['peer', 'grant', 'alice', 'all', '--json']));
    expect(all.capabilities).toEqual(['broadcast', 'dm', 'read', 'state-read', 'state-write']);
  }, SLOW);

  it('refuses bad input with usage errors: unknown capability, none named, oneself, unknown peer', async () => {
    const unknown = await run('bob', ['peer', 'grant', 'alice', 'teleport']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown capability "teleport".*dm, broadcast, read, state-read, state-write/);
    expect((await run('bob', ['peer', 'revoke', 'alice'])).code).not.toBe(0);
    expect((await run('bob', ['peer', 'block', 'bob'])).code).toBe(2);
    expect((await run('bob', ['peer', 'block', 'nobody'])).code).toBe(4);
  }, SLOW);

  it('drops on the client too: a local block stops pushes even when the broker still delivers (direct and daemon)', async () => {
    // The broker says alice may DM bob (defaults after this), but bob's own copy says blocked.
    expect((await run('bob', ['peer', 'unblock', 'alice'])).code).toBe(0);
    const store = LocalStore.open(who.bob);
    try {
      store.replaceGrants(mesh.meshId, [{ peer: json<{ member_pubkey: string }>(await run('alice', ['whoami', '--json'])).member_pubkey, display_name: 'alice', capabilities: [], blocked: true, updated_at: Date.now() }]);
    } finally {
      store.close();
    }
    const before = (await inboxOf('bob', 0)).length;
    const sent = json<{ message_id: string }>(await run('alice', ['send', 'bob', 'dropped by bob’s client', '--json']));
    expect(texts(await inboxOf('bob'))).toHaveLength(before);
    // Confirmed to the broker all the same, so it is not pushed again forever.
    const status = json<Array<{ recipients: Array<{ state: string }> }>>(await run('alice', ['message', 'status', sent.message_id, '--json']));
    expect(status[0]!.recipients[0]!.state).toBe('delivered');

    // The daemon checks the same local copy on every push, and sees a change without a restart.
    expect((await cli(who.bob, ['daemon', 'start'])).code).toBe(0);
    expect((await run('alice', ['send', 'bob', 'dropped by bob’s daemon'])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(texts(await inboxOf('bob', 0))).not.toContain('alice: dropped by bob’s daemon');
    const fresh = LocalStore.open(who.bob);
    try {
      fresh.replaceGrants(mesh.meshId, []);
    } finally {
      fresh.close();
    }
    expect((await run('alice', ['send', 'bob', 'accepted by bob’s daemon'])).code).toBe(0);
    const deadline = Date.now() + 10_000;
    while (!texts(await inboxOf('bob', 0)).includes('alice: accepted by bob’s daemon')) {
      if (Date.now() > deadline) throw new Error('the daemon never stored the accepted message');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await cli(who.bob, ['daemon', 'stop'])).code).toBe(0);
  }, SLOW);

  it('shared state: owners write, peers read by default, writing needs state-write, revoking state-read hides it', async () => {
    const set = json<{ version: number }>(await run('alice', ['state', 'set', 'plan', 'step 1', '--json']));
    expect(set.version).toBe(1);
    expect((await run('carol', ['state', 'get', 'plan', '--owner', 'alice'])).stdout.trim()).toBe('step 1');

    const refused = await run('carol', ['state', 'set', 'plan', 'hijack', '--owner', 'alice']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/has not granted you state-write.*claudemesh peer grant/);

    expect((await run('alice', ['peer', 'grant', 'carol', 'state-write'])).code).toBe(0);
    expect(json<{ version: number }>(await run('carol', ['state', 'set', 'plan', 'step 2', '--owner', 'alice', '--json'])).version).toBe(2);
    const listed = json<Array<{ owner_name: string; key: string; version: number; value: string; updated_by: string }>>(await run('alice', ['state', 'list', '--json']));
    const carolKey = json<{ member_pubkey: string }>(await run('carol', ['whoami', '--json'])).member_pubkey;
    expect(listed).toEqual([expect.objectContaining({ owner_name: 'alice', key: 'plan', version: 2, value: 'step 2', updated_by: carolKey })]);

    expect((await run('alice', ['peer', 'revoke', 'carol', 'state-read'])).code).toBe(0);
    expect((await run('carol', ['state', 'get', 'plan', '--owner', 'alice'])).code).toBe(4);
    expect(json<unknown[]>(await run('carol', ['state', 'list', '--json']))).toEqual([]);
    expect((await run('bob', ['state', 'get', 'plan', '--owner', 'alice'])).stdout.trim()).toBe('step 2');
  }, SLOW);
});
