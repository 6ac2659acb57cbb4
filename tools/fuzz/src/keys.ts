/** Deterministic identities and signed hellos: the same seed gives the same keys, hence the same frames. */
import { helloString, identityFromSeed, sessionAttestationString, sha256, sign, type Identity } from '@claudemesh/crypto';

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
  const ts = opts.ts ?? Date.now();
  const expiresAt = opts.expiresAt ?? Date.now() + 3_600_000;
  return {
    type: 'hello',
    v: 1,
    mesh_id: meshId,
    member_pubkey: member.publicKey,
    session_pubkey: session.publicKey,
    session_expires_at: expiresAt,
    session_sig: sign(sessionAttestationString({ meshId, memberPubkey: member.publicKey, sessionPubkey: session.publicKey, expiresAt }), member.secretKey),
    nonce,
    ts,
    sig: sign(helloString({ meshId, memberPubkey: member.publicKey, sessionPubkey: session.publicKey, nonce, ts }), session.secretKey),
    peer_type: opts.peerType ?? 'ai',
    ...(opts.client !== undefined ? { client: opts.client } : {}),
  };
}
