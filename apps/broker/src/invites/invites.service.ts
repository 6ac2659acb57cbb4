import { Injectable } from '@nestjs/common';
import { LIMITS, ProtocolError, type InviteResponse, type JoinBody, type JoinResponse, type SignedInviteBody } from '@claudemesh/core';
import { checkInvite, joinString, verify } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { rows, transaction } from '../db/sql.js';
import { MeshesService, memberInfo } from '../meshes/meshes.service.js';
import { MeshDirectory, type MeshState } from '../meshes/mesh-directory.js';
import { concurrentEnrollment, insertMember, inviteResponse, isUniqueViolation, unusableInvite } from './enrollment.js';
import { ShortInvitesService } from './short-invites.service.js';

interface InviteRow {
  id: string;
  mesh_id: string;
  role: 'admin' | 'member';
  max_uses: number;
  uses: number;
  expires_at: Date;
  revoked_at: Date | null;
  sig: string;
  created_at: Date;
}

@Injectable()
export class InvitesService {
  constructor(
    private readonly ds: DataSource,
    private readonly meshes: MeshesService,
    private readonly directory: MeshDirectory,
    private readonly shortInvites: ShortInvitesService,
  ) {}

  /** The invite must verify, be unexpired, belong to this mesh, and come from an active owner/admin. */
  private async validate(invite: SignedInviteBody, now: number): Promise<MeshState> {
    const check = checkInvite(invite, now);
    if (!check.ok) throw new ProtocolError(check.code, check.code === 'E_INVITE_EXPIRED' ? 'the invite has expired' : 'the invite signature does not verify');
    const state = await this.meshes.require(invite.payload.mesh_id);
    const issuer = state.byPubkey.get(invite.payload.issuer);
    if (!issuer || issuer.revoked || (issuer.role !== 'owner' && issuer.role !== 'admin')) {
      throw new ProtocolError('E_INVITE_INVALID', 'the invite issuer is not an active owner or admin of the mesh');
    }
    if (issuer.scope && !issuer.scope.capabilities.has('admin')) throw new ProtocolError('E_INVITE_INVALID', 'the invite issuer is confined to a scope without admin rights');
    if (invite.payload.role === 'admin' && issuer.role !== 'owner') throw new ProtocolError('E_INVITE_INVALID', 'only the owner can invite admins');
    return state;
  }

  /** Registers a signed invite so its uses are counted and it can be revoked. Idempotent. */
  async register(meshId: string, callerPubkey: string, invite: SignedInviteBody, now = Date.now()): Promise<InviteResponse> {
    if (invite.payload.mesh_id !== meshId) throw new ProtocolError('E_SCHEMA', 'invite is for another mesh');
    await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    if (invite.payload.issuer !== callerPubkey) throw new ProtocolError('E_FORBIDDEN', 'an invite is registered by its issuer');
    await this.validate(invite, now);
    await this.upsert(this.ds, invite);
    return inviteResponse(await this.get(invite.payload.invite_id));
  }

  /** v1 and v2 (short-code, `version: 2`) invites together, oldest first. */
  async list(meshId: string, callerPubkey: string): Promise<{ invites: InviteResponse[] }> {
    await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    const found = await rows<InviteRow>(this.ds, 'SELECT * FROM invites WHERE mesh_id = $1 ORDER BY created_at', [meshId]);
    const all = [...found.map((r) => ({ ...inviteResponse(r), created_at: r.created_at.getTime() })), ...(await this.shortInvites.list(meshId))];
    return { invites: all.sort((a, b) => a.created_at - b.created_at).map(({ created_at: _created, ...invite }) => invite) };
  }

  async revoke(meshId: string, callerPubkey: string, inviteId: string): Promise<InviteResponse> {
    const { member } = await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    const [row] = await rows<InviteRow>(this.ds, 'SELECT * FROM invites WHERE id = $1 AND mesh_id = $2', [inviteId, meshId]);
    if (!row) throw new ProtocolError('E_NOT_FOUND', 'no such invite');
    const issuer = (await rows<{ issuer_pubkey: string }>(this.ds, 'SELECT issuer_pubkey FROM invites WHERE id = $1', [inviteId]))[0];
    if (member.role !== 'owner' && issuer?.issuer_pubkey !== callerPubkey) throw new ProtocolError('E_FORBIDDEN', 'only the issuer or the owner revokes an invite');
    await this.ds.query('UPDATE invites SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [inviteId]);
    return inviteResponse(await this.get(inviteId));
  }

  /**
   * Enrolls a member key. Consuming a use and inserting the member happen in one transaction, so a
   * name clash does not burn a use and concurrent joins cannot exceed max_uses.
   */
  async join(body: JoinBody, now = Date.now()): Promise<JoinResponse> {
    const p = body.invite.payload;
    const signed = joinString({ meshId: p.mesh_id, inviteId: p.invite_id, memberPubkey: body.member_pubkey, displayName: body.display_name, ts: body.ts });
    if (!verify(signed, body.sig, body.member_pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'join signature does not verify');
    if (Math.abs(now - body.ts) > LIMITS.requestSkewMs) throw new ProtocolError('E_STALE_TIMESTAMP', 'join timestamp outside the allowed skew');
    const state = await this.validate(body.invite, now);
    const response = (rejoined: boolean, m = state.byPubkey.get(body.member_pubkey)!): JoinResponse => ({
      mesh_id: state.mesh.id,
      mesh_name: state.mesh.name,
      member: memberInfo(m),
      rejoined,
    });
    const existing = state.byPubkey.get(body.member_pubkey);
    if (existing) {
      if (existing.revoked) throw new ProtocolError('E_REVOKED', 'this key was revoked from the mesh');
      return response(true);
    }
    try {
      await transaction(this.ds, async (qr) => {
        await this.upsert(qr, body.invite);
        const used = await rows<{ uses: number }>(
          qr,
          'UPDATE invites SET uses = uses + 1 WHERE id = $1 AND revoked_at IS NULL AND uses < max_uses AND expires_at > now() RETURNING uses',
          [p.invite_id],
        );
        if (used.length === 0) throw unusableInvite(await this.get(p.invite_id, qr));
        await insertMember(qr, { meshId: p.mesh_id, pubkey: body.member_pubkey, displayName: body.display_name, role: p.role, peerType: body.peer_type, inviteId: p.invite_id });
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      return response(true, await concurrentEnrollment(this.directory, state, body.member_pubkey, body.display_name));
    }
    await this.directory.refresh(p.mesh_id);
    return response(false);
  }

  private async upsert(runner: DataSource | import('typeorm').QueryRunner, invite: SignedInviteBody): Promise<void> {
    const p = invite.payload;
    await runner.query(
      `INSERT INTO invites (id, mesh_id, issuer_pubkey, role, payload, sig, max_uses, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8 / 1000.0)) ON CONFLICT (id) DO NOTHING`,
      [p.invite_id, p.mesh_id, p.issuer, p.role, JSON.stringify(p), invite.sig, p.max_uses, p.expires_at],
    );
    const [stored] = await rows<{ sig: string }>(runner, 'SELECT sig FROM invites WHERE id = $1', [p.invite_id]);
    if (stored && stored.sig !== invite.sig) throw new ProtocolError('E_CONFLICT', 'another invite with this id exists');
  }

  private async get(inviteId: string, runner: DataSource | import('typeorm').QueryRunner = this.ds): Promise<InviteRow> {
    const [row] = await rows<InviteRow>(runner, 'SELECT * FROM invites WHERE id = $1', [inviteId]);
    if (!row) throw new ProtocolError('E_NOT_FOUND', 'no such invite');
    return row;
  }
}
