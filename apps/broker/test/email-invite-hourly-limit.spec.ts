import { formatSignedRequestAuth, ProtocolError, sendEmailInvite } from '@claudemesh/core';
import { createEmailInvite, requestString, sha256Hex, sign } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

const LIMIT = 3;
const CONCURRENT = 16;

/** The per-mesh hourly limit of email invites holds under concurrent sends (docs/protocol.md §9c.4). */
describe.each(dbKinds())('email invite hourly limit under concurrency on %s', (kind) => {
  let tb: TestBroker;

  beforeAll(async () => {
    // LOG_LEVEL error: the log transport's mails (warn) stay out of the test output.
    tb = await startTestBroker(kind, { CLAUDEMESH_MAIL: 'log', CLAUDEMESH_EMAIL_INVITES_PER_HOUR: String(LIMIT) });
  });
  afterAll(async () => tb?.close());

  it(`lets exactly ${LIMIT} of ${CONCURRENT} concurrent sends through and refuses the rest with E_RATE_LIMITED`, async () => {
    const mesh = await createTestMesh(tb, 'burst');
    const outcomes = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) =>
        sendEmailInvite(tb.url, { meshId: mesh.meshId, issuer: mesh.owner, email: `p${i}@example.com` }).then(
          () => 'sent',
          (error: unknown) => (error instanceof ProtocolError ? error.code : String(error)),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(LIMIT);
    expect(outcomes.filter((o) => o !== 'sent')).toEqual(new Array(CONCURRENT - LIMIT).fill('E_RATE_LIMITED'));
    const [stored] = (await tb.broker.app.get(DataSource).query('SELECT count(*)::int AS n FROM email_invites WHERE mesh_id = $1', [mesh.meshId])) as Array<{ n: number }>;
    expect(stored!.n).toBe(LIMIT);
  });

  it('tells the refused sender when the oldest invite of the hour leaves the window (retry_after_ms, Retry-After)', async () => {
    const mesh = await createTestMesh(tb, 'full');
    for (let i = 0; i < LIMIT; i++) await sendEmailInvite(tb.url, { meshId: mesh.meshId, issuer: mesh.owner, email: `q${i}@example.com` });
    const path = `/api/v1/meshes/${mesh.meshId}/invites/email`;
    const raw = JSON.stringify(createEmailInvite({ meshId: mesh.meshId, email: 'late@example.com', issuer: mesh.owner }));
    const ts = Date.now();
    const sig = sign(requestString({ method: 'POST', path, meshId: mesh.meshId, ts, bodySha256Hex: sha256Hex(raw) }), mesh.owner.secretKey);
    const res = await fetch(`${tb.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: formatSignedRequestAuth({ pubkey: mesh.owner.publicKey, ts, sig }) }, body: raw });
    const body = (await res.json()) as { error: { code: string; message: string; retry_after_ms: number } };
    expect([res.status, body.error.code]).toEqual([429, 'E_RATE_LIMITED']);
    // The oldest was sent moments ago: it leaves the hour in a little under an hour.
    expect(body.error.retry_after_ms).toBeGreaterThan(50 * 60_000);
    expect(body.error.retry_after_ms).toBeLessThanOrEqual(3_600_000);
    expect(res.headers.get('retry-after')).toBe(String(Math.ceil(body.error.retry_after_ms / 1000)));
  });
});
