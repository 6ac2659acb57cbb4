import type { MemberPresence } from './types.js';

/** The `@prefix` being typed before the caret, at a word start: its start index and the prefix. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  const m = /(?<![A-Za-z0-9._-])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})$/.exec(text.slice(0, caret));
  return m ? { start: m.index, query: m[1]! } : null;
}

/** Members whose name starts with the prefix, then those containing it; at most `max`. */
export function matchMembers(members: MemberPresence[], query: string, exclude: string, max = 8): MemberPresence[] {
  const q = query.toLowerCase();
  const others = members.filter((m) => m.member_pubkey !== exclude);
  const starts = others.filter((m) => m.display_name.toLowerCase().startsWith(q));
  const contains = others.filter((m) => !starts.includes(m) && m.display_name.toLowerCase().includes(q));
  return [...starts, ...contains].slice(0, max);
}

/** `text` with the prefix at `start..caret` replaced by `@name `, and where the caret goes. */
export function insertMention(text: string, start: number, caret: number, name: string): { text: string; caret: number } {
  const inserted = `@${name} `;
  return { text: text.slice(0, start) + inserted + text.slice(caret), caret: start + inserted.length };
}
