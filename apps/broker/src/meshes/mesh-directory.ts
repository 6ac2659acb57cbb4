import { Injectable } from '@nestjs/common';
import { DEFAULT_CAPABILITIES, type ApiKeyCapability, type Capability } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';

export interface MemberRecord {
  id: string;
  meshId: string;
  pubkey: string;
  displayName: string;
  role: 'owner' | 'admin' | 'member';
  peerType: 'ai' | 'human' | 'connector';
  revoked: boolean;
  /** Exists only over REST (an API-key holder without a keypair): topics only, no DMs or fan-out. */
  restOnly: boolean;
  /** What the member may do whatever its role (migrations/0015); null: not confined. */
  scope: MemberScopeRecord | null;
  joinedAt: number;
  groups: Set<string>;
}

/** A member's scope: its capabilities, and its topics (null: any). */
export interface MemberScopeRecord {
  capabilities: ReadonlySet<ApiKeyCapability>;
  topics: ReadonlySet<string> | null;
}

/** A grant row: what `owner` lets `peer` do to it, when that differs from the defaults. */
export interface GrantRecord {
  capabilities: Set<Capability>;
  blocked: boolean;
  updatedAt: number;
}

const DEFAULT_SET: ReadonlySet<Capability> = new Set(DEFAULT_CAPABILITIES);

export interface MeshRecord {
  id: string;
  name: string;
  ownerPubkey: string;
  createdAt: number;
}

/** One mesh's membership, kept in memory so routing a send needs no query. */
export class MeshState {
  readonly byId = new Map<string, MemberRecord>();
  readonly byPubkey = new Map<string, MemberRecord>();
  readonly byName = new Map<string, MemberRecord>();
  readonly groups = new Map<string, Set<string>>();
  /** owner member id → peer member id → grant; a missing entry means the default capabilities. */
  readonly grants = new Map<string, Map<string, GrantRecord>>();

  constructor(readonly mesh: MeshRecord) {}

  /** Whether `ownerId` lets `peerId` do `capability` to it (a member may do everything to itself). */
  allows(ownerId: string, peerId: string, capability: Capability): boolean {
    if (ownerId === peerId) return true;
    const grant = this.grants.get(ownerId)?.get(peerId);
    if (!grant) return DEFAULT_SET.has(capability);
    return !grant.blocked && grant.capabilities.has(capability);
  }

  setGrant(ownerId: string, peerId: string, grant: GrantRecord | null): void {
    let byPeer = this.grants.get(ownerId);
    if (!grant) {
      byPeer?.delete(peerId);
      if (byPeer?.size === 0) this.grants.delete(ownerId);
      return;
    }
    if (!byPeer) this.grants.set(ownerId, (byPeer = new Map()));
    byPeer.set(peerId, grant);
  }

  /** Adds a member, or updates the existing record in place (sessions hold references to it). */
  put(member: MemberRecord): void {
    const existing = this.byId.get(member.id);
    if (existing) {
      const { groups: _groups, ...fields } = member;
      // Revocation is final: a reload that read the row before the revocation committed must not undo it.
      Object.assign(existing, fields, { revoked: existing.revoked || member.revoked });
      return;
    }
    this.byId.set(member.id, member);
    this.byPubkey.set(member.pubkey, member);
    this.byName.set(member.displayName, member);
  }

  /** Moves a member to another name in place: routing by the new name works at once, the old one is free. */
  rename(memberId: string, displayName: string): void {
    const member = this.byId.get(memberId);
    if (!member) return;
    if (this.byName.get(member.displayName) === member) this.byName.delete(member.displayName);
    member.displayName = displayName;
    this.byName.set(displayName, member);
  }

  /** A REST-only member took a key of its own: routing by the new key works at once, the placeholder addresses no one. */
  rekey(memberId: string, pubkey: string): void {
    const member = this.byId.get(memberId);
    if (!member) return;
    if (this.byPubkey.get(member.pubkey) === member) this.byPubkey.delete(member.pubkey);
    member.pubkey = pubkey;
    member.restOnly = false;
    this.byPubkey.set(pubkey, member);
  }

  addToGroup(memberId: string, group: string): void {
    const member = this.byId.get(memberId);
    if (!member) return;
    member.groups.add(group);
    let set = this.groups.get(group);
    if (!set) this.groups.set(group, (set = new Set()));
    set.add(memberId);
  }

