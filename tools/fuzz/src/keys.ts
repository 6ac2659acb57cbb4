/** Deterministic identities and signed hellos: the same seed gives the same keys, hence the same frames. */
import { buildHelloFrame } from '@claudemesh/core';
import { identityFromSeed, sha256, type Identity } from '@claudemesh/crypto';

export function fuzzIdentity(seed: number, label: string): Identity {
  return identityFromSeed(sha256(`claudemesh-fuzz/${seed}/${label}`));
}

export interface HelloOptions {
  ts?: number;
  expiresAt?: number;
  peerType?: 'ai' | 'human' | 'connector';
  client?: string;
}

/** A correctly signed hello (§4.1, §4.2) for `member` with the session key `session`. */
export function signedHello(meshId: string, member: Identity, session: Identity, nonce: string, opts: HelloOptions = {}): Record<string, unknown> {
  return buildHelloFrame({
    meshId,
    member,
    session,
    nonce,
    expiresAt: opts.expiresAt ?? Date.now() + 3_600_000,
    ...(opts.ts !== undefined ? { ts: opts.ts } : {}),
    peerType: opts.peerType ?? 'ai',
    ...(opts.client !== undefined ? { client: opts.client } : {}),
  });
}
