// How the REST helpers reach the broker: its URLs, one JSON call, and member-signed requests (docs/protocol.md §8.1).
import { requestString, sha256Hex, sign, type Identity } from '@claudemesh/crypto';
import { ProtocolError, isErrorCode } from '../protocol/v1/errors.js';
import { formatSignedRequestAuth } from '../protocol/v1/rest.js';

/** The broker's HTTP base (http://host:port) from either its ws:// or http:// URL. */
export function httpBaseOf(brokerUrl: string): string {
  const url = new URL(brokerUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  return url.origin;
}

export function wsUrlOf(brokerUrl: string): string {
  const url = new URL(brokerUrl);
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  return `${url.origin}/ws`;
}

/** One REST call: JSON in and out; a refusal is its ProtocolError (E_INTERNAL for a code this client does not know). */
export async function call<T>(base: string, method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(`${httpBaseOf(base)}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  const json: unknown = text ? JSON.parse(text) : {};
  if (!res.ok) {
    const err = (json as { error?: { code?: unknown; message?: unknown } }).error;
    const code = isErrorCode(err?.code) ? err.code : 'E_INTERNAL';
    throw new ProtocolError(code, typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`);
  }
  return json as T;
}

let lastRequestTs = 0;

/**
 * A signed request's `ts`: now, but strictly later than the last one this process signed. The
 * broker refuses a request it already received (E_REPLAY, protocol §8.1), and two identical
 * requests signed in the same millisecond would be byte for byte the same.
 */
export function nextRequestTs(now = Date.now()): number {
  lastRequestTs = Math.max(now, lastRequestTs + 1);
  return lastRequestTs;
}

/** A request signed by a member key (REST auth for member and admin routes). Each call signs anew, so a retry is never a replay. */
export function signedRequest<T>(base: string, identity: Identity, meshId: string, method: string, path: string, body?: unknown): Promise<T> {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const ts = nextRequestTs();
  const sig = sign(requestString({ method, path, meshId, ts, bodySha256Hex: sha256Hex(raw) }), identity.secretKey);
  return call<T>(base, method, path, body === undefined ? undefined : raw, {
    authorization: formatSignedRequestAuth({ pubkey: identity.publicKey, ts, sig }),
  });
}
