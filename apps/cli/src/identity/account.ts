import type { StoredMesh } from '@claudemesh/core';
import { deriveIdentity, fromB64u, isPublicKeyHex, randomBytes, SEED_BYTES, toB64u, type Identity } from '@claudemesh/crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT } from '../context.js';

/**
 * The account seed: one secret per person, kept in $CLAUDEMESH_HOME/account.json (0600). Every
 * member identity made after it exists is derived from it (see meshIdentity), so copying this one
 * seed — plus the non-secret mesh details — recreates the same member keys on another machine.
 */
export interface Account {
  seed: Uint8Array;
  /** Public fingerprint of the account: deriveIdentity(seed, 'account').publicKey. Safe to show. */
  accountPubkey: string;
  createdAt: number;
}

export const ACCOUNT_FILE = 'account.json';
/** The label under which a mesh's member identity is derived (docs/crypto.md): 'mesh:' + mesh id. */
export const meshLabel = (meshId: string): string => `mesh:${meshId}`;
const ACCOUNT_LABEL = 'account';

export const accountPath = (home: string): string => join(home, ACCOUNT_FILE);

export function accountFromSeed(seed: Uint8Array, createdAt = Date.now()): Account {
  return { seed, accountPubkey: deriveIdentity(seed, ACCOUNT_LABEL).publicKey, createdAt };
}

/** The member identity of `meshId` for this account: the same on every machine that holds the seed. */
export function meshIdentity(account: Account, meshId: string): Identity {
  return deriveIdentity(account.seed, meshLabel(meshId));
}

/** True when the mesh's stored key is the one the account derives (so an export need not carry its seed). */
export function isDerived(account: Account | null, mesh: StoredMesh): boolean {
  return account !== null && meshIdentity(account, mesh.mesh_id).publicKey === mesh.identity.public_key;
}

const damaged = (file: string, why: string): CliError =>
  new CliError(`${file} is damaged (${why}); restore it with claudemesh identity import <export>, or start a new account with claudemesh init --force`, EXIT.failure);

/** The account of this home, or null when there is none yet. A damaged file is an error, never silently replaced. */
export function loadAccount(home: string): Account | null {
  const file = accountPath(home);
  if (!existsSync(file)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw damaged(file, 'not JSON');
  }
  const r = (json ?? {}) as Record<string, unknown>;
  if (r['v'] !== 1 || typeof r['seed'] !== 'string' || !isPublicKeyHex(r['account_pubkey']) || typeof r['created_at'] !== 'number') throw damaged(file, 'unexpected fields');
  let seed: Uint8Array;
  try {
    seed = fromB64u(r['seed']);
  } catch {
    throw damaged(file, 'seed is not base64url');
  }
  if (seed.length !== SEED_BYTES) throw damaged(file, `seed is not ${SEED_BYTES} bytes`);
  const account = accountFromSeed(seed, r['created_at']);
  if (account.accountPubkey !== r['account_pubkey']) throw damaged(file, 'account_pubkey does not match the seed');
  return account;
}

/** Writes account.json atomically (temp file, then rename), 0600 from the first byte. */
export function saveAccount(home: string, account: Account): string {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = accountPath(home);
  const tmp = `${file}.${process.pid}.tmp`;
  const body = { v: 1, seed: toB64u(account.seed), account_pubkey: account.accountPubkey, created_at: account.createdAt };
  writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

export function newAccount(): Account {
  return accountFromSeed(randomBytes(SEED_BYTES));
}

export interface PendingAccount {
  account: Account;
  /** True when this home had no account: commit() writes the new one. */
  created: boolean;
  /** Keeps a new account once the identity derived from it is in use (a failed join leaves no trace). */
  commit(): void;
}

/**
 * The account new member identities derive from: the home's own, or a fresh one made implicitly, so
 * every identity made from now on is derivable. If another process wrote an account meanwhile, that
 * one is kept; the identity made here then simply stays in its mesh file (and in exports) as a seed.
 */
export function accountForNewIdentity(home: string): PendingAccount {
  const existing = loadAccount(home);
  if (existing) return { account: existing, created: false, commit: () => undefined };
  const account = newAccount();
  return {
    account,
    created: true,
    commit: () => {
      if (!existsSync(accountPath(home))) saveAccount(home, account);
    },
  };
}
