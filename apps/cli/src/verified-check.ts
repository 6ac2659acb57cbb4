import type { PeerInfo } from '@claudemesh/core';
import { keyChangedWarning } from './format.js';
import { safeText } from './terminal-text.js';
import { isNameTarget, matchPeerName } from './peer-names.js';

export type SendTarget = { ok: true; to: string; warning: string | null } | { ok: false; message: string };

/**
 * Checks a send target against the member list before it is queued: a display name resolves as
 * every verb resolves it (exact, else unique ignoring case, else not found with close names); and a
 * name you verified (claudemesh peer verify --confirm) must still come with a key you verified, or
 * the answer carries the stderr warning (the send goes ahead). With no list known (a daemon that
 * never reached the broker) the target goes out as typed; with a stale one (the broker is
 * unreachable) a name it lacks is queued anyway, with a warning, since the member may be new. No
 * zod, no Nest: the daemon runs it with its cached list, the direct path with a fresh one.
 */
export function checkSendTarget(typed: string, list: { peers: readonly PeerInfo[]; stale: boolean } | null, verifiedByName: (name: string) => string[]): SendTarget {
  if (!isNameTarget(typed) || list === null) return { ok: true, to: typed, warning: null };
  const match = matchPeerName(list.peers, typed);
  if (!match.ok) {
    if (!list.stale) return match;
    return { ok: true, to: typed, warning: `claudemesh: ${safeText(match.message.replace(' in this mesh', ' in the last member list seen'))}; queued as typed, the broker decides when it is back\n` };
  }
  return { ok: true, to: match.name, warning: keyChangedWarning(match.name, verifiedByName(match.name), list.peers) };
}
