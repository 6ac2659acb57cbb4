import { ProtocolError, claimEmailInvite, claudemeshHome, fetchKeyHandoff, httpBaseOf, loadMeshes, resolveEmailInvite, saveMesh, type PeerType, type StoredMesh } from '@claudemesh/core';
import { parseIdentity, serializeIdentity, toB64u, type SerializedIdentity } from '@claudemesh/crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT, print } from './context.js';
import { meshIdentity, type PendingAccount } from './identity/account.js';
import { firstFreeName } from './identity/default-name.js';
import { joinFailure, type InviteInput } from './identity/invite-input.js';

/**
 * Joining with an email invite (docs/protocol.md §9c): the mailed code enrolls a member key, then
 * the mesh key arrives from the inviting admin, sealed to that key. Until it does, the join waits in
 * $CLAUDEMESH_HOME/pending-joins/<mesh_id>.json (0600; the member key lives there meanwhile) and no
 * mesh file exists, so nothing connects: messages for the new member wait at the broker and open
 * once the key is here. `claudemesh join --resume` (or the same join again) picks the wait up.
 */
export interface PendingJoin {
  v: 1;
  mesh_id: string;
  mesh_name: string;
  broker_url: string;
  display_name: string;
  role: StoredMesh['role'];
  peer_type: PeerType;
  identity: SerializedIdentity;
  invite_id: string;
  /** The inviting admin: the only key whose handoff is accepted. */
  issuer: string;
  inviter_name: string;
  claimed_at: number;
}

export interface EmailJoinOptions {
  name: string;
  /** Names to try in turn while the broker answers E_NAME_TAKEN (a default name made unique); `name` alone otherwise. */
  names?: string[];
  peerType: PeerType;
  /** Seconds to wait for the key handoff. */
  waitS: number;
  json: boolean;
}

const pendingDir = (home: string): string => join(home, 'pending-joins');
const pendingFile = (home: string, meshId: string): string => join(pendingDir(home), `${meshId}.json`);

