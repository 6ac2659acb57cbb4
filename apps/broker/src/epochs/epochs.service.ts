import { Inject, Injectable } from '@nestjs/common';
import {
  EPOCH_LIMITS, ProtocolError, serverFrame, type ClientFrameMap, type ServerFrameMap, type StoredEpochManifest, type StoredEpochSeal,
} from '@claudemesh/core';
import { canonicalJson, epochSealString, verify, verifyManifest, type EpochManifest, type EpochSeal, type SignedEpochManifest } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { BUS, memberTopic, type Bus } from '../bus/bus.js';
import { rows, transaction } from '../db/sql.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';
import { TopicsService } from '../topics/topics.service.js';
import { epochAccepted } from './current-epoch.js';
import { rotationNeeded } from './epoch-guard.js';
import { HistorySealCheck } from './history-seals.js';

/**
 * Who asks: an active member of a mesh. A WebSocket session speaks for its whole member; an API key
 * (REST) may be limited to some topics.
 */
export interface EpochCaller {
  state: MeshState;
  member: MemberRecord;
  topics?: ReadonlySet<string> | null;
}

/** What a scope allows, worked out from the broker's own records before anything is stored. */
export interface ScopePolicy {
  /** Members who may be listed in a manifest of the scope (and so receive its key). */
  eligible: (m: MemberRecord) => boolean;
  /** Who names the scope to a human, in error messages. */
  label: string;
  /** verifyManifest's authorities: owner and admins for `mesh`; for a topic's epoch 1, its creator. */
  authorities: (creator: string, epoch: number) => string[];
  /** A topic's history setting (null for the mesh scope, whose history is always since the join). */
  history: 'since_join' | 'shared' | null;
}

interface ManifestRow {
  epoch: number;
  manifest: string;
  sig: string;
  manifest_hash: string;
  created_at: Date;
}

interface SealRow {
  epoch: number;
  recipient: string;
  sealer: string;
  sealed: string;
  sig: string;
  via_epoch: number | null;
}

type EpochsAnswer = Omit<ServerFrameMap['epochs'], 'type' | 'req_id'>;

/** Manifests read per query; the page is then cut to EPOCH_LIMITS.maxPageManifestBytes. */
const PAGE_ROWS = 64;

const invalid = (message: string): ProtocolError => new ProtocolError('E_EPOCH_INVALID', message);
const conflict = (current: number, why: string): ProtocolError =>
  new ProtocolError('E_EPOCH_CONFLICT', `${why}; the current epoch is ${current}: build on it and publish again`, { current_epoch: current });

const toStoredManifest = (r: ManifestRow): StoredEpochManifest => ({
  manifest: JSON.parse(r.manifest) as StoredEpochManifest['manifest'], sig: r.sig, manifest_hash: r.manifest_hash, accepted_at: r.created_at.getTime(),
});
const toStoredSeal = (r: SealRow): StoredEpochSeal => ({
  epoch: Number(r.epoch), recipient: r.recipient, sealer: r.sealer, sealed: r.sealed, sig: r.sig, ...(r.via_epoch !== null ? { via_epoch: Number(r.via_epoch) } : {}),
});

/**
 * Publishing and sealing need a member that holds its keypair. A REST-only human's key is a
 * placeholder nobody holds (§6.5): it is refused plainly here rather than by a signature check.
 */
function holdsKeys(caller: EpochCaller): void {
  if (caller.member.restOnly && !caller.member.revoked) {
    throw new ProtocolError('E_FORBIDDEN', `${caller.member.displayName} is a REST-only member without a keypair: it cannot publish or seal key epochs (it reads e2e topics as ciphertext only)`);
  }
}

/**
 * Key epochs (docs/protocol.md §5.6): the broker orders each scope's epochs (compare-and-set on the
 * epoch number and the previous manifest's hash) and keeps manifests and seals. It checks what is
 * public — signatures, chain, who is listed, who seals for whom — so a forged or stale epoch is
 * refused before it is stored; recipients still verify everything themselves. It never sees a key.
 */
@Injectable()
export class EpochsService {
  private readonly history: HistorySealCheck;

  constructor(
    private readonly ds: DataSource,
    private readonly topics: TopicsService,
    @Inject(BUS) private readonly bus: Bus,
  ) {
    this.history = new HistorySealCheck(ds);
  }

