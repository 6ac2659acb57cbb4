import { canonicalJson } from './canonical-json.js';
import { CryptoError } from './errors.js';
import { fromB64u, isPublicKeyHex, isWellFormedString, toB64u } from './encoding.js';
import type { EpochManifest, ManifestCheck, SignedEpochManifest } from './epoch-types.js';
import { sha256 } from './hash.js';
import type { Identity } from './identity.js';
import { sign, verify } from './signing.js';
import { DOMAIN, epochManifestString } from './signed-strings.js';

/**
 * Epoch manifests (docs/crypto.md, "Key epochs"): the signed statement of who may hold one epoch's
 * key, chained to the previous epoch by hash so a broker cannot reorder, drop or invent epochs.
 */

export const MESH_SCOPE = 'mesh';
export const TOPIC_SCOPE_PREFIX = 'topic:';
/** Epochs fit the `key_epoch integer` column of topic messages. */
export const MAX_EPOCH = 2 ** 31 - 1;
/** Bounds the manifest (about 660 KB of canonical JSON at the limit) and the work of checking it. */
export const MAX_EPOCH_MEMBERS = 10_000;
const MAX_MESH_ID_CHARS = 2048;
const MANIFEST_KEYS = ['v', 'mesh_id', 'scope', 'epoch', 'prev_epoch_hash', 'members', 'reason', 'created_by', 'created_at', 'key_commitment'];
const TOPIC_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const REASON_RE = /^[a-z][a-z_]{0,31}$/;
const HASH_BYTES = 32;

const invalid = (why: string): CryptoError => new CryptoError('E_MANIFEST_INVALID', why);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `topic:<name>` for a topic name of the protocol's form (`^[a-z0-9][a-z0-9_-]{0,63}$`). */
export function topicScope(topicName: string): string {
  if (typeof topicName !== 'string' || !TOPIC_NAME_RE.test(topicName)) throw invalid('topic name must match ^[a-z0-9][a-z0-9_-]{0,63}$');
  return TOPIC_SCOPE_PREFIX + topicName;
}

/** True for `mesh` and `topic:<topic name>`. */
export function isEpochScope(value: unknown): value is string {
  if (value === MESH_SCOPE) return true;
  return typeof value === 'string' && value.startsWith(TOPIC_SCOPE_PREFIX) && TOPIC_NAME_RE.test(value.slice(TOPIC_SCOPE_PREFIX.length));
}

function meshId(value: unknown): string {
  // Same rule as an invite's strings: it is shown, signed and placed on a line of its own.
  if (typeof value !== 'string' || value.length === 0 || (value.length > MAX_MESH_ID_CHARS && [...value].length > MAX_MESH_ID_CHARS)) {
    throw invalid(`mesh_id must be a non-empty string of at most ${MAX_MESH_ID_CHARS} characters`);
  }
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value) || !isWellFormedString(value)) throw invalid('mesh_id must be well-formed text without control characters');
  return value;
}

function b64uOf(value: unknown, bytes: number, name: string): string {
  let decoded: Uint8Array | undefined;
  try {
    decoded = typeof value === 'string' ? fromB64u(value) : undefined;
  } catch {
    decoded = undefined;
  }
  if (decoded?.length !== bytes) throw invalid(`${name} must be base64url of ${bytes} bytes`);
  return value as string;
}

/** Ascending order gives the list one spelling, so the same set always hashes and signs the same. */
function members(value: unknown, createdBy: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_EPOCH_MEMBERS) {
    throw invalid(`members must be an array of 1..${MAX_EPOCH_MEMBERS} keys`);
  }
  const list: string[] = [];
  for (const key of value) {
    if (!isPublicKeyHex(key)) throw invalid('every member must be 64 lowercase hex chars');
    if (list.length > 0 && !(list[list.length - 1]! < key)) throw invalid('members must be in ascending order without duplicates');
    list.push(key);
  }
  if (!list.includes(createdBy)) throw invalid('created_by made the key, so it must be one of the members');
  return list;
}

/** Strict v1 shape check (E_MANIFEST_INVALID); returns a fresh manifest holding exactly the v1 fields. */
export function validateEpochManifest(value: unknown): EpochManifest {
  if (!isRecord(value)) throw invalid('manifest must be an object');
  for (const key of Object.keys(value)) if (!MANIFEST_KEYS.includes(key)) throw invalid(`manifest has unknown field ${key}`);
  if (value.v !== 1) throw invalid('unsupported manifest version');
  if (!isEpochScope(value.scope)) throw invalid('scope must be "mesh" or "topic:<topic name>"');
  const epoch = value.epoch;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH) throw invalid(`epoch must be an integer 1..${MAX_EPOCH}`);
  const first = epoch === 1;
  const prev = first ? value.prev_epoch_hash : b64uOf(value.prev_epoch_hash, HASH_BYTES, 'prev_epoch_hash');
  if (first && prev !== null) throw invalid('epoch 1 has no previous manifest: prev_epoch_hash must be null');
  const reason = value.reason;
  if (typeof reason !== 'string' || !REASON_RE.test(reason)) throw invalid('reason must match ^[a-z][a-z_]{0,31}$');
  if ((reason === 'create') !== first) throw invalid('reason "create" is for epoch 1 and epoch 1 only');
  if (!isPublicKeyHex(value.created_by)) throw invalid('created_by must be 64 lowercase hex chars');
  const createdAt = value.created_at;
  if (typeof createdAt !== 'number' || !Number.isSafeInteger(createdAt) || createdAt < 0) throw invalid('created_at must be a non-negative integer');
  return {
    v: 1,
    mesh_id: meshId(value.mesh_id),
    scope: value.scope,
    epoch,
    prev_epoch_hash: prev as string | null,
    members: members(value.members, value.created_by),
    reason,
    created_by: value.created_by,
    created_at: createdAt,
    key_commitment: b64uOf(value.key_commitment, HASH_BYTES, 'key_commitment'),
  };
}

