import { Injectable } from '@nestjs/common';
import {
  LIMITS,
  ProtocolError,
  type InviteResponse,
  type ShortInviteBody,
  type ShortInviteClaimBody,
  type ShortInviteClaimResponse,
  type ShortInviteClaimResult,
  type ShortInviteResolveResponse,
} from '@claudemesh/core';
import { canonicalJson, edPublicToBoxPublic, sealTo, shortInviteClaimString, toB64u, verify, verifyShortInviteSignature, type ShortInviteRecord } from '@claudemesh/crypto';
import { DataSource, type QueryRunner } from 'typeorm';
import { rows, transaction } from '../db/sql.js';
import { MeshDirectory, type MeshState } from '../meshes/mesh-directory.js';
import { MeshesService, memberInfo } from '../meshes/meshes.service.js';
import { concurrentEnrollment, insertMember, inviteResponse, isUniqueViolation, issuerStanding, unusableInvite } from './enrollment.js';

interface ShortInviteRow {
  id: string;
  mesh_id: string;
  lookup: string;
  issuer_pubkey: string;
  role: 'admin' | 'member';
  wrapped_mesh_key: string;
  sig: string;
  max_uses: number;
  uses: number;
  expires_at: Date;
  created_at: Date;
  revoked_at: Date | null;
}

export const shortInviteResponse = (r: ShortInviteRow): InviteResponse => inviteResponse(r, 2);

/** The row as the issuer signed it; the joiner re-checks this signature, so the broker cannot alter it. */
const recordOf = (r: ShortInviteRow): ShortInviteRecord => ({
  mesh_id: r.mesh_id,
  invite_id: r.id,
  lookup: r.lookup,
  wrapped_mesh_key: r.wrapped_mesh_key,
  role: r.role,
  max_uses: r.max_uses,
  expires_at: r.expires_at.getTime(),
  issuer: r.issuer_pubkey,
  sig: r.sig,
});

/**
 * Invites v2 (docs/protocol.md §9b). The broker learns a lookup (an HMAC of the code) and a mesh key
 * wrapped under another derivation of the code; it hands the wrapped key, sealed to the joiner, to
 * whoever proves the lookup and enrolls a member key. It can count and revoke, but never open.
 */
@Injectable()
export class ShortInvitesService {
  constructor(
    private readonly ds: DataSource,
    private readonly meshes: MeshesService,
    private readonly directory: MeshDirectory,
  ) {}

  /** Registers a signed short invite. Idempotent for the same record; another record under its id or code is E_CONFLICT. */
  async register(meshId: string, callerPubkey: string, body: ShortInviteBody, now = Date.now()): Promise<InviteResponse> {
    if (body.mesh_id !== meshId) throw new ProtocolError('E_SCHEMA', 'mesh_id: the invite is for another mesh');
    const { member } = await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    if (body.issuer !== callerPubkey) throw new ProtocolError('E_FORBIDDEN', 'a short invite is registered by its issuer');
    if (body.role === 'admin' && member.role !== 'owner') throw new ProtocolError('E_INVITE_INVALID', 'only the owner can invite admins');
    if (!verifyShortInviteSignature(body)) throw new ProtocolError('E_INVITE_INVALID', 'the short invite signature does not verify');
    if (now >= body.expires_at) throw new ProtocolError('E_INVITE_EXPIRED', 'the invite has already expired');
    await this.ds.query(
      `INSERT INTO invites_v2 (id, mesh_id, lookup, issuer_pubkey, role, wrapped_mesh_key, sig, max_uses, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9 / 1000.0)) ON CONFLICT DO NOTHING`,
      [body.invite_id, meshId, body.lookup, body.issuer, body.role, body.wrapped_mesh_key, body.sig, body.max_uses, body.expires_at],
    );
    const [stored] = await rows<ShortInviteRow>(this.ds, 'SELECT * FROM invites_v2 WHERE id = $1', [body.invite_id]);
    if (!stored || stored.sig !== body.sig || stored.lookup !== body.lookup) throw new ProtocolError('E_CONFLICT', 'another invite with this id or code exists');
    return shortInviteResponse(stored);
  }

  async list(meshId: string): Promise<Array<InviteResponse & { created_at: number }>> {
    const found = await rows<ShortInviteRow>(this.ds, 'SELECT * FROM invites_v2 WHERE mesh_id = $1 ORDER BY created_at', [meshId]);
    return found.map((r) => ({ ...shortInviteResponse(r), created_at: r.created_at.getTime() }));
  }

  /** The owner revokes any short invite, an admin those it issued. Idempotent. */
  async revoke(meshId: string, callerPubkey: string, inviteId: string): Promise<InviteResponse> {
    const { member } = await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    const [row] = await rows<ShortInviteRow>(this.ds, 'SELECT * FROM invites_v2 WHERE id = $1 AND mesh_id = $2', [inviteId, meshId]);
    if (!row) throw new ProtocolError('E_NOT_FOUND', 'no such short invite');
    if (member.role !== 'owner' && row.issuer_pubkey !== callerPubkey) throw new ProtocolError('E_FORBIDDEN', 'only the issuer or the owner revokes an invite');
    const [revoked] = await rows<ShortInviteRow>(this.ds, 'UPDATE invites_v2 SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING *', [inviteId]);
    return shortInviteResponse(revoked!);
  }

