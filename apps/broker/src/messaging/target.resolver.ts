import { Injectable } from '@nestjs/common';
import { ProtocolError, kindOfTarget, type MessageKind } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';

export interface Route {
  kind: MessageKind;
  /** What recipients see in `push.to`: the recipient member pubkey for a DM, `@group` or `*`. */
  label: string;
  recipients: string[];
}

/**
 * Turns a send target into member recipients. Fan-out is per member and never includes the
 * sender's member, so the sender's sibling sessions do not receive their own broadcast. A member
 * that does not grant the sender `dm` (for a DM) or `broadcast` (for `@group` and `*`) is left out
 * silently: its copy is never stored (docs/protocol.md §5.5).
 */
@Injectable()
export class TargetResolver {
  constructor(private readonly ds: DataSource) {}

  async resolve(state: MeshState, sender: MemberRecord, target: string): Promise<Route> {
    const kind = kindOfTarget(target);
    if (kind === 'broadcast') {
      const recipients = state.activeMembers().filter((m) => m.id !== sender.id && !m.restOnly && state.allows(m.id, sender.id, 'broadcast'));
      return { kind, label: '*', recipients: recipients.map((m) => m.id) };
    }
    if (kind === 'group') {
      const ids = state.groups.get(target.slice(1));
      if (!ids || ids.size === 0) throw new ProtocolError('E_UNKNOWN_TARGET', `no group ${target} in this mesh`);
      const recipients = [...ids].filter((id) => {
        const m = state.byId.get(id);
        return id !== sender.id && m?.revoked === false && !m.restOnly && state.allows(id, sender.id, 'broadcast');
      });
      return { kind, label: target, recipients };
    }
    const member = state.byName.get(target) ?? state.byPubkey.get(target) ?? (await this.memberOfSession(state, target));
    if (!member || member.revoked) throw new ProtocolError('E_UNKNOWN_TARGET', `no member, session or group matches ${target}`);
    if (member.restOnly) throw new ProtocolError('E_FORBIDDEN', `${member.displayName} is a REST-only member (no key to open a DM); write to it in a topic`);
    return { kind, label: member.pubkey, recipients: state.allows(member.id, sender.id, 'dm') ? [member.id] : [] };
  }

  /** Session keys rotate; a DM to an old session key still reaches the member that owned it. */
  private async memberOfSession(state: MeshState, target: string): Promise<MemberRecord | undefined> {
    if (!/^[0-9a-f]{64}$/.test(target)) return undefined;
    const [row] = await rows<{ member_id: string }>(this.ds, 'SELECT member_id FROM sessions WHERE session_pubkey = $1 AND mesh_id = $2', [target, state.mesh.id]);
    return row ? state.byId.get(String(row.member_id)) : undefined;
  }
}
