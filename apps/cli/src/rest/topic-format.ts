import type { ApiKeyInfo, MemberPresence, Notification, TopicInfo, TopicMember, TopicMessage } from '@claudemesh/core';
import { decodeBody } from '@claudemesh/core/body';
import { safeLine as l, safeText } from '../terminal-text.js';

/**
 * How the topic, member, notification and key verbs print (text form; `--json` prints the broker's
 * objects). Every string from others goes through terminal-text.ts (`l` for one-line fields).
 */

const pad = (n: number): string => String(n).padStart(2, '0');

function stamp(ms: number, timeOnly: boolean): string {
  const d = new Date(ms);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return timeOnly ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** What a line shows: a broker message, an opened one (text null and a reason), or a local search hit. */
export type TopicLineMessage = Pick<TopicMessage, 'id' | 'created_at' | 'body_version'> & {
  reply_to?: string | null;
  sender: { display_name: string; peer_type?: string };
  text?: string | null;
  reason?: string;
};

/**
 * `#42 [12:03:05] ↳ re #41 dana (human): text` — the id to reply to, the thread, who, and what. An
 * e2e message this member could not open (text null) shows why, in parentheses, never a guess.
 */
export function topicLine(m: TopicLineMessage, opts: { timeOnly?: boolean; where?: string } = {}): string {
  const kind = m.sender.peer_type === 'human' ? ' (human)' : m.sender.peer_type === 'connector' ? ' (connector)' : '';
  // A message a bridge forwarded shows who wrote it in which mesh, and the bridge that brought it.
  const body = typeof m.text === 'string' ? decodeBody(m.text) : null;
  const who = body?.forwarded
    ? `${l(body.forwarded.from)}@${l(body.forwarded.mesh)} (via ${l(m.sender.display_name)})`
    : `${l(m.sender.display_name)}${kind}`;
  const thread = m.reply_to ? `↳ re #${l(m.reply_to)} ` : '';
  const where = opts.where ? `${l(opts.where)} ` : '';
  const text = m.text === undefined ? `(encrypted: body version ${m.body_version})` : m.text === null ? `(${safeText(m.reason ?? 'encrypted')})` : safeText(body?.forwarded ? body.text : m.text);
  // Continuation lines are indented so a multi-line message still reads as one entry.
  return `#${l(m.id)} [${stamp(m.created_at, opts.timeOnly ?? false)}] ${where}${thread}${who}: ${text.replace(/\n/g, '\n    ')}`;
}

export function topicsText(topics: Array<TopicInfo & { mesh_name?: string }>): string {
  if (topics.length === 0) return '(no topics)';
  return topics
    .map((t) => {
      const where = t.mesh_name !== undefined ? `${l(t.mesh_name).padEnd(16)} ` : '';
      const state = t.joined ? (t.unread > 0 ? `${t.unread} unread` : 'joined') : 'not joined';
      const flags = [t.visibility === 'private' ? 'private' : '', t.encryption === 'e2e' ? 'e2e' : '', t.history === 'shared' ? 'history shared' : ''].filter(Boolean).join(', ');
      return `${where}#${l(t.name).padEnd(20)} ${String(t.members).padStart(3)} member${t.members === 1 ? ' ' : 's'}  ${state.padEnd(12)}${flags ? ` (${flags})` : ''}${t.description ? `  ${l(t.description)}` : ''}`;
    })
    .join('\n');
}

export function topicMembersText(name: string, members: TopicMember[]): string {
  if (members.length === 0) return `(nobody is in #${l(name)})`;
  return members.map((m) => `${l(m.display_name).padEnd(20)} ${l(m.peer_type).padEnd(9)} ${m.online ? 'online' : 'offline'}  ${l(m.member_pubkey.slice(0, 16))}…`).join('\n');
}

/** Humans next to agents: WebSocket sessions for peers, recent REST use for the rest. */
export function presenceText(members: MemberPresence[]): string {
  if (members.length === 0) return '(no members)';
  return members
    .map((m) => {
      const how = m.sessions > 0 ? `${m.sessions} session${m.sessions === 1 ? '' : 's'}` : m.rest_active ? 'REST' : '';
      const state = m.online ? `online${how ? ` (${how})` : ''}` : `offline${m.last_seen_at ? `, last seen ${stamp(m.last_seen_at, false)}` : ''}`;
      const extra = [m.status && m.online ? l(m.status) : '', m.summary ? `— ${l(m.summary)}` : '', m.rest_only ? '[REST-only]' : ''].filter(Boolean).join(' ');
      return `${l(m.display_name).padEnd(20)} ${l(m.peer_type).padEnd(9)} ${l(m.role).padEnd(6)} ${state}${extra ? `  ${extra}` : ''}`;
    })
    .join('\n');
}

export function notificationLine(n: Notification, where?: string): string {
  const what = n.kind === 'mention' ? 'mentioned you' : 'replied to you';
  const unread = n.read_at === null ? '* ' : '  ';
  return `${unread}${where ? `${l(where)} ` : ''}#${l(n.topic)} ${l(n.actor.display_name)} ${what} in #${l(n.message.id)}: ${l((n.message.text ?? '').replace(/\n/g, ' ').slice(0, 200))}`;
}

export function keyState(k: ApiKeyInfo, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (k.revoked_at !== null) return 'revoked';
  if (k.expires_at !== null && k.expires_at <= now) return 'expired';
  return 'active';
}

export function keyLine(k: ApiKeyInfo): string {
  const scope = k.topics ? ` topics ${k.topics.map((t) => `#${l(t)}`).join(',')}` : '';
  const expires = k.expires_at ? ` expires ${stamp(k.expires_at, false)}` : '';
  const used = k.last_used_at ? ` last used ${stamp(k.last_used_at, false)}` : ' never used';
  return `${l(k.id)}  ${keyState(k).padEnd(7)} ${l(k.display_name).padEnd(16)} ${l(k.capabilities.join(',')).padEnd(15)}${scope}${expires}${used}${k.label ? `  "${l(k.label)}"` : ''}`;
}
