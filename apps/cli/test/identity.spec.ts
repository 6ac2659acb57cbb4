import { createMesh, loadMeshes, revokeShortInvite, saveMesh } from '@claudemesh/core';
import {
  cryptoReady, deriveIdentity, encodeInviteLink, fromB64u, generateIdentity, generateInviteCode, generateMeshKey, parseIdentity, parseInviteLink,
  serializeIdentity, toB64u,
} from '@claudemesh/crypto';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';

const CLI = fileURLToPath(new URL('../bin/claudemesh.js', import.meta.url));
const run = promisify(execFile);
type Result = { code: number; stdout: string; stderr: string };

/** The real CLI in its own process; no daemon, so every verb talks to the broker itself. */
async function cli(home: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, CLAUDEMESH_HOME: home, CLAUDEMESH_DAEMON: 'off', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The CLI with `input` on its stdin (for `identity import -`). */
function cliWithStdin(home: string, args: string[], input: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CLAUDEMESH_HOME: home, CLAUDEMESH_DAEMON: 'off' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const json = <T>(r: Result): T => {
  if (r.code !== 0) throw new Error(`CLI failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};
const mode = (file: string): number => statSync(file).mode & 0o777;
const accountSeed = (home: string): Uint8Array => fromB64u((JSON.parse(readFileSync(join(home, 'account.json'), 'utf8')) as { seed: string }).seed);
const inboxTexts = async (home: string, mesh: string): Promise<string[]> =>
  (await cli(home, ['inbox', '--mesh', mesh, '--json'])).stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);

describe('identity across machines, and joining with short codes, through the CLI', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const home = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-identity-'));
    homes.push(h);
    return h;
  };
  let alice: string;
  let bob: string;
  let exportFile: string;
  let meshId: string;
  let legacyMeshId: string;

  beforeAll(async () => {
    await cryptoReady();
    tb = await startTestBroker('embedded');
    alice = home();
    bob = home();
    exportFile = join(home(), 'alice.identity');
  });
  afterAll(async () => {
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('init creates one account seed (0600) and refuses to replace it without --force', async () => {
    const h = home();
    const first = json<{ file: string; account_pubkey: string }>(await cli(h, ['init', '--json']));
    expect(first.file).toBe(join(h, 'account.json'));
    expect(mode(first.file)).toBe(0o600);
    const before = readFileSync(first.file, 'utf8');
    const again = await cli(h, ['init']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/an account already exists .*claudemesh init --force/);
    expect(readFileSync(first.file, 'utf8')).toBe(before);
    const forced = json<{ account_pubkey: string; replaced: boolean }>(await cli(h, ['init', '--force', '--json']));
    expect(forced.replaced).toBe(true);
    expect(forced.account_pubkey).not.toBe(first.account_pubkey);
  });

  it('derives the owner key at mesh create and the joiner key at a short-link join (creating the joiner’s account)', async () => {
    // A mesh joined before the account existed keeps its own random key.
    const legacyOwner = generateIdentity();
    const legacy = await createMesh(tb.url, { name: 'legacy', owner: legacyOwner, displayName: 'alice-old', adminToken: ADMIN_TOKEN });
    legacyMeshId = legacy.mesh_id;
    saveMesh(alice, {
      v: 1, mesh_id: legacy.mesh_id, mesh_name: 'legacy', broker_url: tb.url, display_name: 'alice-old', role: 'owner', peer_type: 'ai',
      identity: serializeIdentity(legacyOwner), mesh_key: toB64u(generateMeshKey()), joined_at: Date.now(),
    });
    expect((await cli(alice, ['init'])).code).toBe(0);
    const created = json<{ mesh_id: string }>(await cli(alice, ['mesh', 'create', 'derived', '--broker', tb.url, '--name', 'alice', '--json'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN }));
    meshId = created.mesh_id;
    const me = json<{ member_pubkey: string }>(await cli(alice, ['whoami', '--mesh', 'derived', '--json']));
    expect(me.member_pubkey).toBe(deriveIdentity(accountSeed(alice), `mesh:${meshId}`).publicKey);
    const shown = json<{ meshes: Array<{ mesh_name: string; derived: boolean }> }>(await cli(alice, ['identity', 'show', '--json']));
    expect(Object.fromEntries(shown.meshes.map((m) => [m.mesh_name, m.derived]))).toEqual({ legacy: false, derived: true });

    const invite = json<{ link: string; code: string; version: number; max_uses: number }>(await cli(alice, ['mesh', 'invite', '--mesh', 'derived', '--uses', '5', '--json']));
    expect(invite.version).toBe(2);
    expect(invite.link).toBe(`${tb.url}/i/${invite.code}`);
    expect(invite.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
    const text = await cli(alice, ['mesh', 'invite', '--mesh', 'derived']);
    expect(text.stdout.split('\n')[1]).toMatch(/^ {2}http:\/\/127\.0\.0\.1:\d+\/i\/[0-9A-Z-]{19}$/);

    expect(existsSync(join(bob, 'account.json'))).toBe(false);
    const joined = json<{ account_created: boolean; has_mesh_key: boolean; member: { member_pubkey: string; role: string } }>(
      await cli(bob, ['join', invite.link, '--name', 'bob', '--json']),
    );
    expect(joined).toMatchObject({ account_created: true, has_mesh_key: true, member: { role: 'member' } });
    expect(mode(join(bob, 'account.json'))).toBe(0o600);
    expect(joined.member.member_pubkey).toBe(deriveIdentity(accountSeed(bob), `mesh:${meshId}`).publicKey);
  });

  it('export on one home and import on another recreate the same member key per mesh, which sends and receives', async () => {
    const exported = await cli(alice, ['identity', 'export', '--out', exportFile]);
    expect(exported.code).toBe(0);
    expect(mode(exportFile)).toBe(0o600);
    const text = readFileSync(exportFile, 'utf8');
    expect(text).toMatch(/-----BEGIN CLAUDEMESH IDENTITY-----\nVersion: 1\nChecksum: sha256 [0-9a-f]{64}\n/);
    expect((await cli(alice, ['identity', 'export', '--out', exportFile])).code).toBe(2);

    const laptop = home();
    const imported = json<{ meshes: Array<{ mesh_id: string }> }>(await cli(laptop, ['identity', 'import', exportFile, '--json']));
    expect(imported.meshes.map((m) => m.mesh_id).sort()).toEqual([meshId, legacyMeshId].sort());
    expect(mode(join(laptop, 'account.json'))).toBe(0o600);
    for (const file of readdirSync(join(laptop, 'meshes'))) expect(mode(join(laptop, 'meshes', file))).toBe(0o600);
    for (const mesh of ['derived', 'legacy']) {
      const there = json<{ member_pubkey: string; has_mesh_key: boolean; display_name: string }>(await cli(alice, ['whoami', '--mesh', mesh, '--json']));
      const here = json<{ member_pubkey: string; has_mesh_key: boolean; display_name: string }>(await cli(laptop, ['whoami', '--mesh', mesh, '--json']));
      expect(here).toEqual(there);
    }
    const accounts = await Promise.all([alice, laptop].map(async (h) => json<{ account_pubkey: string }>(await cli(h, ['identity', 'show', '--json'])).account_pubkey));
    expect(accounts[1]).toBe(accounts[0]);

    // The second machine acts as alice: a DM and a broadcast reach bob, bob's reply reaches it.
    expect((await cli(laptop, ['send', '--mesh', 'derived', 'bob', 'hello from the laptop'])).code).toBe(0);
    expect((await cli(laptop, ['send', '--mesh', 'derived', '*', 'all hands, from the laptop'])).code).toBe(0);
    await eventually(async () => (await inboxTexts(bob, 'derived')).length >= 2, 'both messages at bob');
    expect(await inboxTexts(bob, 'derived')).toEqual(['hello from the laptop', 'all hands, from the laptop']);
    expect((await cli(bob, ['send', 'alice', 'got it'])).code).toBe(0);
    await eventually(async () => (await inboxTexts(laptop, 'derived')).includes('got it'), 'the reply on the laptop');

    // Importing the same export again is harmless: same account, same keys.
    expect((await cli(laptop, ['identity', 'import', exportFile])).code).toBe(0);
  });

  it('exports to stdout with a warning, and imports from stdin', async () => {
    const out = await cli(alice, ['identity', 'export']);
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/SECRET/);
    const h = home();
    expect((await cliWithStdin(h, ['identity', 'import', '-'], out.stdout)).code).toBe(0);
    expect(loadMeshes(h).map((m) => m.mesh_id).sort()).toEqual([meshId, legacyMeshId].sort());
  });

  it('refuses a corrupted, truncated or newer export with a clear error and writes nothing', async () => {
    const text = readFileSync(exportFile, 'utf8');
    const lines = text.split('\n');
    const body = lines.findIndex((l) => l === '') + 1;
    const flipped = [...lines];
    flipped[body] = flipped[body]!.replace(/^(.{5})(.)/, (_, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'));
    const cases: Array<[string, string, RegExp, number]> = [
      ['flipped', flipped.join('\n'), /corrupted \(checksum mismatch/, 1],
      ['truncated', lines.filter((_, i) => i !== body + 1).join('\n'), /corrupted/, 1],
      ['no checksum', lines.filter((l) => !l.startsWith('Checksum:')).join('\n'), /corrupted \(no Checksum line\)/, 1],
      ['newer', text.replace('Version: 1', 'Version: 2'), /version 2; this claudemesh reads version 1/, 1],
      ['not an export', 'hello\n', /not a claudemesh identity export/, 2],
    ];
    for (const [label, content, message, code] of cases) {
      const h = home();
      const file = join(h, `${label}.identity`);
      writeFileSync(file, content);
      const r = await cli(h, ['identity', 'import', file]);
      expect(r.code, label).toBe(code);
      expect(r.stderr, label).toMatch(message);
      expect(readdirSync(h), label).toEqual([`${label}.identity`]);
    }
  });

  it('refuses to replace a different account without --force, writing nothing, and replaces it with --force', async () => {
    const h = home();
    const own = json<{ account_pubkey: string }>(await cli(h, ['init', '--json']));
    const refused = await cli(h, ['identity', 'import', exportFile]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/different account .*nothing was written/);
    expect(existsSync(join(h, 'meshes'))).toBe(false);
    expect(json<{ account_pubkey: string }>(await cli(h, ['identity', 'show', '--json'])).account_pubkey).toBe(own.account_pubkey);
    expect((await cli(h, ['identity', 'import', exportFile, '--force'])).code).toBe(0);
    expect(json<{ account_pubkey: string }>(await cli(h, ['identity', 'show', '--json'])).account_pubkey).not.toBe(own.account_pubkey);
  });

  it('join explains each refusal with its code and what to do next; v1 links and bare codes keep working', async () => {
    const carol = home();
    const issue = async (args: string[] = []) => json<{ link: string; code: string; invite_id: string }>(await cli(alice, ['mesh', 'invite', '--mesh', 'derived', '--json', ...args]));

    const malformed = await cli(carol, ['join', 'ABCD-EFGH', '--broker', tb.url]);
    expect([malformed.code, malformed.stderr]).toEqual([2, expect.stringMatching(/invite code is malformed .*16 characters/)]);
    expect((await cli(carol, ['join', 'ABCD-EFGH-JKMN-PQRU', '--broker', tb.url])).stderr).toMatch(/no character "U"/);
    expect((await cli(carol, ['join', `${tb.url}/i/ABCD`])).code).toBe(2);
    const noBroker = await cli(carol, ['join', 'ABCD-EFGH-JKMN-PQRS']);
    expect([noBroker.code, noBroker.stderr]).toEqual([2, expect.stringMatching(/needs its broker: .*--broker <url>/)]);
    expect((await cli(carol, ['join', 'not an invite at all'])).code).toBe(2);

    const unknown = await cli(carol, ['join', generateInviteCode(), '--broker', tb.url]);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/no invite matches this code .*\[E_INVITE_NOT_FOUND\]\n {2}next: check the code for typos/)]);

    const once = await issue(['--uses', '1']);
    expect((await cli(home(), ['join', once.link, '--name', 'dave'])).code).toBe(0);
    expect((await cli(carol, ['join', once.link, '--name', 'carol'])).stderr).toMatch(/no uses left \[E_INVITE_EXHAUSTED\]\n {2}next: ask the mesh owner/);

    const revoked = await issue();
    const owner = parseIdentity(loadMeshes(alice).find((m) => m.mesh_id === meshId)!.identity);
    await revokeShortInvite(tb.url, owner, meshId, revoked.invite_id);
    expect((await cli(carol, ['join', revoked.link, '--name', 'carol'])).stderr).toMatch(/has been revoked \[E_INVITE_REVOKED\]/);

    const brief = await issue(['--ttl', '0.0003']);
    await new Promise((r) => setTimeout(r, 1200));
    expect((await cli(carol, ['join', brief.link, '--name', 'carol'])).stderr).toMatch(/has expired \[E_INVITE_EXPIRED\]/);

    const v1 = json<{ v1_link: string; version: number }>(await cli(alice, ['mesh', 'invite', '--mesh', 'derived', '--v1', '--json']));
    expect(v1.version).toBe(1);
    const { invite, meshKey } = parseInviteLink(v1.v1_link);
    const tampered = encodeInviteLink({ ...invite, payload: { ...invite.payload, max_uses: 1000 } }, meshKey);
    const forged = await cli(carol, ['join', tampered, '--name', 'carol']);
    expect([forged.code, forged.stderr]).toEqual([1, expect.stringMatching(/does not verify.*\[E_INVITE_INVALID\]\n {2}next: ask the mesh owner for a fresh invite/)]);

    expect(json<{ has_mesh_key: boolean }>(await cli(carol, ['join', v1.v1_link, '--name', 'carol', '--json'])).has_mesh_key).toBe(true);
    expect(json<{ member_pubkey: string }>(await cli(carol, ['whoami', '--json'])).member_pubkey).toBe(deriveIdentity(accountSeed(carol), `mesh:${meshId}`).publicKey);

    const bare = await issue();
    const erin = home();
    const byCode = json<{ mesh_id: string }>(await cli(erin, ['join', bare.code.toLowerCase().replaceAll('-', ''), '--broker', tb.url, '--name', 'erin', '--json']));
    expect(byCode.mesh_id).toBe(meshId);
  });
});