  /** Stores epoch N+1 of a scope if N is current, with the seals that came with it; then pushes epoch_new. */
  async publish(caller: EpochCaller, frame: Pick<ClientFrameMap['epoch_publish'], 'manifest' | 'seals'>): Promise<Omit<ServerFrameMap['epoch_ack'], 'type' | 'req_id'>> {
    holdsKeys(caller);
    const signed = frame.manifest as SignedEpochManifest;
    const m = signed.manifest;
    const meshId = caller.state.mesh.id;
    if (m.mesh_id !== meshId) throw invalid('the manifest is for another mesh');
    if (m.created_by !== caller.member.pubkey) throw new ProtocolError('E_FORBIDDEN', 'publish only manifests you created (created_by is another member)');
    const policy = await this.policy(caller, m.scope);
    this.checkMembers(caller.state, policy, m.members);
    const current = await this.current(meshId, m.scope);
    const currentEpoch = current?.epoch ?? 0;
    if (m.epoch !== currentEpoch + 1) throw conflict(currentEpoch, `epoch ${m.epoch} does not follow the current epoch`);
    const check = verifyManifest(signed, { previous: current ? (JSON.parse(current.manifest) as EpochManifest) : null, authorities: policy.authorities(m.created_by, m.epoch) });
    if (!check.ok) {
      if (check.code === 'E_MANIFEST_CHAIN') throw conflict(currentEpoch, `the manifest does not follow the stored epoch ${currentEpoch} (${check.message})`);
      if (check.code === 'E_MANIFEST_UNAUTHORIZED') throw new ProtocolError('E_FORBIDDEN', `you may not create an epoch of ${policy.label}: ${check.message}`);
      throw invalid(`manifest: ${check.message}`);
    }
    const manifest = check.manifest;
    if (frame.seals.some((x) => x.via_epoch !== undefined)) throw invalid('history seals (via_epoch) share an earlier epoch: send them with epoch_seal, not with a new epoch');
    this.checkSeals(caller, manifest, check.hash, frame.seals);
    const stored = await transaction(this.ds, async (qr) => {
      const [row] = await rows<ManifestRow>(
        qr,
        `INSERT INTO epoch_manifests (mesh_id, scope, epoch, manifest, sig, manifest_hash, created_by_member_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (mesh_id, scope, epoch) DO NOTHING RETURNING epoch, manifest, sig, manifest_hash, created_at`,
        [meshId, manifest.scope, manifest.epoch, canonicalJson(manifest), signed.sig, check.hash, caller.member.id],
      );
      if (!row) return null;
      await this.insertSeals(qr, meshId, manifest, frame.seals);
      return row;
    });
    if (!stored) {
      // Another publish of this epoch committed between the read and the insert: the key decides.
      throw conflict((await this.current(meshId, m.scope))?.epoch ?? 0, `epoch ${m.epoch} was published by another member first`);
    }
    const wire = toStoredManifest(stored);
    // This node's send paths take it as current at once (their storing statements still confirm it).
    epochAccepted(this.ds, { meshId, scope: manifest.scope, epoch: manifest.epoch, manifest, manifestHash: check.hash, acceptedAt: wire.accepted_at });
    const seals = new Map(frame.seals.map((s) => [s.recipient, s]));
    // The pushes go out after the publisher's ack (next turn of the event loop): the publisher's
    // sends wait for that ack, the members' pushes wait for nothing.
    setImmediate(() => {
      const push = epochNewFrames(manifest.scope, manifest.epoch, wire);
      for (const key of manifest.members) {
        const member = caller.state.byPubkey.get(key)!;
        this.bus.publish(memberTopic(member.id), { kind: 'control', frame: push(seals.get(key)) });
      }
    });
    return { scope: manifest.scope, epoch: manifest.epoch, manifest_hash: check.hash };
  }

  /** Manifests after `afterEpoch` in order, the caller's seals for them, and who lacks a seal of the current epoch. */
  async get(caller: EpochCaller, scope: string, afterEpoch = 0): Promise<EpochsAnswer> {
    const policy = await this.policy(caller, scope);
    const meshId = caller.state.mesh.id;
    const found = await rows<ManifestRow>(
      this.ds,
      'SELECT epoch, manifest, sig, manifest_hash, created_at FROM epoch_manifests WHERE mesh_id = $1 AND scope = $2 AND epoch > $3 ORDER BY epoch LIMIT $4',
      [meshId, scope, afterEpoch, PAGE_ROWS + 1],
    );
    const page: ManifestRow[] = [];
    let bytes = 0;
    for (const r of found.slice(0, PAGE_ROWS)) {
      bytes += r.manifest.length;
      if (page.length > 0 && bytes > EPOCH_LIMITS.maxPageManifestBytes) break;
      page.push(r);
    }
    const current = await this.current(meshId, scope);
    const currentEpoch = current?.epoch ?? 0;
    // The caller's seals of the page's epochs, and its history seals shared under them (their
    // earlier epoch is on an earlier page, so both manifests are known when they are opened).
    const seals = page.length === 0 ? [] : await rows<SealRow>(
      this.ds,
      `SELECT epoch, recipient, sealer, sealed, sig, via_epoch FROM epoch_seals WHERE mesh_id = $1 AND recipient = $2 AND scope = $3
         AND ((via_epoch IS NULL AND epoch >= $4 AND epoch <= $5) OR (via_epoch >= $4 AND via_epoch <= $5)) ORDER BY coalesce(via_epoch, epoch), epoch`,
      [meshId, caller.member.pubkey, scope, page[0]!.epoch, page[page.length - 1]!.epoch],
    );
    const answer: EpochsAnswer = {
      scope, current_epoch: currentEpoch, manifests: page.map(toStoredManifest), seals: seals.map(toStoredSeal), has_more: page.length < found.length,
    };
    const manifest = current ? (JSON.parse(current.manifest) as EpochManifest) : null;
    const listed = manifest?.members ?? [];
    if (current && manifest && listed.includes(caller.member.pubkey)) {
      const sealed = new Set((await rows<{ recipient: string }>(this.ds, 'SELECT recipient FROM epoch_seals WHERE mesh_id = $1 AND scope = $2 AND epoch = $3', [meshId, scope, current.epoch])).map((r) => r.recipient));
      // Revoked members stay in an old manifest but are owed nothing: they are not "missing".
      answer.missing = listed.filter((k) => !sealed.has(k) && caller.state.byPubkey.get(k)?.revoked === false);
      // What the next sender would be told (§5.6 "Rotation before the next send"), so a keyed member can rotate now.
      const rotate = rotationNeeded(caller.state, manifest, policy.eligible, { shareHistory: policy.history === 'shared' });
      if (rotate) answer.rotate = rotate;
    }
    return answer;
  }

