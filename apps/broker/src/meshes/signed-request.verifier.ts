import { Injectable } from '@nestjs/common';
import { LIMITS, ProtocolError, parseSignedRequestAuth } from '@claudemesh/core';
import { requestString, sha256Hex, verify } from '@claudemesh/crypto';
import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import { MeshDirectory } from './mesh-directory.js';

/** Remembered requests older than the window are deleted at most this often (on the next request). */
const PRUNE_EVERY_MS = 60_000;

/**
 * REST auth for member routes (docs/protocol.md §8.1): the caller signs method, path, mesh id,
 * timestamp and the body's sha256 with its member key. Each accepted request is remembered until
 * its timestamp leaves the skew window, so a captured request cannot be sent again (E_REPLAY).
 * Returns the verified member pubkey; membership is checked by the caller.
 */
@Injectable()
export class SignedRequestVerifier {
  private lastPrune = 0;

  constructor(
    private readonly ds: DataSource,
    private readonly directory: MeshDirectory,
  ) {}

  async verify(req: FastifyRequest, meshId: string, now = Date.now()): Promise<string> {
    const auth = parseSignedRequestAuth(req.headers.authorization);
    if (!auth) throw new ProtocolError('E_UNAUTHORIZED', 'expected Authorization: Claudemesh-Sig pubkey=…,ts=…,sig=…');
    if (Math.abs(now - auth.ts) > LIMITS.requestSkewMs) throw new ProtocolError('E_STALE_TIMESTAMP', 'request timestamp outside the allowed skew');
    const raw = (req as FastifyRequest & { rawBody?: Buffer | string }).rawBody ?? '';
    const signed = requestString({ method: req.method.toUpperCase(), path: req.url, meshId, ts: auth.ts, bodySha256Hex: sha256Hex(typeof raw === 'string' ? raw : new Uint8Array(raw)) });
    if (!verify(signed, auth.sig, auth.pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'request signature does not verify');
    // Only an active member's request can do anything; anyone else's is refused by the route checks,
    // replayed or not, and remembering it would let any fresh keypair fill the table.
    const signer = (await this.directory.get(meshId))?.byPubkey.get(auth.pubkey);
    if (!signer || signer.revoked) return auth.pubkey;
    // Named by what was signed and by whom (not by the signature's bytes), once verified.
    const digest = createHash('sha256').update(`${auth.pubkey}\n${signed}`).digest();
    const fresh = await rows(this.ds, 'INSERT INTO signed_requests (digest, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1 AS fresh', [
      digest,
      new Date(auth.ts + LIMITS.requestSkewMs),
    ]);
    if (fresh.length === 0) throw new ProtocolError('E_REPLAY', 'this signed request was already received; sign each request anew (a new ts), retries included');
    this.prune(now);
    return auth.pubkey;
  }

  private prune(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    // Housekeeping: a failed delete is retried on a later request; expired rows only take space.
    void this.ds.query('DELETE FROM signed_requests WHERE expires_at < $1', [new Date(now)]).catch(() => undefined);
  }
}