/** The chain link: base64url SHA-256 of the hash tag, a newline and the manifest's canonical JSON. */
export function manifestHash(manifest: EpochManifest): string {
  return hashChecked(validateEpochManifest(manifest));
}

/** @internal manifestHash of a manifest validateEpochManifest already returned (skips checking it again). */
export function hashChecked(checked: EpochManifest): string {
  return hashOfCanonical(canonicalJson(checked));
}

function hashOfCanonical(canonical: string): string {
  return toB64u(sha256(`${DOMAIN.keyEpochHash}\n${canonical}`));
}

/** The creator signs a complete manifest; only created_by's own identity may sign it. */
export function signManifest(manifest: EpochManifest, creator: Identity): SignedEpochManifest {
  const checked = validateEpochManifest(manifest);
  if (checked.created_by !== creator.publicKey) throw invalid('the manifest names another creator');
  return { manifest: checked, sig: sign(epochManifestString(checked), creator.secretKey) };
}

export interface VerifyManifestOptions {
  /** The verified manifest of epoch − 1 of the same scope, or null for epoch 1. */
  previous: EpochManifest | null;
  /** Keys that may create an epoch without being members of the previous one (owners, admins); the only creators of epoch 1. */
  authorities?: readonly string[];
  /**
   * manifestHash(previous), when the caller kept it from verifying `previous` (a keyring does):
   * saves checking and hashing the previous manifest again.
   */
  previousHash?: string;
}

type Failure = Extract<ManifestCheck, { ok: false }>;
const fail = (code: Failure['code'], message: string): Failure => ({ ok: false, code, message });

/**
 * Shape, then the creator's signature, then the link to `previous`, then the creator's right to
 * rotate (a member of `previous`, or one of `authorities`). Never throws for a malformed manifest.
 */
export function verifyManifest(signed: SignedEpochManifest, opts: VerifyManifestOptions): ManifestCheck {
  let manifest: EpochManifest;
  try {
    if (!isRecord(signed) || typeof signed.sig !== 'string') throw invalid('a signed manifest is { manifest, sig }');
    manifest = validateEpochManifest(signed.manifest);
  } catch (err) {
    // CryptoError messages start with their code, which the result carries on its own.
    return fail('E_MANIFEST_INVALID', (err as Error).message.replace(/^E_[A-Z_]+: /, ''));
  }
  // One canonical encoding serves the signature (epochManifestString) and the hash.
  const canonical = canonicalJson(manifest);
  if (!verify(`${DOMAIN.keyEpoch}\n${canonical}`, signed.sig, manifest.created_by)) {
    return fail('E_BAD_SIGNATURE', 'the manifest is not signed by its created_by key');
  }
  const link = chainLink(manifest, opts.previous, opts.previousHash);
  if (link) return fail('E_MANIFEST_CHAIN', link);
  const allowed = opts.previous?.members.includes(manifest.created_by) || (opts.authorities ?? []).includes(manifest.created_by);
  if (!allowed) return fail('E_MANIFEST_UNAUTHORIZED', 'the creator is neither a member of the previous epoch nor an authority');
  return { ok: true, manifest, hash: hashOfCanonical(canonical) };
}

/** Why `manifest` does not follow `previous`, or null when it does. */
function chainLink(manifest: EpochManifest, previous: EpochManifest | null, previousHash: string | undefined): string | null {
  if (previous === null || previous === undefined) return manifest.epoch === 1 ? null : `epoch ${manifest.epoch} needs the manifest of epoch ${manifest.epoch - 1}`;
  if (manifest.epoch === 1) return 'epoch 1 has no previous manifest';
  let prevHash: string;
  try {
    prevHash = previousHash ?? manifestHash(previous);
  } catch {
    return 'the previous manifest is malformed';
  }
  if (previous.mesh_id !== manifest.mesh_id || previous.scope !== manifest.scope) return 'the previous manifest is of another mesh or scope';
  if (manifest.epoch !== previous.epoch + 1) return `epoch ${manifest.epoch} does not follow epoch ${previous.epoch}`;
  if (manifest.prev_epoch_hash !== prevHash) return 'prev_epoch_hash is not the hash of the previous manifest';
  return null;
}

/** Verifies a whole chain from epoch 1; the result is the last manifest. Never throws for malformed input. */
export function verifyManifestChain(chain: readonly SignedEpochManifest[], opts: { authorities?: readonly string[] } = {}): ManifestCheck {
  if (!Array.isArray(chain) || chain.length === 0) return fail('E_MANIFEST_CHAIN', 'the chain is empty');
  let previous: EpochManifest | null = null;
  let last: ManifestCheck | undefined;
  for (const signed of chain) {
    last = verifyManifest(signed, { previous, ...(opts.authorities ? { authorities: opts.authorities } : {}) });
    if (!last.ok) return last;
    previous = last.manifest;
  }
  return last!;
}
