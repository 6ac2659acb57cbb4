import { Inject, Injectable } from '@nestjs/common';
import { LIMITS, ProtocolError, type CreateMeshBody, type MemberScope, type MembersResponse, type MeshResponse } from '@claudemesh/core';
import { identityClaimString, meshCreateString, verify } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { BUS, memberTopic, type Bus } from '../bus/bus.js';
import { rows, transaction } from '../db/sql.js';
import { MeshDirectory, scopeRecord, type MemberRecord, type MeshState } from './mesh-directory.js';
import { describeScope, narrows, requireScope, wireScope } from './member-scope.js';

export const memberInfo = (m: MemberRecord) => ({ member_pubkey: m.pubkey, display_name: m.displayName, role: m.role, peer_type: m.peerType });

@Injectable()
export class MeshesService {
  constructor(
    private readonly ds: DataSource,
    private readonly directory: MeshDirectory,
    @Inject(BUS) private readonly bus: Bus,
  ) {}

  async require(meshId: string): Promise<MeshState> {
    const state = await this.directory.get(meshId);
    if (!state) throw new ProtocolError('E_UNKNOWN_MESH', `no mesh ${meshId}`);
    return state;
  }

  /** The caller of a member route: an active member of the mesh. */
  async requireMember(meshId: string, pubkey: string, roles?: Array<MemberRecord['role']>): Promise<{ state: MeshState; member: MemberRecord }> {
    const state = await this.require(meshId);
    const member = state.byPubkey.get(pubkey);
    if (!member) throw new ProtocolError('E_NOT_MEMBER', 'the signing key is not a member of this mesh');
    if (member.revoked) throw new ProtocolError('E_REVOKED', 'the signing member has been revoked');
    if (roles && !roles.includes(member.role)) throw new ProtocolError('E_FORBIDDEN', `requires role ${roles.join(' or ')}`);
    // A route for owners and admins is administration: a confined member needs `admin` in its scope.
    if (roles && !roles.includes('member')) requireScope(member, 'admin');
    return { state, member };
  }