  /**
   * Seals of an existing epoch by a member of it, for members that lack theirs; the first seal per
   * recipient stays. Returns how many were stored.
   */
  async seal(caller: EpochCaller, frame: Pick<ClientFrameMap['epoch_seal'], 'scope' | 'epoch' | 'seals'>): Promise<number> {
    holdsKeys(caller);
    const policy = await this.policy(caller, frame.scope);
    const meshId = caller.state.mesh.id;
    const [row] = await rows<ManifestRow>(
      this.ds,
      'SELECT epoch, manifest, sig, manifest_hash, created_at FROM epoch_manifests WHERE mesh_id = $1 AND scope = $2 AND epoch = $3',
      [meshId, frame.scope, frame.epoch],
    );
    if (!row) throw new ProtocolError('E_NOT_FOUND', `${policy.label} has no epoch ${frame.epoch}`);
    const manifest = JSON.parse(row.manifest) as EpochManifest;
    const ordinary = frame.seals.filter((x) => x.via_epoch === undefined);
    const history = frame.seals.filter((x): x is EpochSeal & { via_epoch: number } => x.via_epoch !== undefined);
    this.checkSeals(caller, manifest, row.manifest_hash, ordinary);
    if (history.length > 0) await this.history.check(caller, policy, manifest, row.manifest_hash, history);
    for (const s of frame.seals) {
      if (caller.state.byPubkey.get(s.recipient)?.revoked !== false) throw new ProtocolError('E_FORBIDDEN', `${s.recipient} is revoked: it gets no more keys`);
    }
    const added = await transaction(this.ds, (qr) => this.insertSeals(qr, meshId, manifest, frame.seals));
    for (const s of added) {
      const push = serverFrame('epoch_seal_new', { scope: frame.scope, seal: { epoch: frame.epoch, ...s } });
      this.bus.publish(memberTopic(caller.state.byPubkey.get(s.recipient)!.id), { kind: 'control', frame: push });
    }
    return added.length;
  }

  /** The scope's newest manifest row, or null before its epoch 1. */
  private async current(meshId: string, scope: string): Promise<ManifestRow | null> {
    const [row] = await rows<ManifestRow>(
      this.ds,
      'SELECT epoch, manifest, sig, manifest_hash, created_at FROM epoch_manifests WHERE mesh_id = $1 AND scope = $2 ORDER BY epoch DESC LIMIT 1',
      [meshId, scope],
    );
    return row ? { ...row, epoch: Number(row.epoch) } : null;
  }

  /**
   * The caller's right to the scope, and who may be listed in its manifests. A topic is the topic's
   * readers (it must exist, and a private one be joined): members of a private topic, every member
   * of the mesh for a public one. REST-only members hold no keypair usable for seals and are never listed.
   */
  private async policy(caller: EpochCaller, scope: string): Promise<ScopePolicy> {
    if (caller.member.revoked) throw new ProtocolError('E_REVOKED', 'the member has been revoked');
    const active = (m: MemberRecord): boolean => !m.revoked && !m.restOnly;
    if (scope === 'mesh') {
      if (caller.topics) throw new ProtocolError('E_FORBIDDEN', 'a topic-scoped key cannot use the mesh scope');
      const authorities = caller.state.activeMembers().filter((m) => m.role === 'owner' || m.role === 'admin').map((m) => m.pubkey);
      return { eligible: active, label: 'the mesh scope', authorities: () => authorities, history: null };
    }
    const name = scope.slice('topic:'.length);
    const topic = await this.topics.resolve({ state: caller.state, member: caller.member, topics: caller.topics ?? null }, name);
    const label = `#${name}`;
    // Whoever may post to a topic may create its first epoch; later ones come from the previous epoch's members.
    const authorities = (creator: string, epoch: number): string[] => (epoch === 1 ? [creator] : []);
    if (topic.visibility === 'public') return { eligible: active, label, authorities, history: topic.history };
    const ids = new Set((await rows<{ member_id: string }>(this.ds, 'SELECT member_id FROM topic_members WHERE topic_id = $1', [topic.id])).map((r) => String(r.member_id)));
    return { eligible: (m) => active(m) && ids.has(m.id), label, authorities, history: topic.history };
  }

