import { generateIdentity, type Identity } from '@claudemesh/crypto';
import { signedHello } from '../../../tools/fuzz/src/keys.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';

/** Builds a correctly signed hello with a fresh session key, with overrides applied after signing (to forge bad ones). */
export function buildHello(meshId: string, member: Identity, nonce: string, overrides: Record<string, unknown> = {}, opts: { ts?: number; expiresAt?: number } = {}) {
  return { ...signedHello(meshId, member, generateIdentity(), nonce, opts), ...overrides };
}

/** A bare peer past hello as `member`: connected, signed hello sent, hello_ack received. */
export async function helloPeer(wsUrl: string, meshId: string, member: Identity): Promise<RawPeer> {
  const p = await RawPeer.connect(wsUrl);
  p.send(buildHello(meshId, member, p.challenge));
  await p.next('hello_ack');
  return p;
}