  /** Creates a mesh whose owner becomes its first member. Idempotent for the same signed request. */
  async create(body: CreateMeshBody, now = Date.now()): Promise<MeshResponse> {
    const signed = meshCreateString({ meshId: body.mesh_id, name: body.name, ownerPubkey: body.owner_pubkey, displayName: body.display_name, ts: body.ts });
    if (!verify(signed, body.sig, body.owner_pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'mesh-create signature does not verify');
    const existing = await this.directory.get(body.mesh_id);
    if (existing) {
      if (existing.mesh.ownerPubkey !== body.owner_pubkey || existing.mesh.name !== body.name) throw new ProtocolError('E_CONFLICT', 'a different mesh with this id exists');
      const owner = existing.byPubkey.get(body.owner_pubkey)!;
      return { mesh_id: existing.mesh.id, name: existing.mesh.name, owner: memberInfo(owner), created_at: existing.mesh.createdAt };
    }
    if (Math.abs(now - body.ts) > LIMITS.requestSkewMs) throw new ProtocolError('E_STALE_TIMESTAMP', 'mesh-create timestamp outside the allowed skew');
    let createdAt: number;
    try {
      createdAt = await this.insertMesh(body);
    } catch (error) {
      // A concurrent create of the same id: answer like a repeated create.
      if ((error as { code?: string }).code === '23505') return this.create(body, now);
      throw error;
    }
    await this.directory.refresh(body.mesh_id);
    return {
      mesh_id: body.mesh_id,
      name: body.name,
      owner: { member_pubkey: body.owner_pubkey, display_name: body.display_name, role: 'owner', peer_type: body.peer_type },
      created_at: createdAt,
    };
  }

  private insertMesh(body: CreateMeshBody): Promise<number> {
    return transaction(this.ds, async (qr) => {
      const [mesh] = await rows<{ created_at: Date }>(
        qr,
        'INSERT INTO meshes (id, name, owner_pubkey, create_sig) VALUES ($1, $2, $3, $4) RETURNING created_at',
        [body.mesh_id, body.name, body.owner_pubkey, body.sig],
      );
      await qr.query(`INSERT INTO members (mesh_id, pubkey, display_name, role, peer_type) VALUES ($1, $2, $3, 'owner', $4)`, [
        body.mesh_id,
        body.owner_pubkey,
        body.display_name,
        body.peer_type,
      ]);
      // The trigger of migration 0006 made #general with the column default (e2e, migration 0012).
      if (body.general === 'plaintext') await qr.query(`UPDATE topics SET encryption = 'plaintext' WHERE mesh_id = $1 AND name = 'general'`, [body.mesh_id]);
      return mesh!.created_at.getTime();
    });
  }

  async listMeshIds(): Promise<string[]> {
    const found = await rows<{ id: string }>(this.ds, 'SELECT id FROM meshes ORDER BY created_at');
    return found.map((r) => r.id);
  }

  async members(meshId: string): Promise<MembersResponse> {
    const state = await this.require(meshId);
    return {
      members: [...state.byId.values()].map((m) => ({ ...memberInfo(m), revoked: m.revoked, joined_at: m.joinedAt, scope: wireScope(m.scope) })),
    };
  }

  /** Revokes a member: its sessions are closed and its hellos refused from now on. The owner cannot be revoked. */
  async revokeMember(meshId: string, actorPubkey: string, targetPubkey: string): Promise<{ revoked: boolean }> {
    const { state, member: actor } = await this.requireMember(meshId, actorPubkey, ['owner', 'admin']);
    const target = state.byPubkey.get(targetPubkey);
    if (!target) throw new ProtocolError('E_NOT_FOUND', 'no such member');
    if (target.role === 'owner') throw new ProtocolError('E_FORBIDDEN', 'the owner cannot be revoked');
    if (target.role === 'admin' && actor.role !== 'owner') throw new ProtocolError('E_FORBIDDEN', 'only the owner revokes an admin');
    if (target.revoked) return { revoked: true };
    await this.ds.query('UPDATE members SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [target.id]);
    target.revoked = true;
    this.bus.publish(memberTopic(target.id), { kind: 'revoked', memberId: target.id });
    return { revoked: true };
  }

  /**
   * A REST-only human takes a keypair of its own (protocol §6.5 "Claiming a key"): the new key
   * replaces the placeholder nobody held, once. From then on the member is like any other that holds
   * a key — sealed to, listed in key epochs (the next post in an e2e topic rotates to include it),
   * able to sign. The broker admits the key on the word of the API key that asks, so members compare
   * safety numbers with it as after an email invite (docs/security.md).
   */
  async claimIdentity(state: MeshState, member: MemberRecord, body: { member_pubkey: string; sig: string }): Promise<ReturnType<typeof memberInfo>> {
    if (!member.restOnly) {
      throw new ProtocolError('E_CONFLICT', `${member.displayName} holds a key already (${member.pubkey.slice(0, 12)}…); a key is claimed once, by a member enrolled without one`);
    }
    const signed = identityClaimString({ meshId: state.mesh.id, placeholder: member.pubkey, memberPubkey: body.member_pubkey });
    if (!verify(signed, body.sig, body.member_pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'the identity claim is not signed by the key it claims, for this mesh and member');
    let updated: Array<{ id: string }>;
    try {
      updated = await rows<{ id: string }>(this.ds, 'UPDATE members SET pubkey = $1, rest_only = false WHERE id = $2 AND rest_only RETURNING id', [body.member_pubkey, member.id]);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new ProtocolError('E_CONFLICT', 'another member of this mesh has this key');
      throw error;
    }
    // Claimed meanwhile (another browser, another node): the first claim stands.
    if (updated.length === 0) {
      await this.directory.refresh(state.mesh.id);
      throw new ProtocolError('E_CONFLICT', `${member.displayName} holds a key already; a key is claimed once`);
    }
    state.rekey(member.id, body.member_pubkey);
    return memberInfo(member);
  }

  /**
   * The calling member takes another display name (protocol §8.3, RenameMemberBody): unique in the
   * mesh, revoked members included; applied to the in-memory directory at once, so routing by the
   * new name works and the old one addresses no one.
   */
  async renameMember(meshId: string, callerPubkey: string, displayName: string): Promise<ReturnType<typeof memberInfo>> {
    const { state, member } = await this.requireMember(meshId, callerPubkey);
    if (member.displayName === displayName) return memberInfo(member);
    const holder = state.byName.get(displayName);
    if (holder && holder !== member) throw new ProtocolError('E_NAME_TAKEN', `display name ${displayName} is taken in this mesh`);
    try {
      await this.ds.query('UPDATE members SET display_name = $1 WHERE id = $2', [displayName, member.id]);
    } catch (error) {
      // Taken meanwhile by a join on this node or another.
      if ((error as { code?: string }).code === '23505') throw new ProtocolError('E_NAME_TAKEN', `display name ${displayName} is taken in this mesh`);
      throw error;
    }
    state.rename(member.id, displayName);
    return memberInfo(member);
  }

  /**
   * Sets or lifts a member's scope (protocol §8.3, SetMemberScopeBody). A member may narrow its own
   * (a plugin's member confines itself to its manifest); only an owner or admin widens or lifts one,
   * an admin's only by the owner, and the owner's never by another. Applied to the directory at
   * once: the member's next frame or request is held to it.
   */
  async setScope(meshId: string, callerPubkey: string, targetPubkey: string, scope: MemberScope | null): Promise<ReturnType<typeof memberInfo> & { scope: MemberScope | null }> {
    const { state, member: caller } = await this.requireMember(meshId, callerPubkey);
    const target = state.byPubkey.get(targetPubkey);
    if (!target || target.revoked) throw new ProtocolError('E_NOT_FOUND', 'no such member');
    const self = target === caller;
    if (!(self && scope !== null && narrows(caller.scope, scope))) {
      if (caller.role === 'member') {
        throw new ProtocolError('E_FORBIDDEN', self
          ? `a member only narrows its own scope (now ${caller.scope ? describeScope(caller.scope) : 'unconfined'}); an owner or admin widens or lifts it`
          : 'only an owner or admin sets another member\'s scope');
      }
      requireScope(caller, 'admin');
      if (!self && target.role === 'owner') throw new ProtocolError('E_FORBIDDEN', 'the owner\'s scope is the owner\'s own');
      if (!self && target.role === 'admin' && caller.role !== 'owner') throw new ProtocolError('E_FORBIDDEN', 'only the owner sets an admin\'s scope');
    }
    await this.ds.query('UPDATE members SET scope_capabilities = $1::text[], scope_topics = $2::text[] WHERE id = $3', [scope?.capabilities ?? null, scope?.topics ?? null, target.id]);
    target.scope = scope ? scopeRecord(scope.capabilities, scope.topics) : null;
    return { ...memberInfo(target), scope: wireScope(target.scope) };
  }

  async joinGroup(state: MeshState, memberId: string, group: string): Promise<void> {
    await this.ds.query('INSERT INTO group_members (member_id, group_name, mesh_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [memberId, group, state.mesh.id]);
    state.addToGroup(memberId, group);
  }

  async leaveGroup(state: MeshState, memberId: string, group: string): Promise<void> {
    await this.ds.query('DELETE FROM group_members WHERE member_id = $1 AND group_name = $2', [memberId, group]);
    state.removeFromGroup(memberId, group);
  }
}
