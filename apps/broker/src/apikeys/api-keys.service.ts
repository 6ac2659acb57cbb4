import { Inject, Injectable } from '@nestjs/common';
import { ProtocolError, TOPIC_LIMITS, type ApiKeyCapability, type ApiKeyInfo, type CreatedApiKey, type TopicName } from '@claudemesh/core';
import { randomBytes, toB64u, toHex } from '@claudemesh/crypto';
import { createHash, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { apiKeyChannel, BUS, type Bus } from '../bus/bus.js';
import { rows } from '../db/sql.js';
import { MeshDirectory, type MemberRecord, type MeshState } from '../meshes/mesh-directory.js';
import type { z } from 'zod';
import type { CreateApiKeyBody } from '@claudemesh/core';

/** `cmk_<id>_<secret>`: the id (public, the lookup) and 32 random bytes of secret (base64url). */
const KEY_PATTERN = /^cmk_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;
/** last_used_at is written at most this often per key (it feeds REST presence, 5 min). */
const TOUCH_EVERY_MS = 30_000;

interface KeyRow {
  id: string;
  mesh_id: string;
  member_id: string;
  label: string;
  secret_sha256: string;
  capabilities: ApiKeyCapability[];
  topics: TopicName[] | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** What a bearer request runs as: one member of one mesh, within the key's capabilities and topics. */
export interface ApiCaller {
  keyId: string;
  state: MeshState;
  member: MemberRecord;
  capabilities: ReadonlySet<ApiKeyCapability>;
  /** null: every topic the member may read. */
  topics: ReadonlySet<string> | null;
  expiresAt: number | null;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * API keys (docs/topics.md §API keys): bearer secrets for REST and SSE, scoped to one mesh with
 * capabilities read / send / admin and optionally to named topics. The secret is shown once and
 * kept only as its SHA-256 (it is 256 random bits, so a fast hash is enough); every request reads
 * the key row, so a revocation holds from the next request.
 */
@Injectable()
export class ApiKeysService {
  /** key id → last time its last_used_at was written; member id → last request (this node). */
  private readonly touched = new Map<string, number>();
  private readonly seen = new Map<string, { meshId: string; at: number }>();

  constructor(
    private readonly ds: DataSource,
    private readonly directory: MeshDirectory,
    @Inject(BUS) private readonly bus: Bus,
  ) {}

  async create(state: MeshState, creator: MemberRecord, body: z.output<typeof CreateApiKeyBody>, viaKey?: ApiCaller): Promise<CreatedApiKey> {
    if (viaKey && !viaKey.capabilities.has('admin')) throw new ProtocolError('E_FORBIDDEN', 'creating keys over REST needs a key with the admin capability');
    if (body.capabilities.includes('admin') && creator.role === 'member') throw new ProtocolError('E_FORBIDDEN', 'only an owner or admin issues admin keys');
    let holder = creator;
    if (body.human) {
      if (creator.role === 'member') throw new ProtocolError('E_FORBIDDEN', 'only an owner or admin enrols a REST-only human');
      holder = await this.enrolHuman(state, body.human);
    }
    // A key never reaches further than the key that made it.
    if (viaKey && viaKey.topics && (!body.topics || body.topics.some((t) => !viaKey.topics!.has(t)))) {
      throw new ProtocolError('E_FORBIDDEN', 'a topic-scoped key can only issue keys for its own topics');
    }
    const id = toHex(randomBytes(8));
    const secret = toB64u(randomBytes(32));
    const expiresAt = body.expires_in_s ? new Date(Date.now() + body.expires_in_s * 1000) : null;
    const [row] = await rows<KeyRow>(
      this.ds,
      `INSERT INTO api_keys (id, mesh_id, member_id, created_by_member_id, label, secret_sha256, capabilities, topics, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8::text[], $9) RETURNING *`,
      [id, state.mesh.id, holder.id, creator.id, body.label, sha256(secret), [...body.capabilities].sort(), body.topics ? [...new Set(body.topics)].sort() : null, expiresAt],
    );
    return { ...this.info(state, row!), secret: `cmk_${id}_${secret}` };
  }

  /** Resolves `Authorization: Bearer cmk_…`; every failure is E_UNAUTHORIZED with the reason. */
  async authenticate(header: string | undefined, now = Date.now()): Promise<ApiCaller> {
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) throw new ProtocolError('E_UNAUTHORIZED', 'expected Authorization: Bearer cmk_… (create a key: claudemesh apikey create)');
    const match = KEY_PATTERN.exec(token);
    if (!match) throw new ProtocolError('E_UNAUTHORIZED', 'malformed API key: expected cmk_<16 chars>_<43 chars>');
    const [, id, secret] = match;
    const [row] = await rows<KeyRow>(this.ds, 'SELECT * FROM api_keys WHERE id = $1', [id]);
    const expected = Buffer.from(row?.secret_sha256 ?? '0'.repeat(64), 'hex');
    const given = Buffer.from(sha256(secret!), 'hex');
    if (!row || !timingSafeEqual(expected, given)) throw new ProtocolError('E_UNAUTHORIZED', 'unknown API key');
    if (row.revoked_at) throw new ProtocolError('E_UNAUTHORIZED', 'this API key has been revoked');
    if (row.expires_at && row.expires_at.getTime() <= now) throw new ProtocolError('E_UNAUTHORIZED', 'this API key has expired');
    const state = await this.directory.get(row.mesh_id);
    const member = state?.byId.get(String(row.member_id));
    if (!state || !member) throw new ProtocolError('E_UNAUTHORIZED', 'the key’s member no longer exists');
    if (member.revoked) throw new ProtocolError('E_REVOKED', 'the key’s member has been revoked');
    this.touch(row.id, row.mesh_id, member.id, now);
    return {
      keyId: row.id,
      state,
      member,
      capabilities: new Set(row.capabilities),
      topics: row.topics ? new Set(row.topics) : null,
      expiresAt: row.expires_at?.getTime() ?? null,
    };
  }

  /** A member's keys; an owner or admin sees every key of the mesh. */
  async list(state: MeshState, caller: MemberRecord): Promise<ApiKeyInfo[]> {
    const all = caller.role !== 'member';
    const found = await rows<KeyRow>(
      this.ds,
      `SELECT * FROM api_keys WHERE mesh_id = $1 ${all ? '' : 'AND (member_id = $2 OR created_by_member_id = $2)'} ORDER BY created_at, id`,
      all ? [state.mesh.id] : [state.mesh.id, caller.id],
    );
    return found.map((r) => this.info(state, r));
  }

  /** Revokes a key its member or creator holds (or any key, for an owner/admin). Idempotent. */
  async revoke(state: MeshState, caller: MemberRecord, id: string): Promise<ApiKeyInfo> {
    const [row] = await rows<KeyRow & { created_by_member_id: string }>(this.ds, 'SELECT * FROM api_keys WHERE id = $1 AND mesh_id = $2', [id, state.mesh.id]);
    if (!row) throw new ProtocolError('E_NOT_FOUND', `no API key ${id} in this mesh`);
    const own = String(row.member_id) === caller.id || String(row.created_by_member_id) === caller.id;
    if (!own && caller.role === 'member') throw new ProtocolError('E_FORBIDDEN', 'only the key’s holder, its creator or an admin revokes it');
    const [updated] = await rows<KeyRow>(this.ds, 'UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *', [id]);
    // After the commit: the key's open SSE streams end now rather than at their next re-read.
    this.bus.publish(apiKeyChannel(id), { kind: 'apikey_revoked', keyId: id });
    return this.info(state, updated!);
  }

  /** Members whose keys were used within the REST presence window (5 min), with when. */
  async restActivity(meshId: string, now = Date.now()): Promise<Map<string, number>> {
    const found = await rows<{ member_id: string; at: Date }>(
      this.ds,
      `SELECT member_id, max(last_used_at) AS at FROM api_keys WHERE mesh_id = $1 AND last_used_at IS NOT NULL AND revoked_at IS NULL GROUP BY member_id`,
      [meshId],
    );
    const out = new Map<string, number>();
    for (const r of found) out.set(String(r.member_id), r.at.getTime());
    // This node's own requests count at once: the last_used_at write is asynchronous (and throttled).
    for (const [id, s] of this.seen) if (s.meshId === meshId) out.set(id, Math.max(out.get(id) ?? 0, s.at));
    for (const [id, at] of out) if (now - at > TOPIC_LIMITS.restPresenceMs) out.delete(id);
    return out;
  }

  private touch(keyId: string, meshId: string, memberId: string, now: number): void {
    this.seen.set(memberId, { meshId, at: now });
    const last = this.touched.get(keyId) ?? 0;
    if (now - last < TOUCH_EVERY_MS) return;
    this.touched.set(keyId, now);
    // Presence bookkeeping: losing one write costs nothing but a stale "last seen".
    void this.ds.query('UPDATE api_keys SET last_used_at = $2 WHERE id = $1', [keyId, new Date(now)]).catch(() => undefined);
  }

  private async enrolHuman(state: MeshState, displayName: string): Promise<MemberRecord> {
    if (state.byName.has(displayName)) throw new ProtocolError('E_NAME_TAKEN', `${displayName} is already a member of this mesh`);
    // A public key nobody holds the secret of: the member can never sign a hello, only use keys.
    const pubkey = toHex(randomBytes(32));
    try {
      await this.ds.query(`INSERT INTO members (mesh_id, pubkey, display_name, role, peer_type, rest_only) VALUES ($1, $2, $3, 'member', 'human', true)`, [state.mesh.id, pubkey, displayName]);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new ProtocolError('E_NAME_TAKEN', `${displayName} is already a member of this mesh`);
      throw error;
    }
    await this.directory.refresh(state.mesh.id);
    return state.byPubkey.get(pubkey)!;
  }

  private info(state: MeshState, r: KeyRow): ApiKeyInfo {
    const member = state.byId.get(String(r.member_id))!; // members are revoked, never deleted
    return {
      id: r.id,
      label: r.label,
      member_pubkey: member.pubkey,
      display_name: member.displayName,
      capabilities: [...r.capabilities].sort(),
      topics: r.topics,
      created_at: r.created_at.getTime(),
      expires_at: r.expires_at?.getTime() ?? null,
      last_used_at: r.last_used_at?.getTime() ?? null,
      revoked_at: r.revoked_at?.getTime() ?? null,
    };
  }
}
