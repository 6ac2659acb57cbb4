import { sha256, toB64u } from '@claudemesh/crypto';

/** The client id a chat message is taken to the mesh under: the same on every redelivery, so the broker stores it once. */
export function inboundId(instance: string, surface: string, dedupeId: string): string {
  return `gw${toB64u(sha256(`${instance}\n${surface}\n${dedupeId}`)).slice(0, 40)}`;
}

/** What a mesh message looks like in a chat: who said it, then the text. */
export function chatLine(who: string, text: string): string {
  return `${who}: ${text}`;
}

/** An attachment as a line of text: the gateway names files, it does not carry them. */
export function describeAttachment(a: { name: string; size: number | null; mime?: string }): string {
  const size = a.size === null ? 'size unknown' : a.size < 1024 ? `${a.size} B` : a.size < 1024 * 1024 ? `${(a.size / 1024).toFixed(1)} KB` : `${(a.size / 1024 / 1024).toFixed(1)} MB`;
  return `[attachment: ${a.name} (${a.mime ? `${a.mime}, ` : ''}${size}), not forwarded]`;
}

/** `link CODE` (or `/link CODE`, `/link@bot CODE` in a Telegram group). */
export const LINK_COMMAND = /^\/?link(?:@\S+)?\s+(\S[\S ]{3,30})\s*$/i;
export const UNLINK_COMMAND = /^\/?unlink(?:@\S+)?\s*$/i;
/** `@name text`: a DM to that member. */
export const DM_PREFIX = /^@([^\s@]{1,64})\s+([\s\S]+)$/;
