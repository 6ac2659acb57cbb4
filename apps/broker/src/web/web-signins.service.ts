import { Injectable } from '@nestjs/common';
import { CreateWebSignInBody, ProtocolError, WEB_SIGNIN_LIMITS, type WebSessionSealed } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { rows } from '../db/sql.js';
import { RateLimitedError } from '../http/rate-limited.error.js';

type Created = { expires_at: number };

/**
 * One-time web sign-in links (docs/protocol.md §8.5). The broker files what a key deposits — the key
 * sealed under a code it never sees — under the code's lookup, and hands it out once. It cannot open
 * what it holds; a leaked row is useless without the link.
 */
@Injectable()
export class WebSignInsService {
  constructor(private readonly ds: DataSource) {}

  /** The calling key deposits its own sealed copy; the link lives no longer than the key. */
  async create(caller: ApiCaller, body: z.output<typeof CreateWebSignInBody>, now = Date.now()): Promise<Created> {
    await rows(this.ds, 'DELETE FROM web_signins WHERE expires_at <= now()');
    const [open] = await rows<{ n: string; soonest: Date | null }>(this.ds, 'SELECT count(*) AS n, min(expires_at) AS soonest FROM web_signins WHERE key_id = $1', [caller.keyId]);
    if (Number(open?.n ?? 0) >= WEB_SIGNIN_LIMITS.maxOpenPerKey) {
      const wait = Math.max(1000, (open?.soonest ? new Date(open.soonest).getTime() : now) - now);
      throw new RateLimitedError(`this key holds ${WEB_SIGNIN_LIMITS.maxOpenPerKey} open sign-in links already; use one or wait until one expires`, wait);
    }
    const expiresAt = Math.min(now + body.expires_in_s * 1000, caller.expiresAt ?? Number.POSITIVE_INFINITY);
    const inserted = await rows<{ lookup: string }>(
      this.ds,
      'INSERT INTO web_signins (lookup, mesh_id, key_id, sealed, expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (lookup) DO NOTHING RETURNING lookup',
      [body.lookup, caller.state.mesh.id, caller.keyId, body.sealed, new Date(expiresAt)],
    );
    if (inserted.length === 0) throw new ProtocolError('E_CONFLICT', 'a sign-in link with this lookup exists already; make a fresh code');
    return { expires_at: expiresAt };
  }

  /** Answers a lookup once: the row goes with the answer. Expired, used or revoked: E_NOT_FOUND. */
  async take(lookup: string): Promise<WebSessionSealed> {
    // Deleted whatever its state, so an expired or dead link is gone after one try as well.
    const [row] = await rows<{ sealed: string; mesh_id: string; live: boolean; key_ok: boolean }>(
      this.ds,
      `DELETE FROM web_signins w USING api_keys k
        WHERE w.lookup = $1 AND k.id = w.key_id
        RETURNING w.sealed, w.mesh_id::text AS mesh_id, w.expires_at > now() AS live,
                  (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())) AS key_ok`,
      [lookup],
    );
    if (!row || !row.live || !row.key_ok) throw new ProtocolError('E_NOT_FOUND', 'this sign-in link is unknown, used or expired; run claudemesh web again for a new one');
    return { sealed: row.sealed, mesh_id: row.mesh_id };
  }
}
