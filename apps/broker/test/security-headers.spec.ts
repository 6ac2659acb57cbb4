import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { issueKey } from './bearer-api.js';
import { SseClient } from './sse-client.js';

type Headers = Record<string, string>;

async function get(tb: TestBroker, path: string, headers: Headers = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(`${tb.url}${path}`, { headers, redirect: 'manual' });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** The directives of a Content-Security-Policy header, by name. */
function directives(csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
}

const inlineHashes = (html: string, tag: string): string[] =>
  [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => `'sha256-${createHash('sha256').update(m[1]!, 'utf8').digest('base64')}'`);

function expectHardened(headers: Headers, what: string): void {
  expect(headers['x-content-type-options'], what).toBe('nosniff');
  expect(headers['x-frame-options'], what).toBe('DENY');
  expect(headers['referrer-policy'], what).toBe('no-referrer');
  expect(directives(headers['content-security-policy'] ?? '').get('frame-ancestors'), what).toEqual(["'none'"]);
}

/** Browser-facing headers on every response (docs/protocol.md §8.4). */
describe('security headers', () => {
  let tb: TestBroker;

  beforeAll(async () => {
    tb = await startTestBroker('embedded', { CLAUDEMESH_SSE_HEARTBEAT_MS: '3600000' });
  });
  afterAll(async () => tb?.close());

  it('lets the invite pages run only their own inline script and style, by hash, and nothing else', async () => {
    for (const path of ['/join', '/i/ABCD-EFGH-JKMN-PQRS', '/e/ABCDEFGHJKMNPQRS']) {
      const page = await get(tb, path);
      expect([path, page.status]).toEqual([path, 200]);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expectHardened(page.headers, path);
      const csp = directives(page.headers['content-security-policy']!);
      expect(csp.get('default-src'), path).toEqual(["'none'"]);
      expect(csp.get('script-src'), path).toEqual(inlineHashes(page.body, 'script'));
      expect(csp.get('style-src'), path).toEqual(inlineHashes(page.body, 'style'));
      expect(inlineHashes(page.body, 'script'), path).toHaveLength(1);
      expect(page.headers['content-security-policy']).not.toMatch(/unsafe/);
    }
  });

  it('serves the status page (GET /status for a browser) with no script and only its own inline style', async () => {
    const page = await get(tb, '/status', { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expectHardened(page.headers, '/ (html)');
    const csp = directives(page.headers['content-security-policy'] ?? '');
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual(["'none'"]);
    expect(csp.get('style-src')).toEqual(inlineHashes(page.body, 'style'));
    expect(csp.get('style-src')).toHaveLength(1);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(page.body).not.toMatch(/<script/i);
  });

  it('serves the API docs under a policy Swagger UI renders with: its scripts and styles load from this origin', async () => {
    const page = await get(tb, '/api/docs/');
    expect(page.status).toBe(200);
    expectHardened(page.headers, '/api/docs/');
    const csp = directives(page.headers['content-security-policy']!);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    // No inline script (script-src 'self' would block it): every script is a file served here.
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const assets = [...page.body.matchAll(/<(?:script src|link rel="stylesheet" type="text\/css" href)="\.\/([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'swagger-ui-init.js']);
    for (const asset of assets) {
      const a = await get(tb, `/api/docs/${asset}`);
      expect([asset, a.status]).toEqual([asset, 200]);
      expect(a.headers['content-type'], asset).toMatch(asset.endsWith('.css') ? /^text\/css/ : /javascript/);
      expectHardened(a.headers, asset);
    }
    const spec = await get(tb, '/api/openapi.json');
    expect(spec.status).toBe(200);
    expectHardened(spec.headers, '/api/openapi.json');
  });

  it('sends nosniff, no framing and no referrer on JSON answers, errors and unknown routes, with a policy that allows nothing', async () => {
    const mesh = await createTestMesh(tb, 'headers');
    const key = (await issueKey(tb, mesh, mesh.owner, { label: 'h', capabilities: ['read'] })).secret;
    for (const [path, headers, status] of [
      ['/', {}, 200],
      ['/healthz', {}, 200],
      ['/readyz', {}, 200],
      ['/no/such/route', {}, 404],
      ['/api/v1/me', {}, 401],
      ['/api/v1/me', { authorization: `Bearer ${key}` }, 200],
    ] as Array<[string, Headers, number]>) {
      const a = await get(tb, path, headers);
      expect([path, a.status]).toEqual([path, status]);
      expectHardened(a.headers, path);
      expect(a.headers['content-security-policy'], path).toBe("default-src 'none'; frame-ancestors 'none'");
    }
  });

  it('sends them on an SSE stream, which is written outside the framework', async () => {
    const mesh = await createTestMesh(tb, 'headers-sse');
    const key = (await issueKey(tb, mesh, mesh.owner, { label: 'sse', capabilities: ['read'] })).secret;
    const stream = await SseClient.open(`${tb.url}/api/v1/topics/general/stream`, { key });
    try {
      expect(stream.status).toBe(200);
      expectHardened(stream.res.headers as Headers, 'SSE');
    } finally {
      stream.close();
    }
  });
});
