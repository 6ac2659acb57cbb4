import type { Ack, MessageStatus, PeerInfo } from '@claudemesh/core';
import type { LocalMessage } from './store/local-store.js';

/**
 * How verbs print, shared by the command tree and the fast path (which must not load Nest or zod),
 * so both spellings of a verb answer byte for byte the same.
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
  return `claudemesh: ${message}${code ? ` [${code}]` : ''}${hint}\n`;
}

export function out(json: boolean, value: unknown, text: string): string {
  return json ? `${JSON.stringify(value)}\n` : `${text}\n`;
}

export function sentText(to: string, outcome: { queued: boolean; client_id: string; ack: Ack | null }, json: boolean): string {
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

/** One member per line; ` ✓` at the end when its member key is in `verified` (claudemesh peer verify). */
export function peerLine(p: PeerInfo, verified?: ReadonlySet<string>): string {
  const s = p.sessions[0];
  const more = p.sessions.length > 1 ? ` +${p.sessions.length - 1} session${p.sessions.length > 2 ? 's' : ''}` : '';
  const rest = p.rest_active && p.sessions.length === 0 ? ' (REST)' : '';
  const state = p.online ? `online${s ? ` ${s.status}${s.summary ? ` — ${s.summary}` : ''}` : ''}${more}${rest}` : 'offline';
  const mark = verified?.has(p.member_pubkey) ? ' ✓' : '';
  return `${p.display_name.padEnd(20)} ${p.peer_type.padEnd(9)} ${p.role.padEnd(6)} ${state}  ${p.member_pubkey.slice(0, 16)}…${mark}`;
}

/** The JSON form stays the broker's list; the verified marks are for the text form only. */
export function peersText(peers: PeerInfo[], json: boolean, verified?: ReadonlySet<string>): string {
  return out(json, peers, peers.map((p) => peerLine(p, verified)).join('\n') || '(no members)');
}

/**
 * The stderr line for a send to a display name whose verified key is no longer the key the mesh
 * lists under that name (null when nothing was verified under it, or the current key was).
 */
export function keyChangedWarning(name: string, verifiedKeys: readonly string[], peers: readonly PeerInfo[]): string | null {
  if (verifiedKeys.length === 0) return null;
  const now = peers.find((p) => p.display_name === name);
  if (!now || verifiedKeys.includes(now.member_pubkey)) return null;
  return `claudemesh: WARNING: ${name}'s key changed since you verified it (was ${verifiedKeys[0]!.slice(0, 16)}…, now ${now.member_pubkey.slice(0, 16)}…); run claudemesh peer verify ${name}\n`;
}

export function inboxText(messages: LocalMessage[], options: { json?: boolean; read?: boolean }): string {
  if (options.json) return messages.map((m) => `${JSON.stringify(m)}\n`).join('');
  if (messages.length === 0) return '(no messages)\n';
  let text = '';
  for (const m of messages) {
    const where = m.kind === 'dm' ? '' : ` → ${m.to}`;
    const flags = [m.priority !== 'next' ? m.priority : '', m.reply_to ? `re #${m.reply_to}` : ''].filter(Boolean).join(', ');
    text += `#${m.message_id} [${new Date(m.sent_at).toISOString()}] ${m.from_name}${where}${flags ? ` (${flags})` : ''}: ${m.text}\n`;
  }
  if (!options.read && messages.some((m) => m.read_at === null)) text += 'mark them read: claudemesh inbox --read · reply: claudemesh send <name> <text> --reply-to <id>\n';
  return text;
}

export function statusText(statuses: MessageStatus[], json: boolean): string {
  if (json) return `${JSON.stringify(statuses)}\n`;
  const lines = statuses.flatMap((s) => [
    `#${s.message_id} to ${s.to} (${s.kind}, sent ${new Date(s.sent_at).toISOString()})`,
    ...s.recipients.map((r) => `  ${r.display_name.padEnd(20)} ${r.state}${r.read_at ? ` ${new Date(r.read_at).toISOString()}` : r.delivered_at ? ` ${new Date(r.delivered_at).toISOString()}` : ''}`),
  ]);
  return `${lines.join('\n')}\n`;
}
