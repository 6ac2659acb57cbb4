import { Inject, Injectable } from '@nestjs/common';
import type { PeerInfo } from '@claudemesh/core';
import { AnalyticsRecorder } from '../analytics/analytics.recorder.js';
import { BUS, memberTopic, type Bus, type BusEvent } from '../bus/bus.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';
import type { LiveSession } from './live-session.js';

/** Who is connected to this node, with each session's status and summary. */
@Injectable()
export class PresenceService {
  private readonly byMember = new Map<string, Set<LiveSession>>();

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    private readonly analytics: AnalyticsRecorder,
  ) {}

  register(session: LiveSession, onEvent: (event: BusEvent) => void): void {
    let set = this.byMember.get(session.member.id);
    if (!set) this.byMember.set(session.member.id, (set = new Set()));
    if (!set.has(session)) this.analytics.sessionOpened(session.meshId, session.member.id);
    set.add(session);
    session.unsubscribe = this.bus.subscribe(memberTopic(session.member.id), onEvent);
  }

  unregister(session: LiveSession): void {
    session.unsubscribe();
    const set = this.byMember.get(session.member.id);
    if (set?.delete(session)) this.analytics.sessionClosed(session.meshId, session.member.id);
    if (set?.size === 0) this.byMember.delete(session.member.id);
  }

  sessionsOf(memberId: string): ReadonlySet<LiveSession> {
    return this.byMember.get(memberId) ?? new Set();
  }

  /** Sessions on this node by mesh id (for claudemesh_mesh_sessions, at scrape time). */
  sessionsByMesh(): Map<string, number> {
    const byMesh = new Map<string, number>();
    for (const set of this.byMember.values()) {
      for (const session of set) byMesh.set(session.meshId, (byMesh.get(session.meshId) ?? 0) + 1);
    }
    return byMesh;
  }

  get connectionCount(): number {
    let n = 0;
    for (const set of this.byMember.values()) n += set.size;
    return n;
  }

  /**
   * Every active member; one that does not grant `viewer` the `read` capability shows as offline,
   * with no sessions, status or summary (docs/protocol.md §5.5).
   */
  peers(state: MeshState, viewer: MemberRecord): PeerInfo[] {
    return state.activeMembers().map((m) => {
      const visible = state.allows(m.id, viewer.id, 'read');
      const sessions = (visible ? [...this.sessionsOf(m.id)] : []).map((s) => ({
        session_pubkey: s.sessionPubkey,
        peer_type: s.peerType,
        status: s.status,
        summary: s.summary,
        tags: [...s.tags],
        connected_at: s.connectedAt,
      }));
      return {
        member_pubkey: m.pubkey,
        display_name: m.displayName,
        role: m.role,
        peer_type: m.peerType,
        online: sessions.length > 0,
        groups: [...m.groups].sort(),
        sessions,
        ...(m.restOnly ? { rest_only: true } : {}),
      };
    });
  }
}
