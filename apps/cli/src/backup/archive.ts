import { StoredMesh } from '@claudemesh/core';
import { fromB64u, toB64u, utf8Decode, utf8Encode } from '@claudemesh/crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT } from '../context.js';
import type { LocalSnapshot } from '../store/local-store.js';
import { LocalSnapshotSchema } from './local-data.js';

/**
 * The plaintext inside a backup file (docs/crypto.md, "Backup file"): UTF-8 JSON
 *
 *   { "v": 2, "created_at": <ms>, "files": { "<path relative to CLAUDEMESH_HOME>": "<base64url of the bytes>" },
 *     "local": { "verified_peers": […], "inbox": […], "grants": […], "presence": […] } }
 *
 * `files` carries the identity and configuration of a home: account.json, meshes/*.json, and every
 * other regular *.json / *.yaml / *.yml file at the top level (policy and config files); never the
 * local.db file itself, sockets/, cache/, daemon.log, hidden files, temp files or symlinks. `local`
 * (version 2) carries local.db's records as JSON rows (./local-data.ts). Version 1 archives, which
 * have no `local`, are still read.
 */
export const ARCHIVE_VERSION = 2;
const READABLE_VERSIONS = new Set([1, 2]);
const TOP_LEVEL = /^[A-Za-z0-9_-][A-Za-z0-9._-]*\.(json|ya?ml)$/;
const MESH_FILE = /^meshes\/[A-Za-z0-9_-][A-Za-z0-9._-]*\.json$/;

/** True for a relative path a backup may carry (and a restore may write): nothing outside these patterns. */
export const isArchivePath = (path: string): boolean => TOP_LEVEL.test(path) || MESH_FILE.test(path);

export interface Archive {
  createdAt: number;
  /** Relative path → bytes, sorted by path. */
  files: Map<string, Uint8Array>;
  /** local.db's records (archive v2); absent in a v1 archive or when the home had no local.db. */
  local?: LocalSnapshot;
}

function regularFiles(dir: string, prefix: string): Array<[string, Uint8Array]> {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: Array<[string, Uint8Array]> = [];
  for (const name of names) {
    const rel = prefix + name;
    if (!isArchivePath(rel)) continue;
    const file = join(dir, name);
    if (!lstatSync(file).isFile()) continue;
    out.push([rel, new Uint8Array(readFileSync(file))]);
  }
  return out;
}

/** The files a backup of `home` covers (its local.db records are added by the caller: collectLocal). */
export function collectHome(home: string, now = Date.now()): Archive {
  return { createdAt: now, files: new Map([...regularFiles(home, ''), ...regularFiles(join(home, 'meshes'), 'meshes/')]) };
}

export function encodeArchive(archive: Archive): Uint8Array {
  const files: Record<string, string> = {};
  for (const [path, bytes] of [...archive.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) files[path] = toB64u(bytes);
  return utf8Encode(JSON.stringify({ v: ARCHIVE_VERSION, created_at: archive.createdAt, files, ...(archive.local ? { local: archive.local } : {}) }));
}

const notArchive = (why: string): CliError =>
  new CliError(`the backup opened, but its contents are not a claudemesh archive (${why}); nothing was written`, EXIT.failure);

/** Parses and checks a decrypted archive: its version, every path, every mesh file. */
export function decodeArchive(plaintext: Uint8Array): Archive {
  let json: unknown;
  try {
    json = JSON.parse(utf8Decode(plaintext));
  } catch {
    throw notArchive('not JSON');
  }
  const r = (json ?? {}) as Record<string, unknown>;
  const v = r['v'];
  if (typeof v === 'number' && !READABLE_VERSIONS.has(v)) {
    throw new CliError(`this backup holds an archive of version ${v}; this claudemesh reads versions 1 and ${ARCHIVE_VERSION} — upgrade claudemesh, then restore again`, EXIT.failure);
  }
  const files = r['files'];
  if (typeof v !== 'number' || typeof r['created_at'] !== 'number' || typeof files !== 'object' || files === null || Array.isArray(files)) throw notArchive('unexpected shape');
  let local: LocalSnapshot | undefined;
  if (v >= 2 && r['local'] !== undefined) {
    const parsed = LocalSnapshotSchema.safeParse(r['local']);
    if (!parsed.success) throw notArchive(`its local records are malformed (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'invalid'})`);
    local = parsed.data;
  }
  const out = new Map<string, Uint8Array>();
  for (const [path, value] of Object.entries(files as Record<string, unknown>)) {
    if (!isArchivePath(path)) throw notArchive(`it names a file outside the claudemesh home layout: ${JSON.stringify(path)}`);
    if (typeof value !== 'string') throw notArchive(`${path} is not base64url`);
    try {
      out.set(path, fromB64u(value));
    } catch {
      throw notArchive(`${path} is not base64url`);
    }
    if (path.startsWith('meshes/')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(utf8Decode(out.get(path)!));
      } catch {
        throw notArchive(`${path} is not JSON`);
      }
      if (!StoredMesh.safeParse(parsed).success) throw notArchive(`${path} is not a mesh file`);
    }
  }
  return { createdAt: r['created_at'], files: out, ...(local ? { local } : {}) };
}
