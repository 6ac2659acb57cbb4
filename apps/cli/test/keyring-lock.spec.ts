import { EpochKeyring, type KeyringSnapshot } from '@claudemesh/core';
import { cryptoReady, generateIdentity, parseIdentity, serializeIdentity, type SerializedIdentity } from '@claudemesh/crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyringLockPath, keyringPath, openKeyring } from '../src/topic-keyring.js';

/** The built module the worker processes load (the CLI as it runs). */
const KEYRING_JS = pathToFileURL(fileURLToPath(new URL('../dist/topic-keyring.js', import.meta.url))).href;

/**
 * A worker: one claudemesh process holding the keyring open (a daemon, a `topic tail`) that
 * creates a key for a new scope and saves, `count` times, through loadKeyring as the CLI does.
 */
const WORKER = `
const [home, meshFile, name, count] = process.argv.slice(1);
const { loadKeyring } = await import(${JSON.stringify(KEYRING_JS)});
const { cryptoReady, parseIdentity } = await import('@claudemesh/crypto');
const { readFileSync } = await import('node:fs');
await cryptoReady();
const mesh = JSON.parse(readFileSync(meshFile, 'utf8'));
const me = parseIdentity(mesh.identity).publicKey;
const client = { listPeers: async () => [{ member_pubkey: me, role: 'owner' }] };
const stored = await loadKeyring(home, mesh, client);
for (let i = 0; i < Number(count); i++) {
  const scope = 'topic:' + name + '-' + i;
  stored.ring.accept(scope, stored.ring.rotate(scope, { members: [], reason: 'create' }));
  stored.save();
  await new Promise((r) => setImmediate(r));
}
`;

const run = (args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', WORKER, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('exit', (code) => resolve({ code, stderr }));
  });

describe('the keyring file under concurrent writers', () => {
  let home: string;
  let mesh: { mesh_id: string; identity: SerializedIdentity };
  beforeAll(async () => {
    await cryptoReady();
    home = mkdtempSync(join(tmpdir(), 'cmh-keyring-lock-'));
    mesh = { mesh_id: 'mesh_lock', identity: serializeIdentity(generateIdentity()) };
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('keeps every key when several processes each add epochs and save at the same time', { timeout: 120_000 }, async () => {
    const meshFile = join(home, 'mesh.json');
    writeFileSync(meshFile, JSON.stringify(mesh));
    const workers = 6;
    const each = 15;
    // The workers resolve @claudemesh/* from the repository, as the CLI does.
    const cwd = fileURLToPath(new URL('..', import.meta.url));
    const results = await Promise.all(Array.from({ length: workers }, (_, w) => run([home, meshFile, `w${w}`, String(each)], cwd)));
    for (const r of results) expect(r.code, r.stderr).toBe(0);

    const snapshot = JSON.parse(readFileSync(keyringPath(home, mesh.mesh_id), 'utf8')) as KeyringSnapshot;
    const expected = Array.from({ length: workers }, (_, w) => Array.from({ length: each }, (_, i) => `topic:w${w}-${i}`)).flat().sort();
    expect(Object.keys(snapshot.scopes).sort()).toEqual(expected);
    for (const scope of expected) expect(Object.keys(snapshot.scopes[scope]!.keys), scope).toEqual(['1']);
    // What was written is a verified keyring: every key opens against its manifest.
    const me = parseIdentity(mesh.identity).publicKey;
    const ring = new EpochKeyring({ me: parseIdentity(mesh.identity), meshId: mesh.mesh_id, authorities: () => [me] });
    expect(ring.restore(snapshot).flatMap((r) => r.refused)).toEqual([]);
    for (const scope of expected) expect(ring.context(scope, 1)).not.toBeNull();
    expect(existsSync(keyringLockPath(home, mesh.mesh_id))).toBe(false);
  });

  it('takes over a lock whose process is gone, and gives up on a live one after the wait, naming it', { timeout: 30_000 }, async () => {
    const me = parseIdentity(mesh.identity).publicKey;
    const lock = keyringLockPath(home, mesh.mesh_id);
    mkdirSync(join(home, 'keyrings'), { recursive: true, mode: 0o700 });

    // A process that died holding the lock (a run killed mid-save).
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    writeFileSync(lock, `${dead.pid}\n`);
    const stored = openKeyring(home, mesh, () => [me]);
    stored.ring.accept('topic:after-stale', stored.ring.rotate('topic:after-stale', { members: [], reason: 'create' }));
    stored.save();
    expect(existsSync(lock)).toBe(false);
    expect(Object.keys((JSON.parse(readFileSync(keyringPath(home, mesh.mesh_id), 'utf8')) as KeyringSnapshot).scopes)).toContain('topic:after-stale');

    // A live holder: the save waits (bounded), then fails with what to do; nothing is written.
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeFileSync(lock, `${holder.pid}\n`);
      const before = readFileSync(keyringPath(home, mesh.mesh_id), 'utf8');
      process.env['CLAUDEMESH_KEYRING_LOCK_WAIT_MS'] = '300';
      stored.ring.accept('topic:while-locked', stored.ring.rotate('topic:while-locked', { members: [], reason: 'create' }));
      expect(() => stored.save()).toThrow(new RegExp(`locked by process ${holder.pid} for more than 0\\.3 s; if no claudemesh process is running, remove ${lock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect(readFileSync(keyringPath(home, mesh.mesh_id), 'utf8')).toBe(before);
      expect(readFileSync(lock, 'utf8')).toBe(`${holder.pid}\n`);
    } finally {
      delete process.env['CLAUDEMESH_KEYRING_LOCK_WAIT_MS'];
      holder.kill();
      await new Promise((r) => holder.once('exit', r));
    }
    // Its holder gone, the next save goes through with both scopes.
    stored.save();
    expect(Object.keys((JSON.parse(readFileSync(keyringPath(home, mesh.mesh_id), 'utf8')) as KeyringSnapshot).scopes)).toEqual(expect.arrayContaining(['topic:after-stale', 'topic:while-locked']));
  });
});
