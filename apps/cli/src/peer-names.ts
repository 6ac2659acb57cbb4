import { didYouMean, suggest } from './did-you-mean.js';

/** What name resolution needs of a member (PeerInfo has more). */
export interface NamedPeer {
  display_name: string;
  member_pubkey: string;
}

export type NameMatch = { ok: true; name: string } | { ok: false; message: string };

/** A send target that is a display name: not a key (64 hex), not `@group`, not `*`. */
export function isNameTarget(to: string): boolean {
  return to !== '*' && !to.startsWith('@') && !/^[0-9a-f]{64}$/.test(to);
}

/**
 * Resolves a typed display name the way every verb does: the exact name; else the one member whose
 * name matches ignoring case (`Bob` finds `bob`); else a not-found message with the close names
 * ("did you mean …?"). Two members differing only in case are never guessed between.
 */
export function matchPeerName(peers: readonly NamedPeer[], typed: string): NameMatch {
  if (peers.some((p) => p.display_name === typed)) return { ok: true, name: typed };
  const folded = peers.filter((p) => p.display_name.toLowerCase() === typed.toLowerCase());
  if (folded.length === 1) return { ok: true, name: folded[0]!.display_name };
  if (folded.length > 1) return { ok: false, message: `no peer named "${typed}"; several differ from it only in case: ${folded.map((p) => p.display_name).join(', ')} (names are exact)` };
  return { ok: false, message: `no peer named "${typed}" in this mesh${didYouMean(suggest(typed, peers.map((p) => p.display_name)))}` };
}