  removeFromGroup(memberId: string, group: string): void {
    this.byId.get(memberId)?.groups.delete(group);
    const set = this.groups.get(group);
    set?.delete(memberId);
    if (set?.size === 0) this.groups.delete(group);
  }

  activeMembers(): MemberRecord[] {
    return [...this.byId.values()].filter((m) => !m.revoked);
  }
}

/**
 * Read-through cache of meshes and their members. Every membership change goes through the
 * services that also update this cache (single node; a bus event will invalidate it across nodes).
 */
@Injectable()
export class MeshDirectory {
  private readonly meshes = new Map<string, Promise<MeshState | null>>();

  constructor(private readonly ds: DataSource) {}

  get(meshId: string): Promise<MeshState | null> {
    let state = this.meshes.get(meshId);
    if (!state) {
      state = this.load(meshId);
      this.meshes.set(meshId, state);
      // A failed load (database down) must not be cached.
      state.then((s) => (s ? undefined : this.meshes.delete(meshId)), () => this.meshes.delete(meshId));
    }
    return state;
  }

  /**
   * Re-reads a cached mesh's members into the same MeshState object: live sessions keep their
   * references, so they route with the fresh membership at once.
   */
  async refresh(meshId: string): Promise<void> {
    const cached = this.meshes.get(meshId);
    const state = cached ? await cached.catch(() => null) : null;
    if (!state) {
      this.meshes.delete(meshId);
      return;
    }
    for (const m of await this.loadMembers(meshId)) state.put(m);
  }

  private async load(meshId: string): Promise<MeshState | null> {
    const [mesh] = await rows<{ id: string; name: string; owner_pubkey: string; created_at: Date }>(
      this.ds,
      'SELECT id, name, owner_pubkey, created_at FROM meshes WHERE id = $1',
      [meshId],
    );
    if (!mesh) return null;
    const state = new MeshState({ id: mesh.id, name: mesh.name, ownerPubkey: mesh.owner_pubkey, createdAt: mesh.created_at.getTime() });
    for (const m of await this.loadMembers(meshId)) state.put(m);
    const groups = await rows<{ member_id: string; group_name: string }>(this.ds, 'SELECT member_id, group_name FROM group_members WHERE mesh_id = $1', [meshId]);
    for (const g of groups) state.addToGroup(String(g.member_id), g.group_name);
    const grants = await rows<{ owner_member_id: string; peer_member_id: string; capabilities: Capability[]; blocked: boolean; updated_at: Date }>(
      this.ds,
      'SELECT owner_member_id, peer_member_id, capabilities, blocked, updated_at FROM peer_grants WHERE mesh_id = $1',
      [meshId],
    );
    for (const g of grants) {
      state.setGrant(String(g.owner_member_id), String(g.peer_member_id), { capabilities: new Set(g.capabilities), blocked: g.blocked, updatedAt: g.updated_at.getTime() });
    }
    return state;
  }

  private async loadMembers(meshId: string): Promise<MemberRecord[]> {
    const members = await rows<{ id: string; pubkey: string; display_name: string; role: MemberRecord['role']; peer_type: MemberRecord['peerType']; revoked_at: Date | null; joined_at: Date; rest_only: boolean; scope_capabilities: string[] | null; scope_topics: string[] | null }>(
      this.ds,
      'SELECT id, pubkey, display_name, role, peer_type, revoked_at, joined_at, rest_only, scope_capabilities, scope_topics FROM members WHERE mesh_id = $1 ORDER BY id',
      [meshId],
    );
    return members.map((m) => ({
      id: String(m.id),
      meshId,
      pubkey: m.pubkey,
      displayName: m.display_name,
      role: m.role,
      peerType: m.peer_type,
      revoked: m.revoked_at !== null,
      restOnly: m.rest_only,
      scope: scopeRecord(m.scope_capabilities, m.scope_topics),
      joinedAt: m.joined_at.getTime(),
      groups: new Set<string>(),
    }));
  }
}

/** A member's scope as the directory keeps it, from its two columns. */
export function scopeRecord(capabilities: string[] | null, topics: string[] | null): MemberScopeRecord | null {
  if (!capabilities) return null;
  return { capabilities: new Set(capabilities as ApiKeyCapability[]), topics: topics ? new Set(topics) : null };
}
