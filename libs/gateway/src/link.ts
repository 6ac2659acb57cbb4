import { createHash, randomBytes } from 'node:crypto';

/** Crockford's base32 without I, L, O, U: nothing to misread when typed from a terminal into a phone. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** How long a code stays usable unless the issuer says otherwise, and at most. */
export const LINK_TTL_DEFAULT_S = 15 * 60;
export const LINK_TTL_MAX_S = 24 * 60 * 60;

/** A one-time link code: 8 symbols (40 bits) shown as `ABCD-EFGH`. */
export function newLinkCode(): string {
  const bytes = randomBytes(8);
  const symbols = [...bytes].map((b) => ALPHABET[b & 31]).join('');
  return `${symbols.slice(0, 4)}-${symbols.slice(4)}`;
}

/** The code as typed (any case, spaces or dashes, O for 0, I/L for 1), reduced to its 8 symbols; null when it cannot be one. */
export function normalizeLinkCode(typed: string): string | null {
  const s = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return /^[0-9A-HJKMNP-TV-Z]{8}$/.test(s) ? s : null;
}

/** What the gateway keeps of a code: its hash, so a copy of its state file links nobody. */
export function linkCodeHash(code: string): string {
  const n = normalizeLinkCode(code);
  if (n === null) throw new TypeError('not a link code');
  return createHash('sha256').update(`claudemesh-gateway-link\n${n}`).digest('hex');
}

/**
 * A control message a member sends the gateway as a DM (docs/gateways.md §3): end-to-end encrypted
 * like any DM, so only the gateway reads it, and signed by the member's key, so the gateway knows
 * who asks. `link`: a code for the issuer themselves, or (owner/admin) for a person named `name`.
 * `unlink`: a chat user by surface id or linked name (owner/admin, or the member linked).
 */
export type GatewayControl =
  | { cmgw: 1; op: 'link'; code_sha256: string; name?: string; ttl_s: number }
  | { cmgw: 1; op: 'unlink'; user: string };

export function encodeControl(c: GatewayControl): string {
  return JSON.stringify(c);
}

/** The control message a DM carries, null when it is not one; throws with a reason when it is one and malformed. */
export function parseControl(text: string): GatewayControl | null {
  if (!text.startsWith('{"cmgw":')) return null;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error('control message is not JSON');
  }
  if (v['cmgw'] !== 1) throw new Error('unknown control version');
  if (v['op'] === 'link') {
    const hash = v['code_sha256'];
    const ttl = v['ttl_s'];
    const name = v['name'];
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) throw new Error('link: code_sha256 must be 64 hex digits');
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 60 || ttl > LINK_TTL_MAX_S) throw new Error(`link: ttl_s must be 60..${LINK_TTL_MAX_S}`);
    if (name !== undefined && (typeof name !== 'string' || !/^[\p{L}\p{N} ._'-]{1,64}$/u.test(name))) throw new Error('link: name must be 1-64 letters, digits, spaces or . _ \' -');
    return { cmgw: 1, op: 'link', code_sha256: hash, ttl_s: ttl, ...(name !== undefined ? { name: name as string } : {}) };
  }
  if (v['op'] === 'unlink') {
    const user = v['user'];
    if (typeof user !== 'string' || user.length < 1 || user.length > 128) throw new Error('unlink: user must be 1-128 characters');
    return { cmgw: 1, op: 'unlink', user };
  }
  throw new Error('unknown control op');
}
