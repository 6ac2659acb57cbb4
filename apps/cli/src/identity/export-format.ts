import { StoredMesh } from '@claudemesh/core';
import { canonicalJson, fromB64u, identityFromSeed, isPublicKeyHex, serializeIdentity, sha256Hex, toB64u, utf8Decode, utf8Encode } from '@claudemesh/crypto';
import { CliError, EXIT } from '../context.js';
import { accountFromSeed, isDerived, meshIdentity, type Account } from './account.js';

/**
 * The identity export (docs/crypto.md, "Identity export"): a versioned, checksummed text block.
 *
 *   -----BEGIN CLAUDEMESH IDENTITY-----
 *   Version: 1
 *   Checksum: sha256 <hex of the payload bytes>
 *
 *   <base64url of the payload, 64 characters a line>
 *   -----END CLAUDEMESH IDENTITY-----
 *
 * The payload is canonical JSON: the account seed, and per joined mesh what cannot be derived from
 * it (broker, names, role, mesh key; the member seed only when the identity is not derived). Lines
 * outside the block are comments. The checksum catches damage in transit; it is not a signature.
 */
export const EXPORT_VERSION = 1;
const BEGIN = '-----BEGIN CLAUDEMESH IDENTITY-----';
const END = '-----END CLAUDEMESH IDENTITY-----';
const LINE = 64;

export interface ExportedMesh {
  mesh_id: string;
  mesh_name: string;
  broker_url: string;
  display_name: string;
  role: StoredMesh['role'];
  peer_type: StoredMesh['peer_type'];
  member_pubkey: string;
  joined_at: number;
  mesh_key?: string;
  /** Only for a mesh joined before the account existed (a random identity). */
  seed?: string;
}

export interface ExportPayload {
  v: 1;
  exported_at: number;
  account: { seed: string; account_pubkey: string; created_at: number } | null;
  meshes: ExportedMesh[];
}

/** What an import recreates: the account and every mesh file, all checked before anything is written. */
export interface DecodedExport {
  account: Account | null;
  meshes: StoredMesh[];
}

const corrupted = (why: string): CliError =>
  new CliError(`the identity export is corrupted (${why}); nothing was written — export it again on the other machine (claudemesh identity export)`, EXIT.failure);

export function buildExport(account: Account | null, meshes: StoredMesh[], now = Date.now()): ExportPayload {
  return {
    v: 1,
    exported_at: now,
    account: account && { seed: toB64u(account.seed), account_pubkey: account.accountPubkey, created_at: account.createdAt },
    meshes: meshes.map((m) => ({
      mesh_id: m.mesh_id,
      mesh_name: m.mesh_name,
      broker_url: m.broker_url,
      display_name: m.display_name,
      role: m.role,
      peer_type: m.peer_type,
      member_pubkey: m.identity.public_key,
      joined_at: m.joined_at,
      ...(m.mesh_key ? { mesh_key: m.mesh_key } : {}),
      ...(isDerived(account, m) ? {} : { seed: m.identity.seed }),
    })),
  };
}

export function encodeExport(payload: ExportPayload): string {
  const bytes = utf8Encode(canonicalJson(payload));
  const body = toB64u(bytes).match(new RegExp(`.{1,${LINE}}`, 'g')) ?? [];
  return [
    '# claudemesh identity export. SECRET: whoever holds this text can act as you in every mesh it lists.',
    '# On the other machine: claudemesh identity import <this file>',
    BEGIN,
    `Version: ${EXPORT_VERSION}`,
    `Checksum: sha256 ${sha256Hex(bytes)}`,
    '',
    ...body,
    END,
    '',
  ].join('\n');
}