function savePending(home: string, p: PendingJoin): void {
  mkdirSync(pendingDir(home), { recursive: true, mode: 0o700 });
  const file = pendingFile(home, p.mesh_id);
  writeFileSync(file, `${JSON.stringify(p, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function loadPendingJoins(home: string): PendingJoin[] {
  if (!existsSync(pendingDir(home))) return [];
  return readdirSync(pendingDir(home))
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => JSON.parse(readFileSync(join(pendingDir(home), n), 'utf8')) as PendingJoin);
}

/** `join <email link>`: resolve (which mesh, from whom), claim, then wait for the key. */
export async function joinByEmail(input: Extract<InviteInput, { kind: 'email' }>, account: PendingAccount, opts: EmailJoinOptions): Promise<void> {
  const home = claudemeshHome();
  const broker = httpBaseOf(input.brokerUrl);
  let pending: PendingJoin;
  try {
    const resolved = await resolveEmailInvite(broker, input.code, input.issuer);
    const joined = loadMeshes(home).find((m) => m.mesh_id === resolved.mesh_id);
    if (joined) throw new CliError(`already joined "${joined.mesh_name}" as ${joined.display_name}; to join again, first run: claudemesh mesh leave ${joined.mesh_name} -y`, EXIT.usage);
    // A join that waited before keeps its key: claiming again with it is a rejoin.
    const earlier = loadPendingJoins(home).find((p) => p.mesh_id === resolved.mesh_id);
    const identity = earlier ? parseIdentity(earlier.identity) : meshIdentity(account.account, resolved.mesh_id);
    const names = earlier ? [earlier.display_name] : (opts.names ?? [opts.name]);
    const { result: claimed } = await firstFreeName(names, (displayName) =>
      claimEmailInvite(broker, { code: input.code, identity, displayName, peerType: opts.peerType, ...(input.issuer ? { issuer: input.issuer } : {}) }),
    );
    account.commit();
    pending = {
      v: 1,
      mesh_id: claimed.mesh_id,
      mesh_name: claimed.mesh_name,
      broker_url: broker,
      display_name: claimed.member.display_name,
      role: claimed.member.role,
      peer_type: claimed.member.peer_type,
      identity: serializeIdentity(identity),
      invite_id: claimed.invite.invite_id,
      issuer: claimed.invite.issuer,
      inviter_name: resolved.inviter.display_name,
      claimed_at: Date.now(),
    };
  } catch (error) {
    throw joinFailure(error, { broker, name: opts.name });
  }
  savePending(home, pending);
  await waitForKey(home, pending, opts, account.created);
}

/** `join --resume [mesh]`: waits for the key of every pending email join (or the one named). */
export async function resumeEmailJoins(selector: string | undefined, opts: Pick<EmailJoinOptions, 'waitS' | 'json'>): Promise<void> {
  const home = claudemeshHome();
  const all = loadPendingJoins(home);
  const chosen = selector ? all.filter((p) => p.mesh_id === selector || p.mesh_name === selector || p.mesh_id.startsWith(selector)) : all;
  if (all.length === 0) throw new CliError("no join is waiting for a mesh key here; join with: claudemesh join '<email invite link>' --name <you>", EXIT.noMesh);
  if (chosen.length === 0) throw new CliError(`no pending join matches "${selector}"; pending: ${all.map((p) => p.mesh_name).join(', ')}`, EXIT.noMesh);
  for (const p of chosen) await waitForKey(home, p, opts, false);
}

/**
 * Polls for the handoff with backoff (0.5 s growing to 5 s) until `waitS` runs out. The key is only
 * used once it verifies under the inviting admin's key; then the mesh file is written. A timeout
 * leaves the pending join and exits 6.
 */
async function waitForKey(home: string, p: PendingJoin, opts: Pick<EmailJoinOptions, 'waitS' | 'json'>, accountCreated: boolean): Promise<void> {
  const identity = parseIdentity(p.identity);
  const deadline = Date.now() + opts.waitS * 1000;
  let delay = 500;
  let key: Uint8Array | null = null;
  for (;;) {
    try {
      key = await fetchKeyHandoff(p.broker_url, identity, p.mesh_id, { inviteId: p.invite_id, issuer: p.issuer });
    } catch (error) {
      if (error instanceof ProtocolError && error.code === 'E_INVITE_INVALID') {
        throw new CliError(
          `the mesh key handed over for "${p.mesh_name}" does not verify as coming from ${p.inviter_name} (${error.message}); it was not saved [E_INVITE_INVALID]\n  next: tell ${p.inviter_name} over another channel; do not rely on this broker for this mesh until they hand the key over again`,
        );
      }
      throw joinFailure(error, { broker: p.broker_url, name: p.display_name });
    }
    if (key || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 1.6, 5_000);
  }
  const summary = { mesh_id: p.mesh_id, mesh_name: p.mesh_name, member: { display_name: p.display_name, role: p.role, peer_type: p.peer_type, member_pubkey: identity.publicKey }, inviter: p.inviter_name };
  if (!key) {
    process.exitCode = EXIT.pending;
    print(opts.json, { ...summary, pending: true, has_mesh_key: false, account_created: accountCreated }, [
      `joined "${p.mesh_name}" as ${p.display_name}; the mesh key has not arrived from ${p.inviter_name} yet (waited ${opts.waitS} s)`,
      `${p.inviter_name}'s running claudemesh daemon hands it over within a minute, or ${p.inviter_name} runs: claudemesh mesh handoff`,
      'next: claudemesh join --resume   (messages sent to you meanwhile wait at the broker)',
    ].join('\n'));
    return;
  }
  const file = saveMesh(home, {
    v: 1,
    mesh_id: p.mesh_id,
    mesh_name: p.mesh_name,
    broker_url: p.broker_url,
    display_name: p.display_name,
    role: p.role,
    peer_type: p.peer_type,
    identity: p.identity,
    mesh_key: toB64u(key),
    joined_at: Date.now(),
  });
  rmSync(pendingFile(home, p.mesh_id), { force: true });
  print(opts.json, { ...summary, pending: false, has_mesh_key: true, account_created: accountCreated, file }, [
    `joined "${p.mesh_name}" as ${p.display_name} (${p.role}); the mesh key came from ${p.inviter_name}, sealed to your key; keys saved to ${file}`,
    'next: claudemesh peer list · claudemesh send <name> <text> · claudemesh inbox',
  ].join('\n'));
}
