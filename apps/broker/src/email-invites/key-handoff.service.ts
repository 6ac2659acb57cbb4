import { Injectable } from '@nestjs/common';
import { ProtocolError, type KeyHandoffBody, type KeyHandoffResponse, type KeyHandoffStored, type KeyRequestsResponse } from '@claudemesh/core';
import { edPublicToBoxPublic, toB64u, verifyKeyHandoffSignature } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import { MeshesService, memberInfo } from '../meshes/meshes.service.js';
import { recordOf, type EmailInviteRow } from './email-invite.record.js';

/**
 * The mesh key's way to a member admitted by email (docs/protocol.md §9c): the inviting admin lists
 * the pending members, seals the key to each one's x25519 key and signs it; the member fetches it.
 * The broker only stores and forwards the sealed box, which it cannot open.
 */
@Injectable()
export class KeyHandoffService {
  constructor(
    private readonly ds: DataSource,
    private readonly meshes: MeshesService,
  ) {}

  /** Active members admitted by an email invite that is not revoked, whose key is not yet handed over. */
  async pending(meshId: string, callerPubkey: string): Promise<KeyRequestsResponse> {
    const { state } = await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    const found = await rows<EmailInviteRow>(
      this.ds,
      'SELECT * FROM email_invites WHERE mesh_id = $1 AND member_pubkey IS NOT NULL AND handoff_sealed IS NULL AND revoked_at IS NULL ORDER BY claimed_at',
      [meshId],
    );
    const requests = found.flatMap((r) => {
      const member = state.byPubkey.get(r.member_pubkey!);
      if (!member || member.revoked) return [];
      return [{ invite_id: r.id, member: memberInfo(member), x25519_pubkey: toB64u(edPublicToBoxPublic(member.pubkey)), claimed_at: r.claimed_at!.getTime(), invite: recordOf(r) }];
    });
    return { requests };
  }

  /** Stores the inviting admin's handoff once. The same handoff again is idempotent; another one is E_CONFLICT. */
  async store(meshId: string, callerPubkey: string, memberPubkey: string, body: KeyHandoffBody): Promise<KeyHandoffStored> {
    const { state } = await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    const [row] = await rows<EmailInviteRow>(this.ds, 'SELECT * FROM email_invites WHERE id = $1 AND mesh_id = $2', [body.invite_id, meshId]);
    if (!row || row.member_pubkey !== memberPubkey) throw new ProtocolError('E_NOT_FOUND', 'no key request from this member for this invite');
    if (row.issuer_pubkey !== callerPubkey) throw new ProtocolError('E_FORBIDDEN', 'only the admin who sent the invite hands over its key');
    if (row.revoked_at) throw new ProtocolError('E_INVITE_REVOKED', 'the invite has been revoked');
    const member = state.byPubkey.get(memberPubkey);
    if (!member || member.revoked) throw new ProtocolError('E_REVOKED', 'the member has been revoked');
    if (!verifyKeyHandoffSignature(body, { meshId, inviteId: row.id, memberPubkey, issuer: callerPubkey })) {
      throw new ProtocolError('E_BAD_SIGNATURE', 'the key handoff signature does not verify');
    }
    const [stored] = await rows<EmailInviteRow>(
      this.ds,
      'UPDATE email_invites SET handoff_sealed = $2, handoff_sig = $3, handed_over_at = now() WHERE id = $1 AND handoff_sealed IS NULL RETURNING *',
      [row.id, body.sealed, body.sig],
    );
    const done = stored ?? (await rows<EmailInviteRow>(this.ds, 'SELECT * FROM email_invites WHERE id = $1', [row.id]))[0]!;
    if (done.handoff_sealed !== body.sealed || done.handoff_sig !== body.sig) throw new ProtocolError('E_CONFLICT', 'the key was already handed over to this member');
    return { invite_id: row.id, member_pubkey: memberPubkey, handed_over_at: done.handed_over_at!.getTime() };
  }

  /** The caller's own handoff (its latest email invite), with nulls while it is pending. */
  async mine(meshId: string, callerPubkey: string): Promise<KeyHandoffResponse> {
    await this.meshes.requireMember(meshId, callerPubkey);
    const [row] = await rows<EmailInviteRow>(this.ds, 'SELECT * FROM email_invites WHERE mesh_id = $1 AND member_pubkey = $2 ORDER BY claimed_at DESC LIMIT 1', [meshId, callerPubkey]);
    if (!row) throw new ProtocolError('E_NOT_FOUND', 'this member was not admitted by an email invite');
    return { invite_id: row.id, issuer: row.issuer_pubkey, sealed: row.handoff_sealed, sig: row.handoff_sig, handed_over_at: row.handed_over_at?.getTime() ?? null };
  }
}