/** The payload bytes of the block, after its version and checksum were checked. */
function payloadBytes(text: string): Uint8Array {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const begin = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  if (begin < 0 || end < begin) {
    throw new CliError('that is not a claudemesh identity export (no BEGIN/END CLAUDEMESH IDENTITY lines); pass the file claudemesh identity export wrote', EXIT.usage);
  }
  const block = lines.slice(begin + 1, end);
  const version = /^Version: (\d+)$/.exec(block[0] ?? '')?.[1];
  if (version === undefined) throw corrupted('no Version line');
  if (Number(version) !== EXPORT_VERSION) throw new CliError(`this identity export has version ${version}; this claudemesh reads version ${EXPORT_VERSION} — upgrade claudemesh, then import again`, EXIT.failure);
  const checksum = /^Checksum: sha256 ([0-9a-f]{64})$/.exec(block[1] ?? '')?.[1];
  if (!checksum) throw corrupted('no Checksum line');
  let bytes: Uint8Array;
  try {
    bytes = fromB64u(block.slice(2).join(''));
  } catch {
    throw corrupted('the body is not base64url');
  }
  if (sha256Hex(bytes) !== checksum) throw corrupted('checksum mismatch: the text was altered or cut short');
  return bytes;
}

function parsePayload(bytes: Uint8Array): ExportPayload {
  let json: unknown;
  try {
    json = JSON.parse(utf8Decode(bytes));
  } catch {
    throw corrupted('the body is not JSON');
  }
  const p = (json ?? {}) as Partial<ExportPayload>;
  if (p.v !== 1 || !Array.isArray(p.meshes) || (p.account !== null && typeof p.account !== 'object')) throw corrupted('unexpected payload shape');
  return p as ExportPayload;
}

function decodeAccount(a: ExportPayload['account']): Account | null {
  if (a === null) return null;
  let account: Account;
  try {
    account = accountFromSeed(fromB64u(a.seed), a.created_at);
  } catch {
    throw corrupted('the account seed is malformed');
  }
  if (!isPublicKeyHex(a.account_pubkey) || account.accountPubkey !== a.account_pubkey || !Number.isSafeInteger(a.created_at)) throw corrupted('the account seed does not match its fingerprint');
  return account;
}

/** Rebuilds a mesh file: the identity is derived (or taken from its seed) and must give the exported member key. */
function decodeMesh(account: Account | null, m: ExportedMesh): StoredMesh {
  let identity;
  try {
    if (m.seed !== undefined) identity = identityFromSeed(fromB64u(m.seed));
    else if (account) identity = meshIdentity(account, m.mesh_id);
    else throw new Error('no seed and no account');
  } catch {
    throw corrupted(`mesh ${String(m.mesh_name)}: its member key cannot be rebuilt`);
  }
  if (identity.publicKey !== m.member_pubkey) throw corrupted(`mesh ${String(m.mesh_name)}: the rebuilt member key differs from the exported one`);
  const stored = StoredMesh.safeParse({
    v: 1,
    mesh_id: m.mesh_id,
    mesh_name: m.mesh_name,
    broker_url: m.broker_url,
    display_name: m.display_name,
    role: m.role,
    peer_type: m.peer_type,
    identity: serializeIdentity(identity),
    ...(m.mesh_key !== undefined ? { mesh_key: m.mesh_key } : {}),
    joined_at: m.joined_at,
  });
  if (!stored.success) throw corrupted(`mesh ${String(m.mesh_name)}: ${stored.error.issues[0]?.path.join('.') ?? 'a field'} is invalid`);
  if (m.mesh_key !== undefined && fromB64uLength(m.mesh_key) !== 32) throw corrupted(`mesh ${m.mesh_name}: the mesh key is not 32 bytes`);
  return stored.data;
}

function fromB64uLength(text: string): number {
  try {
    return fromB64u(text).length;
  } catch {
    return -1;
  }
}

/** Parses and fully checks an export; throws a CliError naming the problem, before anything is written. */
export function decodeExport(text: string): DecodedExport {
  const payload = parsePayload(payloadBytes(text));
  const account = decodeAccount(payload.account);
  const meshes = payload.meshes.map((m) => decodeMesh(account, (m ?? {}) as ExportedMesh));
  if (new Set(meshes.map((m) => m.mesh_id)).size !== meshes.length) throw corrupted('a mesh is listed twice');
  return { account, meshes };
}
