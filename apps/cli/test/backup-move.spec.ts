import { issueInvite } from '@claudemesh/core';
import { cryptoReady, encodeInviteLink, encryptBackup, backupKdfParams, toB64u, utf8Encode } from '@claudemesh/crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { decodeArchive } from '../src/backup/archive.js';
import { cli, json } from './helpers/cli.js';

const PASS = { CLAUDEMESH_PASSPHRASE: 'correct horse battery staple', CLAUDEMESH_BACKUP_KDF: 'min' };

interface Line {
  message_id: string;
  text: string;
  read_at: number | null;
}
const lines = (stdout: string): Line[] => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);

/** A backup is a full move: the ✓ of verified peers and the inbox history come along (archive v2). */
describe('backup and restore move a whole home', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'cmh-move-'));
    dirs.push(d);
    return d;
  };
  const invite = async () => encodeInviteLink((await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner })).invite, mesh.meshKey);

  beforeAll(async () => {
    await cryptoReady();
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'moving');
  });
  afterAll(async () => {
    for (const d of dirs) await cli(d, ['daemon', 'stop']);
    await tb?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('carries verified safety numbers and the inbox, read marks included, into a fresh home', { timeout: 120_000 }, async () => {
    const alice = dir();
    const bob = dir();
    expect((await cli(alice, ['join', await invite(), '--name', 'alice'])).code).toBe(0);
    expect((await cli(bob, ['join', await invite(), '--name', 'bob'])).code).toBe(0);
    const number = json<{ safety_number: string }>(await cli(alice, ['peer', 'verify', 'bob', '--json'])).safety_number;
    expect((await cli(alice, ['peer', 'verify', 'bob', '--confirm', number])).code).toBe(0);
    for (const text of ['first, to be read', 'second, to be read']) expect((await cli(bob, ['send', 'alice', text])).code).toBe(0);
    expect(lines((await cli(alice, ['inbox', '--read', '--json'])).stdout)).toHaveLength(2);
    expect((await cli(bob, ['send', 'alice', 'third, still unread'])).code).toBe(0);
    const before = lines((await cli(alice, ['inbox', '--all', '--json'])).stdout);
    expect(before.map((m) => [m.text, m.read_at === null])).toEqual([['first, to be read', false], ['second, to be read', false], ['third, still unread', true]]);
    expect((await cli(alice, ['peers'])).stdout).toMatch(/^bob .*✓/m);

    const file = join(dir(), 'alice.cmb');
    const backup = await cli(alice, ['backup', file, '--json'], PASS);
    expect(backup.code, backup.stderr).toBe(0);
    expect(json<{ local: Record<string, number> }>(backup).local).toMatchObject({ inbox: 3, verified_peers: 1 });
    await cli(alice, ['daemon', 'stop']);

    // The new machine: an empty home.
    const moved = dir();
    const restored = await cli(moved, ['restore', file, '--json'], PASS);
    expect(restored.code, restored.stderr).toBe(0);
    expect(json<{ local: Record<string, number> }>(restored).local).toMatchObject({ inbox: 3, verified_peers: 1 });
    expect(lines((await cli(moved, ['inbox', '--all', '--json'])).stdout)).toEqual(before);
    expect(lines((await cli(moved, ['inbox', '--json'])).stdout).map((m) => m.text)).toEqual(['third, still unread']);
    expect((await cli(moved, ['peers'])).stdout).toMatch(/^bob .*✓/m);
    expect(json<{ verified: boolean }>(await cli(moved, ['peer', 'verify', 'bob', '--json'])).verified).toBe(true);

    // Restoring again adds nothing and loses nothing.
    const again = json<{ local: Record<string, number> }>(await cli(moved, ['restore', file, '--json'], PASS));
    expect(again.local).toEqual({ verified_peers: 0, inbox: 0, grants: 0, presence: 0 });
    expect(lines((await cli(moved, ['inbox', '--all', '--json'])).stdout)).toHaveLength(3);
  });

  it('still restores a version-1 archive, and says that it carries no local records', async () => {
    const from = dir();
    expect((await cli(from, ['join', await invite(), '--name', 'oldtimer'])).code).toBe(0);
    const meshFile = `meshes/${mesh.meshId}.json`;
    const v1 = { v: 1, created_at: 1_767_225_600_000, files: { [meshFile]: toB64u(readFileSync(join(from, meshFile))) } };
    const file = join(dir(), 'old.cmb');
    writeFileSync(file, encryptBackup(utf8Encode(JSON.stringify(v1)), PASS.CLAUDEMESH_PASSPHRASE, backupKdfParams('min')), { mode: 0o600 });
    const to = dir();
    const restored = await cli(to, ['restore', file], PASS);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain('this backup carries no local records');
    expect(json<{ display_name: string }>(await cli(to, ['whoami', '--json'])).display_name).toBe('oldtimer');
  });
});

interface ArchiveVectors {
  cases: Array<{ description: string; archive_utf8: string; files: string[]; local: Record<string, number> | null }>;
  negative: Array<{ description: string; archive_utf8: string; error: string }>;
}

describe('archive vectors (docs/test-vectors/backup-archive.json)', () => {
  const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/backup-archive.json', import.meta.url), 'utf8')) as ArchiveVectors;
  it.each(vectors.cases.map((c) => [c.description, c] as const))('reads %s', (_, c) => {
    const archive = decodeArchive(utf8Encode(c.archive_utf8));
    expect([...archive.files.keys()].sort()).toEqual(c.files);
    const local = archive.local ? Object.fromEntries(Object.entries(archive.local).map(([k, rows]) => [k, (rows as unknown[]).length])) : null;
    expect(local).toEqual(c.local);
  });
  it.each(vectors.negative.map((c) => [c.description, c] as const))('refuses %s', (_, c) => {
    expect(() => decodeArchive(utf8Encode(c.archive_utf8))).toThrow(new RegExp(c.error));
  });
});
