import { helloString, sessionAttestationString, sign, type Identity } from '@claudemesh/crypto';
import type { ClientFrameInput } from '../protocol/v1/client-frames.js';
import type { PeerType } from '../protocol/v1/primitives.js';

export interface HelloFrameOptions {
  meshId: string;
  member: Identity;
  /** The per-connection session key, attested by the member key. */
  session: Identity;
  /** The challenge nonce this connection received. */
  nonce: string;
  expiresAt: number;
  ts?: number;
  peerType?: PeerType;
  client?: string;
}

/** A signed hello: the member attests the session key, the session key signs the hello string. */
export function buildHelloFrame(o: HelloFrameOptions): ClientFrameInput['hello'] {
  const ts = o.ts ?? Date.now();
  const ids = { meshId: o.meshId, memberPubkey: o.member.publicKey, sessionPubkey: o.session.publicKey };
  return {
    type: 'hello',
    v: 1,
    mesh_id: o.meshId,
    member_pubkey: o.member.publicKey,
    session_pubkey: o.session.publicKey,
    session_expires_at: o.expiresAt,
    session_sig: sign(sessionAttestationString({ ...ids, expiresAt: o.expiresAt }), o.member.secretKey),
    nonce: o.nonce,
    ts,
    sig: sign(helloString({ ...ids, nonce: o.nonce, ts }), o.session.secretKey),
    peer_type: o.peerType ?? 'ai',
    ...(o.client !== undefined ? { client: o.client } : {}),
  };
}