  /** Every listed key is a current member the scope allows: no key for strangers, revoked or departed members. */
  private checkMembers(state: MeshState, policy: ScopePolicy, members: readonly string[]): void {
    for (const key of members) {
      const m = state.byPubkey.get(key);
      if (!m) throw invalid(`the manifest lists ${key}, which is not a member of this mesh`);
      if (m.revoked) throw new ProtocolError('E_FORBIDDEN', `the manifest lists ${m.displayName}, whose membership is revoked`);
      if (m.restOnly) throw new ProtocolError('E_FORBIDDEN', `the manifest lists ${m.displayName}, a REST-only member that cannot hold epoch keys`);
      if (!policy.eligible(m)) throw new ProtocolError('E_FORBIDDEN', `the manifest lists ${m.displayName}, who is not a member of ${policy.label}`);
    }
  }

  /**
   * A seal is the caller's own (it is its sealer), from a member of the epoch to a member of the
   * epoch, signed for this very manifest. The box itself only its recipient can open and check.
   */
  private checkSeals(caller: EpochCaller, manifest: EpochManifest, hash: string, seals: readonly EpochSeal[]): void {
    const members = new Set(manifest.members);
    for (const s of seals) {
      if (!members.has(s.sealer)) throw new ProtocolError('E_FORBIDDEN', `a seal's sealer ${s.sealer} is not a member of epoch ${manifest.epoch}`);
      if (s.sealer !== caller.member.pubkey) throw new ProtocolError('E_FORBIDDEN', 'send only seals you made (sealer is another member)');
      if (!members.has(s.recipient)) throw invalid(`a seal is addressed to ${s.recipient}, who is not a member of epoch ${manifest.epoch}`);
      const fields = { meshId: manifest.mesh_id, scope: manifest.scope, epoch: manifest.epoch, manifestHash: hash, recipient: s.recipient, sealer: s.sealer, sealed: s.sealed };
      if (!verify(epochSealString(fields), s.sig, s.sealer)) throw invalid(`the seal for ${s.recipient} is not signed by its sealer for this epoch`);
    }
  }

  /**
   * Stores a batch of seals in one statement (a 100-member rotation is one round trip, not 100);
   * returns those stored: a recipient that already had a seal of this epoch keeps the first one.
   */
  private async insertSeals(qr: Parameters<typeof rows>[0], meshId: string, manifest: EpochManifest, seals: ReadonlyArray<EpochSeal & { via_epoch?: number }>): Promise<Array<EpochSeal & { via_epoch?: number }>> {
    if (seals.length === 0) return [];
    const inserted = await rows<{ recipient: string }>(
      qr,
      `INSERT INTO epoch_seals (mesh_id, scope, epoch, recipient, sealer, sealed, sig, via_epoch)
       SELECT $1, $2, $3, r, se, sd, sg, v FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::int[]) AS t(r, se, sd, sg, v)
       ON CONFLICT (mesh_id, scope, epoch, recipient) DO NOTHING RETURNING recipient`,
      [
        meshId, manifest.scope, manifest.epoch, seals.map((x) => x.recipient), seals.map((x) => x.sealer), seals.map((x) => x.sealed), seals.map((x) => x.sig),
        seals.map((x) => x.via_epoch ?? null),
      ],
    );
    const stored = new Set(inserted.map((r) => r.recipient));
    return seals.filter((x) => stored.has(x.recipient));
  }
}

/**
 * The `epoch_new` push of one epoch for each member: the manifest (up to 660 KB) is encoded once and
 * each member's frame adds its own seal, the same JSON serverFrame('epoch_new', …) gives.
 */
export function epochNewFrames(scope: string, epoch: number, manifest: StoredEpochManifest): (seal: EpochSeal | undefined) => string {
  const head = serverFrame('epoch_new', { scope, epoch, manifest }).slice(0, -1);
  return (seal) => (seal ? `${head},"seal":${JSON.stringify({ epoch, ...seal })}}` : `${head}}`);
}
