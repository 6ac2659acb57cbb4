import { generateIdentity, helloString, sessionAttestationString, sign, type Identity } from '@claudemesh/crypto';

/** Builds a correctly signed hello, with overrides applied after signing (to forge bad ones). */
export function buildHello(meshId: string, member: Identity, nonce: string, overrides: Record<string, unknown> = {}, opts: { ts?: number; expiresAt?: number } = {}) {
  const session = generateIdentity();
  const ts = opts.ts ?? Date.now();
  const expiresAt = opts.expiresAt ?? Date.now() + 3600_000;
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
    peer_type: 'ai',
    ...overrides,
  };
}
