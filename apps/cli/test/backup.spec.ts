import { saveMesh } from '@claudemesh/core';
import { cryptoReady, deriveIdentity, fromB64u, generateIdentity, generateMeshKey, serializeIdentity, toB64u, toHex } from '@claudemesh/crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../bin/claudemesh.js', import.meta.url));
const run = promisify(execFile);
type Result = { code: number; stdout: string; stderr: string };
const PASS = 'correct horse battery staple';

/** The real CLI in its own process (stdin a pipe, so never a TTY), with the test-only minimum KDF cost. */
async function cli(home: string, args: string[], env: Record<string, string | undefined> = {}, cwd = tmpdir()): Promise<Result> {
  const base: Record<string, string | undefined> = { ...process.env, CLAUDEMESH_PASSPHRASE: undefined, CLAUDEMESH_HOME: home, CLAUDEMESH_DAEMON: 'off', CLAUDEMESH_BACKUP_KDF: 'min' };
  const merged = Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: merged, cwd });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
const json = <T>(r: Result): T => {
  if (r.code !== 0) throw new Error(`CLI failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};
const mode = (path: string): number => statSync(path).mode & 0o777;

/** Every regular file under dir, relative path → bytes (hex). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, name.name);
      if (name.isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p).toString('hex');
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

describe('claudemesh backup / restore (real CLI processes)', () => {
  const dirs: string[] = [];
  const tmp = (prefix = 'cmh-backup-'): string => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  let source: string;
  let backupFile: string;
  let accountSeed: Uint8Array;
  let secrets: Uint8Array[];
  let derivedMeshId: string;

  beforeAll(async () => {
    await cryptoReady();
    source = tmp();
    expect((await cli(source, ['init'])).code).toBe(0);
    accountSeed = fromB64u((JSON.parse(readFileSync(join(source, 'account.json'), 'utf8')) as { seed: string }).seed);
    // Two joined-looking meshes: one derived from the account, one with its own random key.
    derivedMeshId = '0b6f7c1e-3a9d-4c2b-9e1f-5d8a7b6c4e21';
    const legacyId = '7e2d4f6a-1b3c-4d5e-8f9a-0b1c2d3e4f5a';
    const derived = deriveIdentity(accountSeed, `mesh:${derivedMeshId}`);
    const legacy = generateIdentity();
    const meshKeys = [generateMeshKey(), generateMeshKey()];
    for (const [id, name, identity, key] of [[derivedMeshId, 'team', derived, meshKeys[0]!], [legacyId, 'legacy', legacy, meshKeys[1]!]] as const) {
      saveMesh(source, {
        v: 1, mesh_id: id, mesh_name: name, broker_url: 'http://127.0.0.1:7900', display_name: 'alice', role: 'owner', peer_type: 'ai',
        identity: serializeIdentity(identity), mesh_key: toB64u(key), joined_at: 1_767_225_600_000,
      });
    }
    secrets = [accountSeed, derived.seed, legacy.seed, ...meshKeys];
    writeFileSync(join(source, 'policy.yaml'), 'allow:\n  - "*"\n', { mode: 0o600 });
    // What a backup must leave out.
    writeFileSync(join(source, 'local.db'), 'sqlite inbox');
    writeFileSync(join(source, 'daemon.log'), 'log line\n');
    writeFileSync(join(source, '.hidden.json'), '{}');
    writeFileSync(join(source, 'meshes', 'notes.txt'), 'not a mesh');
    for (const d of ['cache', 'sockets']) mkdirSync(join(source, d), { mode: 0o700 });
    writeFileSync(join(source, 'cache', `presence-${derivedMeshId}.json`), '{"online":1}');
    writeFileSync(join(source, 'sockets', 'daemon.pid'), '123');
    backupFile = join(tmp(), 'home.cmb');
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('backs up account, meshes and config into a 0600 file that holds no plaintext secret', async () => {
    const r = await cli(source, ['backup', backupFile, '--json'], { CLAUDEMESH_PASSPHRASE: PASS });
    const out = json<{ file: string; files: string[]; kdf: { alg: string; opslimit: number; memlimit: number } }>(r);
    expect(out.file).toBe(backupFile);
    expect(out.files).toEqual(['account.json', 'meshes/0b6f7c1e-3a9d-4c2b-9e1f-5d8a7b6c4e21.json', 'meshes/7e2d4f6a-1b3c-4d5e-8f9a-0b1c2d3e4f5a.json', 'policy.yaml']);
    expect(out.kdf).toEqual({ alg: 'argon2id13', opslimit: 1, memlimit: 8192, ms: expect.any(Number) });
    expect(r.stderr).toMatch(/deriving key \(Argon2id, 8 KiB, 1 pass\)… done in \d+\.\d s/);
    expect(mode(backupFile)).toBe(0o600);
    const bytes = readFileSync(backupFile);
    expect(bytes.subarray(0, 6)).toEqual(Buffer.from([0x43, 0x4d, 0x42, 0x4b, 1, 1]));
    expect([bytes.readUInt32BE(6), bytes.readUInt32BE(10)]).toEqual([1, 8192]);
    const asText = bytes.toString('latin1');
    for (const secret of secrets) {
      for (const spelling of [toB64u(secret), toHex(secret), Buffer.from(secret).toString('base64'), Buffer.from(toB64u(secret)).toString('base64url')]) {
        expect(asText.includes(spelling.slice(0, 24))).toBe(false);
      }
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
    for (const plain of ['account_pubkey', 'mesh_key', 'policy', 'alice']) expect(asText.includes(plain)).toBe(false);
    // No temp file is left beside it.
    expect(readdirSync(join(backupFile, '..'))).toEqual(['home.cmb']);
  });

  it('restores into an empty home: the same bytes, files 0600, directories 0700, nothing else', async () => {
    const target = join(tmp(), 'restored-home');
    const r = await cli(target, ['restore', backupFile, '--json'], { CLAUDEMESH_PASSPHRASE: PASS });
    const out = json<{ written: string[]; replaced: string[]; unchanged: string[] }>(r);
    expect(out.written).toHaveLength(4);
    expect(r.stderr).toMatch(/deriving key \(Argon2id, 8 KiB, 1 pass\)… done in/);
    const expected = Object.fromEntries(Object.entries(tree(source)).filter(([p]) => ['account.json', 'policy.yaml'].includes(p) || /^meshes\/.*\.json$/.test(p)));
    expect(Object.keys(expected)).toHaveLength(4);
    expect(tree(target)).toEqual(expected);
    for (const p of Object.keys(expected)) expect(mode(join(target, p)), p).toBe(0o600);
    expect(mode(target)).toBe(0o700);
    expect(mode(join(target, 'meshes'))).toBe(0o700);
    // The restored home is the same identity.
    const show = (h: string): Promise<Result> => cli(h, ['identity', 'show', '--json']);
    expect(json(await show(target))).toEqual(json(await show(source)));
    // Restoring again changes nothing and is not a conflict.
    const again = json<{ written: string[]; unchanged: string[] }>(await cli(target, ['restore', backupFile, '--json'], { CLAUDEMESH_PASSPHRASE: PASS }));
    expect(again.written).toEqual([]);
    expect(again.unchanged).toHaveLength(4);
  });

  it('a wrong passphrase is exit 1 with a clear message, and writes nothing', async () => {
    const parent = tmp();
    const target = join(parent, 'home');
    const r = await cli(target, ['restore', backupFile], { CLAUDEMESH_PASSPHRASE: 'correct horse battery stapler' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/wrong passphrase, or the file was modified; nothing was written \[E_BACKUP_DECRYPT\]/);
    expect(r.stdout).toBe('');
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('a flipped byte, a cut file or another file is refused, and nothing is written', async () => {
    const original = readFileSync(backupFile);
    const dir = tmp();
    const variants: Array<[string, Buffer, RegExp]> = [
      ['ciphertext', Buffer.from(original.map((b, i) => (i === 60 ? b ^ 1 : b))), /wrong passphrase, or the file was modified/],
      ['opslimit', Buffer.from(original.map((b, i) => (i === 9 ? 2 : b))), /wrong passphrase, or the file was modified/],
      ['magic', Buffer.from(original.map((b, i) => (i === 0 ? 0x58 : b))), /not a claudemesh backup \(it does not start with CMBK\).*\[E_BACKUP_NOT_BACKUP\]/],
      ['version', Buffer.from(original.map((b, i) => (i === 4 ? 9 : b))), /version 9 is not supported.*\[E_BACKUP_UNSUPPORTED\]/],
      ['cut', original.subarray(0, 50), /truncated.*\[E_BACKUP_CORRUPTED\]/],
      ['export', Buffer.from('-----BEGIN CLAUDEMESH IDENTITY-----\n'), /not a claudemesh backup/],
    ];
    for (const [name, bytes, message] of variants) {
      const file = join(dir, `${name}.cmb`);
      writeFileSync(file, bytes);
      const target = tmp();
      const r = await cli(target, ['restore', file], { CLAUDEMESH_PASSPHRASE: PASS });
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr, name).toMatch(/nothing was written/);
      expect(readdirSync(target), name).toEqual([]);
    }
  });

  it('refuses a passphrase shorter than 12 characters (code points) and writes no file', async () => {
    const dir = tmp();
    const file = join(dir, 'short.cmb');
    const r = await cli(source, ['backup', file], { CLAUDEMESH_PASSPHRASE: '🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑' }); // 22 UTF-16 units, 11 characters
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the passphrase is 11 characters long; use at least 12.*\[E_PASSPHRASE_WEAK\]/);
    expect(readdirSync(dir)).toEqual([]);
    expect((await cli(source, ['backup', file], { CLAUDEMESH_PASSPHRASE: '🔑'.repeat(12) })).code).toBe(0);
  });

  it('does not clobber an existing identity without --force, and replaces it with --force', async () => {
    const other = tmp();
    expect((await cli(other, ['init'])).code).toBe(0);
    const before = tree(other);
    const refused = await cli(other, ['restore', backupFile], { CLAUDEMESH_PASSPHRASE: PASS });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already holds a different account seed \(account\.json\); nothing was written .*--force/);
    expect(tree(other)).toEqual(before);
    const forced = json<{ replaced: string[]; written: string[] }>(await cli(other, ['restore', backupFile, '--force', '--json'], { CLAUDEMESH_PASSPHRASE: PASS }));
    expect(forced.replaced).toEqual(['account.json']);
    expect(forced.written).toHaveLength(4);
    expect(readFileSync(join(other, 'account.json'))).toEqual(readFileSync(join(source, 'account.json')));

    // A mesh file that differs (same mesh, edited here) is kept as well.
    const meshFile = join(other, 'meshes', `${derivedMeshId}.json`);
    const edited = readFileSync(meshFile, 'utf8').replace('"display_name": "alice"', '"display_name": "alice2"');
    writeFileSync(meshFile, edited);
    const again = await cli(other, ['restore', backupFile], { CLAUDEMESH_PASSPHRASE: PASS });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/different mesh identities \(meshes\/0b6f7c1e-3a9d-4c2b-9e1f-5d8a7b6c4e21\.json\)/);
    expect(readFileSync(meshFile, 'utf8')).toBe(edited);
  });

  it('writes claudemesh-<date>.cmb in the cwd by default, never over an existing file without --force', async () => {
    const cwd = tmp();
    const first = json<{ file: string }>(await cli(source, ['backup', '--json'], { CLAUDEMESH_PASSPHRASE: PASS }, cwd));
    expect(first.file).toBe(join(cwd, `claudemesh-${new Date().toISOString().slice(0, 10)}.cmb`));
    expect(mode(first.file)).toBe(0o600);
    const bytes = readFileSync(first.file);
    const again = await cli(source, ['backup'], { CLAUDEMESH_PASSPHRASE: PASS }, cwd);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists; pick another file name or add --force/);
    expect(readFileSync(first.file)).toEqual(bytes);
    expect((await cli(source, ['backup', '--force'], { CLAUDEMESH_PASSPHRASE: PASS }, cwd)).code).toBe(0);
    expect(readFileSync(first.file)).not.toEqual(bytes);
    expect(readdirSync(cwd)).toHaveLength(1);
  });

  it('reads --passphrase-file (one trailing newline dropped); without a TTY and no passphrase it says how to give one', async () => {
    const dir = tmp();
    const passFile = join(dir, 'pass');
    writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 });
    const target = tmp();
    expect((await cli(target, ['restore', backupFile, '--passphrase-file', passFile])).code).toBe(0);
    expect(tree(target)[`meshes/${derivedMeshId}.json`]).toBe(tree(source)[`meshes/${derivedMeshId}.json`]);

    for (const [home, args] of [[source, ['backup', join(dir, 'x.cmb')]], [tmp(), ['restore', backupFile]]] as const) {
      const none = await cli(home, [...args]);
      expect(none.code, args[0]).toBe(2);
      expect(none.stderr, args[0]).toMatch(/no passphrase: run this in a terminal to be asked, or set CLAUDEMESH_PASSPHRASE, or pass --passphrase-file <path>/);
    }
    expect(existsSync(join(dir, 'x.cmb'))).toBe(false);
    const bogus = await cli(source, ['backup', join(dir, 'y.cmb')], { CLAUDEMESH_PASSPHRASE: PASS, CLAUDEMESH_BACKUP_KDF: 'none' });
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/CLAUDEMESH_BACKUP_KDF=none is not one of min, interactive, moderate/);
  });
});
