import { issueInvite, issueShortInvite, joinMesh, resolveShortInvite } from '@claudemesh/core';
import { generateIdentity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { httpRequest, type RawAnswer } from './raw-http.js';

const UNKNOWN_LOOKUP = { lookup: 'A'.repeat(43) };

/** Every route that takes no credentials, with a request that fails on it (docs/protocol.md §8.4). */
const PUBLIC_ROUTES: Array<[path: string, body: unknown, headers?: Record<string, string>]> = [
  ['/api/v1/invites/v2/resolve', UNKNOWN_LOOKUP],
  ['/api/v1/invites/v2/claim', { ...UNKNOWN_LOOKUP, guess: true }],
  ['/api/v1/invites/email/resolve', UNKNOWN_LOOKUP],
  ['/api/v1/invites/email/claim', { ...UNKNOWN_LOOKUP, guess: true }],
  ['/api/v1/join', { invite: 'guess' }],
  ['/api/v1/web/session', UNKNOWN_LOOKUP],
  ['/api/v1/meshes', {}, { authorization: 'Bearer guessed-admin-token-000000' }],
];

const errorOf = (a: RawAnswer): { code: string; message: string; retry_after_ms?: number } => (JSON.parse(a.body) as { error: { code: string; message: string; retry_after_ms?: number } }).error;
const guess = (tb: TestBroker, from: string, headers: Record<string, string> = {}): Promise<RawAnswer> =>
  httpRequest(`${tb.url}/api/v1/invites/v2/resolve`, { body: UNKNOWN_LOOKUP, localAddress: from, headers });

/** Per-address budgets of the routes without credentials; loopback 127.0.0.2, .3, … act as other clients. */
describe('per-address limits on routes without credentials', () => {
  let tb: TestBroker;
  let mesh: TestMesh;

  beforeAll(async () => {
    tb = await startTestBroker('embedded', { CLAUDEMESH_PUBLIC_ATTEMPTS_BURST: '5', CLAUDEMESH_PUBLIC_ATTEMPTS_PER_MINUTE: '1' });
    mesh = await createTestMesh(tb, 'guessing');
  });
  afterAll(async () => tb?.close());

  it('gives a request that succeeds its attempt back: more joins and resolves than the budget all succeed', async () => {
    const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner, maxUses: 8 });
    for (let i = 0; i < 8; i++) await joinMesh(tb.url, { invite, identity: generateIdentity(), displayName: `joiner-${i}` });
    const short = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: mesh.owner });
    for (let i = 0; i < 8; i++) expect((await resolveShortInvite(tb.url, short.code)).mesh_id).toBe(mesh.meshId);
  });

  it('refuses guesses from one address beyond its budget with 429 E_RATE_LIMITED, Retry-After and retry_after_ms, on every route without credentials', async () => {
    const from = '127.0.0.2';
    for (let i = 0; i < 5; i++) {
      const a = await guess(tb, from);
      expect([a.status, errorOf(a).code]).toEqual([404, 'E_INVITE_NOT_FOUND']);
    }
    for (const [path, body, headers] of PUBLIC_ROUTES) {
      const a = await httpRequest(`${tb.url}${path}`, { body, localAddress: from, ...(headers ? { headers } : {}) });
      expect([path, a.status, errorOf(a).code]).toEqual([path, 429, 'E_RATE_LIMITED']);
      const retry = errorOf(a).retry_after_ms!;
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(60_000);
      expect(a.headers['retry-after']).toBe(String(Math.ceil(retry / 1000)));
      expect(a.headers['content-type']).toMatch(/application\/json/);
    }
  });

  it('still answers another address normally', async () => {
    const a = await guess(tb, '127.0.0.3');
    expect([a.status, errorOf(a).code]).toEqual([404, 'E_INVITE_NOT_FOUND']);
  });

  it('ignores X-Forwarded-For unless CLAUDEMESH_TRUST_PROXY names the proxy', async () => {
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) answers.push((await guess(tb, '127.0.0.4', { 'x-forwarded-for': `203.0.113.${i}` })).status);
    expect(answers).toEqual([404, 404, 404, 404, 404, 429]);
  });
});

describe('per-address limits behind a trusted proxy', () => {
  let tb: TestBroker;

  beforeAll(async () => {
    tb = await startTestBroker('embedded', { CLAUDEMESH_PUBLIC_ATTEMPTS_BURST: '2', CLAUDEMESH_PUBLIC_ATTEMPTS_PER_MINUTE: '1', CLAUDEMESH_TRUST_PROXY: '127.0.0.1' });
  });
  afterAll(async () => tb?.close());

  it('counts each client the proxy names in X-Forwarded-For separately', async () => {
    const first = [];
    for (let i = 0; i < 3; i++) first.push((await guess(tb, '127.0.0.1', { 'x-forwarded-for': '203.0.113.7' })).status);
    expect(first).toEqual([404, 404, 429]);
    expect((await guess(tb, '127.0.0.1', { 'x-forwarded-for': '203.0.113.8' })).status).toBe(404);
  });
});