  /** Which mesh a lookup belongs to, so the joiner can derive its member key before claiming. Reveals no key. */
  async resolve(lookup: string, now = Date.now()): Promise<ShortInviteResolveResponse> {
    const row = await this.byLookup(lookup);
    const state = await this.meshes.require(row.mesh_id);
    if (now >= row.expires_at.getTime()) throw new ProtocolError('E_INVITE_EXPIRED', 'the invite has expired');
    const issuer = state.byPubkey.get(row.issuer_pubkey);
    return {
      mesh_id: row.mesh_id,
      mesh_name: state.mesh.name,
      role: row.role,
      expires_at: row.expires_at.getTime(),
      inviter: { member_pubkey: row.issuer_pubkey, display_name: issuer?.displayName ?? 'unknown' },
    };
  }

  /**
   * Enrollment with a code. Consuming a use (one conditional UPDATE) and inserting the member share a
   * transaction, so a name clash burns no use and concurrent claims never exceed max_uses. The answer
   * is sealed to the joiner's x25519 key.
   */
  async claim(body: ShortInviteClaimBody, now = Date.now()): Promise<ShortInviteClaimResponse> {
    this.checkClaimSignature(body, now);
    const row = await this.byLookup(body.lookup);
    const state = await this.checkStanding(row, now);
    const existing = state.byPubkey.get(body.member_pubkey);
    if (existing) {
      if (existing.revoked) throw new ProtocolError('E_REVOKED', 'this key was revoked from the mesh');
      // A rejoin consumes nothing, but it does hand out the wrapped key: a revoked code gives it to no one.
      if (row.revoked_at) throw new ProtocolError('E_INVITE_REVOKED', 'the invite has been revoked');
      return this.answer(body, state, row, true);
    }
    try {
      await transaction(this.ds, (qr) => this.consumeAndEnroll(qr, body, row));
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      await concurrentEnrollment(this.directory, state, body.member_pubkey, body.display_name);
      return this.answer(body, state, row, true);
    }
    await this.directory.refresh(row.mesh_id);
    return this.answer(body, state, row, false);
  }

  /** Proof of possession of the member key, its x25519 form, and a fresh timestamp — before any lookup. */
  private checkClaimSignature(body: ShortInviteClaimBody, now: number): void {
    const signed = shortInviteClaimString({
      lookup: body.lookup, memberPubkey: body.member_pubkey, x25519Pubkey: body.x25519_pubkey, displayName: body.display_name, peerType: body.peer_type, ts: body.ts,
    });
    if (!verify(signed, body.sig, body.member_pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'claim signature does not verify');
    // One key per member: the answer is sealed to the x25519 form of the enrolled member key.
    if (toB64u(edPublicToBoxPublic(body.member_pubkey)) !== body.x25519_pubkey) {
      throw new ProtocolError('E_SCHEMA', 'x25519_pubkey: must be the x25519 form of member_pubkey');
    }
    if (Math.abs(now - body.ts) > LIMITS.requestSkewMs) throw new ProtocolError('E_STALE_TIMESTAMP', 'claim timestamp outside the allowed skew');
  }

  /** The stored record still verifies, is unexpired, and its issuer may still issue it. */
  private async checkStanding(row: ShortInviteRow, now: number): Promise<MeshState> {
    if (!verifyShortInviteSignature(recordOf(row))) throw new ProtocolError('E_INVITE_INVALID', 'the stored invite does not verify');
    if (now >= row.expires_at.getTime()) throw new ProtocolError('E_INVITE_EXPIRED', 'the invite has expired');
    return issuerStanding(this.meshes, row);
  }

  private async consumeAndEnroll(qr: QueryRunner, body: ShortInviteClaimBody, row: ShortInviteRow): Promise<void> {
    const used = await rows<{ uses: number }>(
      qr,
      'UPDATE invites_v2 SET uses = uses + 1 WHERE lookup = $1 AND uses < max_uses AND revoked_at IS NULL AND expires_at > now() RETURNING uses',
      [body.lookup],
    );
    if (used.length === 0) {
      const [current] = await rows<ShortInviteRow>(qr, 'SELECT * FROM invites_v2 WHERE lookup = $1', [body.lookup]);
      throw unusableInvite(current);
    }
    await insertMember(qr, { meshId: row.mesh_id, pubkey: body.member_pubkey, displayName: body.display_name, role: row.role, peerType: body.peer_type, inviteId: row.id });
  }

  private answer(body: ShortInviteClaimBody, state: MeshState, row: ShortInviteRow, rejoined: boolean): ShortInviteClaimResponse {
    const member = state.byPubkey.get(body.member_pubkey)!;
    const result: ShortInviteClaimResult = { mesh_id: state.mesh.id, mesh_name: state.mesh.name, member: memberInfo(member), rejoined, invite: recordOf(row) };
    return { sealed: sealTo(canonicalJson(result), body.member_pubkey) };
  }

  private async byLookup(lookup: string): Promise<ShortInviteRow> {
    const [row] = await rows<ShortInviteRow>(this.ds, 'SELECT * FROM invites_v2 WHERE lookup = $1', [lookup]);
    if (!row) throw new ProtocolError('E_INVITE_NOT_FOUND', 'no invite matches this code');
    return row;
  }
}
