import { Injectable } from '@nestjs/common';
import type { MemberPresence } from '@claudemesh/core';
import { ApiKeysService } from '../apikeys/api-keys.service.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';
import { PresenceService } from '../presence/presence.service.js';

/** One member's presence as `viewer` may see it. */
export interface PresenceLookup {
  of(member: MemberRecord): MemberPresence;
  online(memberId: string): boolean;
}

/**
 * The mesh-level presence of the REST surface: WebSocket sessions on this node (PresenceService)
 * and API-key use within the REST presence window (ApiKeysService.restActivity). A member that does
 * not grant the viewer `read` shows as offline with nothing else, as in the WebSocket `peers` list.
 */
@Injectable()
export class MemberPresenceView {
  constructor(
    private readonly presence: PresenceService,
    private readonly keys: ApiKeysService,
  ) {}

  async lookup(state: MeshState, viewer: MemberRecord, now = Date.now()): Promise<PresenceLookup> {
    const rest = await this.keys.restActivity(state.mesh.id, now);
    const of = (m: MemberRecord): MemberPresence => {
      const visible = state.allows(m.id, viewer.id, 'read');
      const sessions = visible ? [...this.presence.sessionsOf(m.id)] : [];
      const newest = sessions.reduce<(typeof sessions)[number] | undefined>((a, s) => (!a || s.connectedAt >= a.connectedAt ? s : a), undefined);
      const restAt = visible ? rest.get(m.id) : undefined;
      return {
        member_pubkey: m.pubkey,
        display_name: m.displayName,
        role: m.role,
        peer_type: m.peerType,
        online: sessions.length > 0 || restAt !== undefined,
        sessions: sessions.length,
        rest_active: restAt !== undefined,
        // A live session is seen now; REST activity when the key was last used.
        last_seen_at: sessions.length > 0 ? now : (restAt ?? null),
        status: newest?.status ?? null,
        summary: newest ? newest.summary : null,
        rest_only: m.restOnly,
      };
    };
    const online = (memberId: string): boolean => {
      const m = state.byId.get(memberId);
      return m !== undefined && of(m).online;
    };
    return { of, online };
  }
}
