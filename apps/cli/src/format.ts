import type { Ack, MessageStatus, PeerInfo } from '@claudemesh/core';
import type { LocalMessage } from './store/local-store.js';
import { columns } from './table.js';
import { safeLine, safeText } from './terminal-text.js';

/**
 * How verbs print, shared by the command tree and the fast path (which must not load Nest or zod),
 * so both spellings of a verb answer byte for byte the same. Text for people passes every string
 * from others through terminal-text.ts; `--json` stays exactly what arrived.
 */

/** Next steps for the broker's error codes, so every failure says what to run. */
export const HINTS: Record<string, string> = {
  E_UNKNOWN_TARGET: 'see who is there: claudemesh peer list',
  E_NOT_MEMBER: 'your membership was revoked or never existed; ask for a new invite and run claudemesh join',
  E_FORBIDDEN: 'you lack the right for this in the mesh; ask its owner',
  E_UNAVAILABLE: 'the broker cannot store messages right now; retry in a moment',
  E_RATE_LIMITED: 'slow down and retry',
  E_QUEUE_FULL: 'the recipient has too many messages waiting; send again once it has caught up (claudemesh peer list shows when it is online)',
  E_TOO_LARGE: 'send less (split the message)',
  E_INVITE_INVALID: 'the link is damaged or forged; ask the mesh owner for a fresh one',
  E_INVITE_NOT_FOUND: 'check the code (or the broker it belongs to); ask for a fresh invite',
  E_INVITE_EXPIRED: 'ask for a fresh invite',
  E_INVITE_REVOKED: 'ask for a fresh invite',
  E_INVITE_EXHAUSTED: 'ask for a fresh invite',
};

export function errorLine(message: string, code?: string): string {
  const hint = code && HINTS[code] ? `\n  next: ${HINTS[code]}` : '';
  // A broker's message may quote what others chose (a name, a topic): it goes to a terminal too.
  return `claudemesh: ${safeText(message)}${code ? ` [${safeLine(code)}]` : ''}${hint}\n`;
}

export function out(json: boolean, value: unknown, text: string): string {
  return json ? `${JSON.stringify(value)}\n` : `${safeText(text)}\n`;
}

/** The first 16 hex digits of a member key, as every table shows it. */
export const shortKey = (memberPubkey: string): string => `${safeLine(memberPubkey.slice(0, 16))}…`;

/**
 * One line for a send: stored by the broker, queued because the broker is unreachable (why, in
 * JSON), or queued because it has not acked yet. `to` is the target as resolved when the answer
 * carries it.
 */
export function sentText(typed: string, outcome: { queued: boolean; client_id: string; ack: Ack | null; to?: string; unreachable?: string }, json: boolean): string {
  const to = safeLine(outcome.to ?? typed);
  if (!outcome.ack && outcome.unreachable) {
    return out(json, { to, queued: true, client_id: outcome.client_id, unreachable: outcome.unreachable }, `broker unreachable; queued for ${to}, will deliver when it is back (client id ${safeLine(outcome.client_id)}; why: claudemesh daemon status)`);
  }
  if (!outcome.ack) {
    return out(json, { to, queued: true, client_id: outcome.client_id }, `queued for ${to}: the broker has not acknowledged yet; the daemon keeps it in its outbox and delivers it (client id ${outcome.client_id})`);
  }
  const ack = outcome.ack;
  return out(
    json,
    { ...ack, to, queued: false },
    `sent to ${to} (message ${ack.message_id}, ${ack.recipients} recipient${ack.recipients === 1 ? '' : 's'}, stored by the broker)\nstatus: claudemesh message status ${ack.message_id}`,
  );
}

/** The stderr line above an answer taken from the last member list seen (the broker is unreachable). */
export function staleLine(stale: { at: number; cause: string }): string {
  return `claudemesh: broker unreachable (${safeLine(stale.cause)}); the member list below is as of ${new Date(stale.at).toISOString()}, presence may have changed\n`;
}

/** The stderr line above an inbox shown while the broker is unreachable. */
export function offlineInboxLine(cause: string): string {
  return `claudemesh: broker unreachable (${safeLine(cause)}); showing what reached this machine, more may wait at the broker\n`;
}

/** The columns of `peer list` (text form), after NAME. */
const PEER_COLUMNS = ['TYPE', 'ROLE', 'KEY', 'GROUPS', 'STATUS'] as const;

