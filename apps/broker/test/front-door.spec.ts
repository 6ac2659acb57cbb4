import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { issueKey } from './bearer-api.js';

/**
 * What a person meets first with a browser or curl (issue 12 item 11): `GET /` says what this is and
 * how to join, JSON answers end with a newline, and a JSON body sent without its content type gets
 * an error that says which header to send.
 */
describe('the broker front door', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let key: string;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'front-mesh');
    key = (await issueKey(tb, mesh, mesh.owner, { capabilities: ['read', 'send'] })).secret;
  });
  afterAll(async () => {
    await tb?.close();
  });

  it('GET / answers a browser with a page and a program with JSON: version, health, how to join and get an invite, no secrets', async () => {
    const json = await fetch(`${tb.url}/`, { headers: { accept: 'application/json' } });
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    const status = (await json.json()) as Record<string, unknown>;
    expect(status).toMatchObject({
      service: 'claudemesh broker',
      version: '0.1.0',
      protocol: 1,
      status: 'ok',
      database: 'ready',
      paths: { websocket: '/ws', rest: '/api/v1', openapi: '/api/openapi.json', health: '/healthz', ready: '/readyz', status: '/status', web: '/' },
      join: { command: "claudemesh join '<invite link>' --name <your-name>", invite: expect.stringContaining('claudemesh mesh invite') },
    });
    // curl's default Accept (*/*) gets the JSON too.
    expect(((await (await fetch(`${tb.url}/`)).json()) as { service: string }).service).toBe('claudemesh broker');

    // A browser at / gets the web app (web-signin.spec.ts); the status page is at /status.
    const page = await fetch(`${tb.url}/status`, { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('vary')).toMatch(/accept/i);
    const html = await page.text();
    expect(html).toContain('<h1>claudemesh broker</h1>');
    expect(html).toContain('claudemesh join &#39;&lt;invite link&gt;&#39; --name &lt;your-name&gt;');
    expect(html).toContain('<code>claudemesh mesh invite</code>');
    expect(html).toMatch(/0\.1\.0 \(protocol v1\)/);
    // Nothing that would let a visitor in or tell them who is there.
    for (const text of [html, JSON.stringify(status)]) {
      expect(text).not.toContain(tb.adminToken);
      expect(text).not.toContain(mesh.meshId);
      expect(text).not.toContain('front-mesh');
      expect(text).not.toContain(mesh.owner.publicKey);
    }
  });

  it('ends every JSON answer with one newline: success, error and health alike', async () => {
    for (const [path, headers] of [
      ['/healthz', {}],
      ['/', { accept: 'application/json' }],
      ['/api/v1/me', { authorization: `Bearer ${key}` }],
      ['/api/v1/me', {}],
      ['/no/such/route', {}],
    ] as Array<[string, Record<string, string>]>) {
      const res = await fetch(`${tb.url}${path}`, { headers });
      const text = await res.text();
      expect(text.endsWith('}\n') || text.endsWith(']\n'), `${path}: ${JSON.stringify(text.slice(-20))}`).toBe(true);
      expect(Number(res.headers.get('content-length') ?? Buffer.byteLength(text))).toBe(Buffer.byteLength(text));
      JSON.parse(text);
    }
  });

  it('tells a body sent without content-type: application/json which header to send, before anything reads it', async () => {
    const post = (headers: Record<string, string>, body: string) => fetch(`${tb.url}/api/v1/topics`, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body });
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 'content-type: application/x-www-form-urlencoded'], // what curl -d sends
      [{ 'content-type': 'text/plain;charset=UTF-8' }, 'content-type: text/plain'], // what fetch sends for a string body
    ];
    for (const [headers, got] of cases) {
      const res = await post(headers, '{"name":"from-curl"}');
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: { code: 'E_SCHEMA', message: `send content-type: application/json with a JSON body (this request had ${got}; with curl add -H 'content-type: application/json')` },
      });
    }
    // No content type at all (a raw HTTP client).
    const raw = await rawPost(tb.url, '/api/v1/topics', key, '{"name":"from-raw"}');
    expect(raw.status).toBe(400);
    expect(raw.body).toContain('this request had no content-type');
    // An unknown route is still a 404, whatever it was sent.
    const nowhere = await fetch(`${tb.url}/no/such/route`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    expect([nowhere.status, ((await nowhere.json()) as { error: { code: string } }).error.code]).toEqual([404, 'E_NOT_FOUND']);
    // The same body with the header is a topic.
    const ok = await post({ 'content-type': 'application/json' }, '{"name":"from-curl"}');
    expect(ok.status).toBe(201);
  });
});

/** A POST with a body and no Content-Type header (fetch always adds one). */
async function rawPost(base: string, path: string, key: string, body: string): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}
