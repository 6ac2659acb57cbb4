import { LIMITS, ProtocolError, parseSignedRequestAuth } from '@claudemesh/core';
import { requestString, sha256Hex, verify } from '@claudemesh/crypto';
import type { FastifyRequest } from 'fastify';

/**
 * REST auth for member routes: the caller signs method, path, mesh id, timestamp and the body's
 * sha256 with its member key. Returns the verified member pubkey; membership is checked by the caller.
 */
export function verifySignedRequest(req: FastifyRequest, meshId: string, now = Date.now()): string {
  const auth = parseSignedRequestAuth(req.headers.authorization);
  if (!auth) throw new ProtocolError('E_UNAUTHORIZED', 'expected Authorization: Claudemesh-Sig pubkey=…,ts=…,sig=…');
  if (Math.abs(now - auth.ts) > LIMITS.requestSkewMs) throw new ProtocolError('E_STALE_TIMESTAMP', 'request timestamp outside the allowed skew');
  const raw = (req as FastifyRequest & { rawBody?: Buffer | string }).rawBody ?? '';
  const signed = requestString({ method: req.method.toUpperCase(), path: req.url, meshId, ts: auth.ts, bodySha256Hex: sha256Hex(typeof raw === 'string' ? raw : new Uint8Array(raw)) });
  if (!verify(signed, auth.sig, auth.pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'request signature does not verify');
  return auth.pubkey;
}
