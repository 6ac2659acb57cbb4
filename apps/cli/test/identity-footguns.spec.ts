import { MeshClient, issueInvite } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { cli, json } from './helpers/cli.js';
import { toDisplayName } from '../src/identity/default-name.js';

interface Me {
  display_name: string;
  peer_type: string;
  member_pubkey: string;
}

/** Names and presence a newcomer gets without asking: defaults that do not collide, and that last. */
describe('identity footguns', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let owner: MeshClient;
  const homes: string[] = [];
  const home = () => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-ident-'));
    homes.push(h);
    return h;
  };
  const invite = async () => encodeInviteLink((await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner })).invite, mesh.meshKey);
  const ownerSees = async (name: string) => (await owner.listPeers()).find((p) => p.display_name === name);

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'footguns');
    owner = await connectClient(tb, mesh, mesh.owner);
  });
  afterAll(async () => {
    for (const h of homes) await cli(h, ['daemon', 'stop']);
    await owner?.close();
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('turns any OS user name into a display name', () => {
    expect(toDisplayName('alice')).toBe('alice');
    expect(toDisplayName('Zoë Smith')).toBe('Zoe-Smith');
    expect(toDisplayName('DOMAIN\\bob')).toBe('DOMAIN-bob');
    expect(toDisplayName('_svc.build')).toBe('svc.build');
    expect(toDisplayName('x'.repeat(80))).toHaveLength(60);
    expect(toDisplayName('___')).toBeNull();
    expect(toDisplayName('李')).toBeNull();
  });

  it('names a join without --name and without a terminal after the OS user, made unique by a suffix, and says so', async () => {
    const env = { USER: 'Zoë Smith' };
    const first = await cli(home(), ['join', await invite()], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/joined "footguns" as Zoe-Smith \(member\)/);
    expect(first.stdout).toContain('named after your OS user, as no --name was given; to change it: claudemesh whoami rename <new-name>');

    const h2 = home();
    const second = await cli(h2, ['join', await invite(), '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(json<{ member: Me; name_source: string }>(second)).toMatchObject({ member: { display_name: 'Zoe-Smith-2' }, name_source: 'os-user' });
    const third = await cli(home(), ['join', await invite()], env);
    expect(third.stdout).toContain('Zoe-Smith was taken in this mesh, so you are Zoe-Smith-3');
    expect(await ownerSees('Zoe-Smith-3')).toBeDefined();

    // A name someone chose is never changed behind their back.
    const chosen = await cli(home(), ['join', await invite(), '--name', 'Zoe-Smith']);
    expect(chosen.code).toBe(1);
    expect(chosen.stderr).toMatch(/the display name Zoe-Smith is taken in this mesh \[E_NAME_TAKEN\]/);
  });

  it('joins a person at the terminal as peer_type human with --human', async () => {
    const h = home();
    const joined = await cli(h, ['join', await invite(), '--name', 'hannah', '--human']);
    expect(joined.code, joined.stderr).toBe(0);
    expect(joined.stdout).toMatch(/as hannah \(member, human\)/);
    expect(json<Me>(await cli(h, ['whoami', '--json'])).peer_type).toBe('human');
    expect((await ownerSees('hannah'))?.peer_type).toBe('human');
    const contradiction = await cli(home(), ['join', await invite(), '--name', 'x', '--human', '--peer-type', 'ai']);
    expect(contradiction.code).toBe(2);
  });

  it('renames with whoami rename and member rename: peers see it at once, DMs reach the new name, the old name is free', async () => {
    const h = home();
    expect((await cli(h, ['join', await invite(), '--name', 'peer'])).code).toBe(0);
    const renamed = await cli(h, ['whoami', 'rename', 'rita']);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stdout).toMatch(/renamed: you are rita in "footguns" \(was peer\)/);
    expect(json<Me>(await cli(h, ['whoami', '--json'])).display_name).toBe('rita');
    expect(await ownerSees('rita')).toBeDefined();
    expect(await ownerSees('peer')).toBeUndefined();
    await owner.send('rita', 'hello under the new name');
    const inbox = await cli(h, ['inbox']);
    expect(inbox.stdout).toContain('owner: hello under the new name');

    // The next newcomer may take the old name; taking a used one is refused, a bad one is a usage error.
    expect((await cli(home(), ['join', await invite(), '--name', 'peer'])).code).toBe(0);
    const taken = await cli(h, ['member', 'rename', 'peer']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/the display name peer is taken in "footguns" \[E_NAME_TAKEN\]/);
    expect((await cli(h, ['member', 'rename', '@oops'])).code).toBe(2);
    const back = await cli(h, ['member', 'rename', 'rita-2', '--json']);
    expect(json<{ previous: string; member: Me }>(back)).toMatchObject({ previous: 'rita', member: { display_name: 'rita-2' } });
  });

  it('keeps status and summary across a daemon restart', { timeout: 60_000 }, async () => {
    const h = home();
    expect((await cli(h, ['join', await invite(), '--name', 'steady'])).code).toBe(0);
    expect((await cli(h, ['status', 'set', 'dnd'])).code).toBe(0);
    expect((await cli(h, ['summary', 'set', 'reviewing the release'])).code).toBe(0);
    const sessions = async () => (await ownerSees('steady'))?.sessions ?? [];
    expect(await sessions()).toEqual([expect.objectContaining({ status: 'dnd', summary: 'reviewing the release' })]);

    expect((await cli(h, ['daemon', 'stop'])).code).toBe(0);
    await expect.poll(sessions, { timeout: 10_000 }).toEqual([]);
    expect((await cli(h, ['daemon', 'start'])).code).toBe(0);
    await expect.poll(sessions, { timeout: 15_000, interval: 100 }).toEqual([expect.objectContaining({ status: 'dnd', summary: 'reviewing the release' })]);
  });
});
