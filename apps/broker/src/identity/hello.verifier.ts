import { Injectable } from '@nestjs/common';
import { LIMITS, ProtocolError, type HelloFrame } from '@claudemesh/core';
import { helloString, sessionAttestationString, verify } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import { MeshesService } from '../meshes/meshes.service.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';

/**
 * Authenticates a hello. Signature checks come before any lookup, so an unauthenticated caller
 * learns nothing about who is a member. The nonce must be the challenge this very connection
 * received, which makes a captured hello useless anywhere else.
 */
@Injectable()
export class HelloVerifier {
  constructor(
    private readonly meshes: MeshesService,
    private readonly ds: DataSource,
  ) {}

  async verify(hello: HelloFrame, challenge: string | null, now = Date.now()): Promise<{ state: MeshState; member: MemberRecord }> {
    if (challenge === null || hello.nonce !== challenge) throw new ProtocolError('E_REPLAY', 'nonce is not the challenge issued to this connection');
    if (Math.abs(now - hello.ts) > LIMITS.helloSkewMs) throw new ProtocolError('E_STALE_TIMESTAMP', `hello timestamp is more than ${LIMITS.helloSkewMs / 1000}s from broker time`);
    if (hello.session_expires_at <= now) throw new ProtocolError('E_SESSION_EXPIRED', 'session attestation has expired');
    if (hello.session_expires_at > now + LIMITS.maxSessionTtlMs) {
      throw new ProtocolError('E_SESSION_EXPIRED', `session_expires_at is more than ${LIMITS.maxSessionTtlMs / 86_400_000} days ahead of broker time (the longest session the broker accepts); attest for less`);
    }
    const attestation = sessionAttestationString({ meshId: hello.mesh_id, memberPubkey: hello.member_pubkey, sessionPubkey: hello.session_pubkey, expiresAt: hello.session_expires_at });
    if (!verify(attestation, hello.session_sig, hello.member_pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'session attestation does not verify');
    const signed = helloString({ meshId: hello.mesh_id, memberPubkey: hello.member_pubkey, sessionPubkey: hello.session_pubkey, nonce: hello.nonce, ts: hello.ts });
    if (!verify(signed, hello.sig, hello.session_pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'hello signature does not verify');
    const { state, member } = await this.meshes.requireMember(hello.mesh_id, hello.member_pubkey);
    const recorded = await rows<{ member_id: string }>(
      this.ds,
      `INSERT INTO sessions (session_pubkey, member_id, mesh_id, peer_type, expires_at) VALUES ($1, $2, $3, $4, to_timestamp($5 / 1000.0))
       ON CONFLICT (session_pubkey) DO UPDATE SET last_seen_at = now() WHERE sessions.member_id = EXCLUDED.member_id
       RETURNING member_id`,
      [hello.session_pubkey, member.id, state.mesh.id, hello.peer_type, hello.session_expires_at],
    );
    // A session key already bound to another member stays theirs: DMs to it must not change hands.
    if (recorded.length === 0) throw new ProtocolError('E_CONFLICT', 'this session key belongs to another member; use a fresh session key');
    return { state, member };
  }
}
