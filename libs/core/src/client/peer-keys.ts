import type { PeerInfo } from '../protocol/v1/server-frames.js';

/** Remembered session→member pairs beyond this drop the oldest. */
const MAX_REMEMBERED_SESSIONS = 10_000;

/**
 * Which member key a DM target (display name, member key, session key) is encrypted for: the last
 * peer list, plus every session key seen on a push, so a reply to a session that has since rotated
 * is still boxed for its member (the broker routes it to the member's current sessions).
 */
export class PeerKeys {
  private byKey = new Map<string, PeerInfo>();
  private readonly sessionMembers = new Map<string, string>();

  /** Replaces what the last peer list said. */
  update(peers: readonly PeerInfo[]): void {
    this.byKey = new Map();
    for (const peer of peers) {
      this.byKey.set(peer.member_pubkey, peer);
      this.byKey.set(peer.display_name, peer);
      for (const s of peer.sessions) this.byKey.set(s.session_pubkey, peer);
    }
  }

  rememberSession(sessionPubkey: string, memberPubkey: string): void {
    if (this.sessionMembers.size >= MAX_REMEMBERED_SESSIONS && !this.sessionMembers.has(sessionPubkey)) {
      const oldest = this.sessionMembers.keys().next().value;
      if (oldest !== undefined) this.sessionMembers.delete(oldest);
    }
    this.sessionMembers.set(sessionPubkey, memberPubkey);
  }

  /** Whether the last peer list marks `target` as a REST-only human, whose key opens nothing (§6.1). */
  restOnly(target: string): boolean {
    return this.byKey.get(target)?.rest_only === true;
  }

  /** The member key for `target` if known; `listed` asks only the peer list. */
  memberOf(target: string, listed = false): string | undefined {
    return this.byKey.get(target)?.member_pubkey ?? (listed ? undefined : this.sessionMembers.get(target));
  }
}