/** One row of `peer list`: name, type, role, key (` ✓` when verified with claudemesh peer verify), groups, then presence. */
function peerCells(p: PeerInfo, verified?: ReadonlySet<string>): string[] {
  const s = p.sessions[0];
  const more = p.sessions.length > 1 ? ` +${p.sessions.length - 1} session${p.sessions.length > 2 ? 's' : ''}` : '';
  const rest = p.rest_active && p.sessions.length === 0 ? ' (REST)' : '';
  const state = p.online ? `online${s ? ` ${safeLine(s.status)}${s.summary ? ` — ${safeLine(s.summary)}` : ''}` : ''}${more}${rest}` : 'offline';
  const mark = verified?.has(p.member_pubkey) ? ' ✓' : '';
  const groups = p.groups.length > 0 ? p.groups.map((g) => `@${safeLine(g)}`).join(',') : '-';
  return [safeLine(p.display_name), safeLine(p.peer_type), safeLine(p.role), `${shortKey(p.member_pubkey)}${mark}`, groups, state];
}

/** A header row, then one member per row. */
export function peersTable(peers: readonly PeerInfo[], verified?: ReadonlySet<string>): string {
  if (peers.length === 0) return '(no members)';
  return columns([['NAME', ...PEER_COLUMNS], ...peers.map((p) => peerCells(p, verified))]);
}

/** The JSON form stays the broker's list; the header, the table and the verified marks are for the text form only. */
export function peersText(peers: PeerInfo[], json: boolean, verified?: ReadonlySet<string>): string {
  return json ? `${JSON.stringify(peers)}\n` : `${peersTable(peers, verified)}\n`;
}

/**
 * The stderr line for a send to a display name whose verified key is no longer the key the mesh
 * lists under that name (null when nothing was verified under it, or the current key was).
 */
export function keyChangedWarning(name: string, verifiedKeys: readonly string[], peers: readonly PeerInfo[]): string | null {
  if (verifiedKeys.length === 0) return null;
  const now = peers.find((p) => p.display_name === name);
  if (!now || verifiedKeys.includes(now.member_pubkey)) return null;
  const who = safeLine(name);
  return `claudemesh: WARNING: ${who}'s key changed since you verified it (was ${shortKey(verifiedKeys[0]!)}, now ${shortKey(now.member_pubkey)}); run claudemesh peer verify ${who}\n`;
}

export function inboxText(messages: LocalMessage[], options: { json?: boolean; read?: boolean }): string {
  if (options.json) return messages.map((m) => `${JSON.stringify(m)}\n`).join('');
  if (messages.length === 0) return '(no messages)\n';
  let text = '';
  for (const m of messages) {
    const where = m.kind === 'dm' ? '' : ` → ${safeLine(m.to)}`;
    const flags = [m.priority !== 'next' ? safeLine(m.priority) : '', m.reply_to ? `re #${safeLine(m.reply_to)}` : ''].filter(Boolean).join(', ');
    // Continuation lines are indented, so a message cannot pass off a line of its own as another entry.
    const body = safeText(m.text).replace(/\n/g, '\n    ');
    // A message a bridge forwarded shows who wrote it in which mesh, and the bridge that brought it.
    const who = m.fwd_from ? `${safeLine(m.fwd_from)}@${safeLine(m.fwd_mesh ?? '?')} (via ${safeLine(m.from_name)})` : safeLine(m.from_name);
    text += `#${m.message_id} [${new Date(m.sent_at).toISOString()}] ${who}${where}${flags ? ` (${flags})` : ''}: ${body}\n`;
  }
  if (!options.read && messages.some((m) => m.read_at === null)) text += 'mark them read: claudemesh inbox --read · reply: claudemesh send <name> <text> --reply-to <id>\n';
  return text;
}

/**
 * Said on stderr when `inbox` answers before the session drained the broker's offline queue: the
 * list may lack messages still waiting there.
 */
export function inboxIncompleteNote(brokerUrl: string, waitedMs: number): string {
  return `claudemesh: the broker at ${brokerUrl} did not hand over your queued messages within ${waitedMs / 1000} s (unreachable?); this is what this machine holds, more may be waiting — run claudemesh inbox again later\n`;
}

/** Who a message went to: the recipient's name and short key for a DM (`to` is its key), else `@group` or `*`. */
function statusTarget(s: MessageStatus): string {
  if (s.kind !== 'dm') return safeLine(s.to);
  const r = s.recipients.find((x) => x.member_pubkey === s.to);
  return r ? `${safeLine(r.display_name)} (${shortKey(r.member_pubkey)})` : shortKey(s.to);
}

export function statusText(statuses: MessageStatus[], json: boolean): string {
  if (json) return `${JSON.stringify(statuses)}\n`;
  const lines = statuses.flatMap((s) => [
    `#${s.message_id} to ${statusTarget(s)} (${safeLine(s.kind)}, sent ${new Date(s.sent_at).toISOString()})`,
    ...s.recipients.map((r) => {
      const when = r.read_at ? ` ${new Date(r.read_at).toISOString()}` : r.delivered_at ? ` ${new Date(r.delivered_at).toISOString()}` : '';
      return `  ${safeLine(r.display_name).padEnd(20)} ${shortKey(r.member_pubkey)}  ${safeLine(r.state)}${when}`;
    }),
  ]);
  return `${lines.join('\n')}\n`;
}
