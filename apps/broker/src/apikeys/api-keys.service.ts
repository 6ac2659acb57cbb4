import { Inject, Injectable } from '@nestjs/common';
import { ProtocolError, TOPIC_LIMITS, authorizationCredentials, type ApiKeyCapability, type ApiKeyInfo, type CreatedApiKey, type TopicName } from '@claudemesh/core';
import { randomBytes, toB64u, toHex } from '@claudemesh/crypto';
import { createHash, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { apiKeyChannel, BUS, type Bus } from '../bus/bus.js';
import { rows } from '../db/sql.js';
import { cutToScope, describeScope } from '../meshes/member-scope.js';
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
  created_by_member_id: string;
  parent_key_id: string | null;
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
  /** The earliest expiry along the key and the keys that minted it. */
  expiresAt: number | null;
  /** How many keys minted this one, transitively (0: a member made it with a signed request). */
  depth: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const topicList = (topics: Iterable<string>): string => [...topics].map((t) => `#${t}`).join(', ');

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

  /**
   * Issues a key. Over REST (`viaKey`) the new key never reaches further than the key that asks:
   * no capability, topic or lifetime beyond it, no enrolment from a topic-scoped key, and it is
   * recorded as that key's child, so revoking or expiring the parent ends it (authenticate).
   */
  async create(state: MeshState, creator: MemberRecord, body: z.output<typeof CreateApiKeyBody>, viaKey?: ApiCaller, now = Date.now()): Promise<CreatedApiKey> {
    if (viaKey) boundedByParent(body, viaKey, now);
    boundedByScope(body, creator);
    if (body.capabilities.includes('admin') && !administers(creator)) throw new ProtocolError('E_FORBIDDEN', 'only an owner or admin issues admin keys');
    let holder = creator;
    if (body.human) {
      if (!administers(creator)) throw new ProtocolError('E_FORBIDDEN', 'only an owner or admin enrols a REST-only human');
      holder = await this.enrolHuman(state, body.human);
    }
    const id = toHex(randomBytes(8));
    const secret = toB64u(randomBytes(32));
    const expiresAt = body.expires_in_s ? new Date(now + body.expires_in_s * 1000) : null;
    const [row] = await rows<KeyRow>(
      this.ds,
      `INSERT INTO api_keys (id, mesh_id, member_id, created_by_member_id, parent_key_id, label, secret_sha256, capabilities, topics, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9::text[], $10) RETURNING *`,
      [id, state.mesh.id, holder.id, creator.id, viaKey?.keyId ?? null, body.label, sha256(secret), [...body.capabilities].sort(), body.topics ? [...new Set(body.topics)].sort() : null, expiresAt],
    );
    return { ...this.info(state, row!), secret: `cmk_${id}_${secret}` };
  }

  /** Resolves `Authorization: Bearer cmk_…`; every failure is E_UNAUTHORIZED with the reason. */
  async authenticate(header: string | undefined, now = Date.now()): Promise<ApiCaller> {
    const token = authorizationCredentials(header, 'Bearer');
    if (!token) throw new ProtocolError('E_UNAUTHORIZED', 'expected Authorization: Bearer cmk_… (create a key: claudemesh apikey create)');
    const match = KEY_PATTERN.exec(token);
    if (!match) throw new ProtocolError('E_UNAUTHORIZED', 'malformed API key: expected cmk_<16 chars>_<43 chars>');
    const [, id, secret] = match;
    // The key and every key that minted it: a revoked or expired ancestor ends it too.
    const chain = await rows<KeyRow & { depth: number }>(
      this.ds,
      `WITH RECURSIVE chain AS (
         SELECT k.*, 0 AS depth FROM api_keys k WHERE k.id = $1
         UNION ALL
         SELECT p.*, c.depth + 1 FROM api_keys p JOIN chain c ON p.id = c.parent_key_id WHERE c.depth < $2
       ) SELECT * FROM chain ORDER BY depth`,
      [id, TOPIC_LIMITS.maxKeyDepth],
    );
    const row = chain[0];
    const expected = Buffer.from(row?.secret_sha256 ?? '0'.repeat(64), 'hex');
    const given = Buffer.from(sha256(secret!), 'hex');
    if (!row || !timingSafeEqual(expected, given)) throw new ProtocolError('E_UNAUTHORIZED', 'unknown API key');
    if (row.revoked_at) throw new ProtocolError('E_UNAUTHORIZED', 'this API key has been revoked');
    if (row.expires_at && row.expires_at.getTime() <= now) throw new ProtocolError('E_UNAUTHORIZED', 'this API key has expired');
    const revokedParent = chain.find((k) => k.revoked_at);
    if (revokedParent) throw new ProtocolError('E_UNAUTHORIZED', `this API key has been revoked with the key that issued it (${revokedParent.id})`);
    const expiries = chain.flatMap((k) => (k.expires_at ? [k.expires_at.getTime()] : []));
    const expiresAt = expiries.length > 0 ? Math.min(...expiries) : null;
    if (expiresAt !== null && expiresAt <= now) throw new ProtocolError('E_UNAUTHORIZED', 'this API key has expired with the key that issued it');
    const state = await this.directory.get(row.mesh_id);
    const member = state?.byId.get(String(row.member_id));
    if (!state || !member) throw new ProtocolError('E_UNAUTHORIZED', 'the key’s member no longer exists');
    if (member.revoked) throw new ProtocolError('E_REVOKED', 'the key’s member has been revoked');
    this.touch(row.id, row.mesh_id, member.id, now);
    // A key reaches no further than its member's scope, whenever that was set.
    const reach = cutToScope(member.scope, new Set(row.capabilities as ApiKeyCapability[]), row.topics ? new Set(row.topics) : null);
    return {
      keyId: row.id,
      state,
      member,
      capabilities: reach.capabilities,
      topics: reach.topics,
      expiresAt,
      depth: chain.length - 1,
    };
  }

  /**
   * A member's keys; an owner or admin sees every key of the mesh. Through a topic-scoped key, only
   * keys confined to its topics.
   */
  async list(state: MeshState, caller: MemberRecord, viaKey?: ApiCaller): Promise<ApiKeyInfo[]> {
    const found = await rows<KeyRow>(
      this.ds,
      `SELECT * FROM api_keys WHERE mesh_id = $1 AND ($2::bigint IS NULL OR member_id = $2 OR created_by_member_id = $2)
         AND ($3::text[] IS NULL OR (topics IS NOT NULL AND topics <@ $3::text[])) ORDER BY created_at, id`,
      [state.mesh.id, administers(caller) ? null : caller.id, viaKey?.topics ? [...viaKey.topics] : null],
    );
    return found.map((r) => this.info(state, r));
  }

  /**
   * Revokes a key its member or creator holds (or any key, for an owner/admin) and every key minted
   * from it, transitively. Through a topic-scoped key, only keys confined to its topics. Idempotent.
   */
  async revoke(state: MeshState, caller: MemberRecord, id: string, viaKey?: ApiCaller): Promise<ApiKeyInfo> {
    const [row] = await rows<KeyRow>(this.ds, 'SELECT * FROM api_keys WHERE id = $1 AND mesh_id = $2', [id, state.mesh.id]);
    if (!row) throw new ProtocolError('E_NOT_FOUND', `no API key ${id} in this mesh`);
    const own = String(row.member_id) === caller.id || String(row.created_by_member_id) === caller.id;
    if (!own && !administers(caller)) throw new ProtocolError('E_FORBIDDEN', 'only the key’s holder, its creator or an admin revokes it');
    if (viaKey?.topics && !(row.topics && row.topics.every((t) => viaKey.topics!.has(t)))) {
      throw new ProtocolError('E_FORBIDDEN', `this key is limited to ${topicList(viaKey.topics)}; key ${id} reaches beyond them`);
    }
    // Marks the descendants too, so listings say so; authenticate() walks the chain regardless,
    // which also ends a child minted while this revocation ran.
    const revoked = await rows<KeyRow>(
      this.ds,
      `WITH RECURSIVE tree AS (
         SELECT id, 0 AS depth FROM api_keys WHERE id = $1
         UNION ALL
         SELECT k.id, t.depth + 1 FROM api_keys k JOIN tree t ON k.parent_key_id = t.id WHERE t.depth < $2
       )
       UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id IN (SELECT id FROM tree) RETURNING *`,
      [id, TOPIC_LIMITS.maxKeyDepth],
    );
    // After the commit: open SSE streams of the key and of every key it minted end now, not at their next re-read.
    for (const r of revoked) this.bus.publish(apiKeyChannel(r.id), { kind: 'apikey_revoked', keyId: r.id });
    return this.info(state, revoked.find((r) => r.id === id)!);
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

/** What a key may issue over REST: nothing beyond itself (docs/topics.md, API keys). */
function boundedByParent(body: z.output<typeof CreateApiKeyBody>, parent: ApiCaller, now: number): void {
  if (!parent.capabilities.has('admin')) throw new ProtocolError('E_FORBIDDEN', 'creating keys over REST needs a key with the admin capability');
  const beyond = body.capabilities.filter((c) => !parent.capabilities.has(c));
  if (beyond.length > 0) {
    throw new ProtocolError('E_FORBIDDEN', `a key issues only capabilities it has (${[...parent.capabilities].sort().join(', ')}); ${beyond.join(', ')} is beyond it`);
  }
  if (parent.topics) {
    if (body.human) throw new ProtocolError('E_FORBIDDEN', 'a topic-scoped key cannot enrol members');
    if (!body.topics || body.topics.some((t) => !parent.topics!.has(t))) {
      throw new ProtocolError('E_FORBIDDEN', `a topic-scoped key issues keys only for its own topics (${topicList(parent.topics)}): give topics within them`);
    }
  }
  if (parent.expiresAt !== null) {
    const latest = Math.floor((parent.expiresAt - now) / 1000);
    if (body.expires_in_s === undefined || body.expires_in_s > latest) {
      throw new ProtocolError('E_FORBIDDEN', `this key expires at ${iso(parent.expiresAt)}; a key it issues must expire no later (expires_in_s ≤ ${latest})`);
    }
  }
  if (parent.depth + 1 > TOPIC_LIMITS.maxKeyDepth) {
    throw new ProtocolError('E_FORBIDDEN', `keys minted with keys nest at most ${TOPIC_LIMITS.maxKeyDepth} deep; issue this one from a key made with claudemesh apikey create`);
  }
}

/** A confined member issues keys only within its scope (docs/protocol.md §8.3 "MemberScope"). */
function boundedByScope(body: z.output<typeof CreateApiKeyBody>, creator: MemberRecord): void {
  const scope = creator.scope;
  if (!scope) return;
  const beyond = body.capabilities.filter((c) => !scope.capabilities.has(c));
  if (beyond.length > 0) throw new ProtocolError('E_FORBIDDEN', `${creator.displayName} is confined to ${describeScope(scope)}; a key with ${beyond.join(', ')} is beyond it`);
  if (body.human && !scope.capabilities.has('admin')) throw new ProtocolError('E_FORBIDDEN', `${creator.displayName} is confined to ${describeScope(scope)}: enrolling members is administration`);
  // A key that names no topics is cut to the scope's when used (authenticate); one that names
  // topics beyond it is refused, so nobody believes they hold what they do not.
  if (scope.topics && body.topics?.some((t) => !scope.topics!.has(t))) {
    throw new ProtocolError('E_FORBIDDEN', `${creator.displayName} is confined to topics ${[...scope.topics].sort().join(', ')}: give topics within them`);
  }
}

/** An owner or admin whose scope (if any) keeps its admin rights. */
const administers = (m: MemberRecord): boolean => m.role !== 'member' && (!m.scope || m.scope.capabilities.has('admin'));
