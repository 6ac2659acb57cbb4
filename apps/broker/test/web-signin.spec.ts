import { createWebSignIn, exchangeWebSignIn, newWebSignInCode, openWebSignIn, sealWebSignIn, webSignInLookup, type CreatedApiKey, type MeInfo } from '@claudemesh/core';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { api, cell, issueKey } from './bearer-api.js';
import { httpRequest } from './raw-http.js';

/**
 * One-time web sign-in links (docs/protocol.md §8.5) and sign-out (`DELETE /me/apikey`), on both
 * databases: the broker files only a lookup and a sealed key, answers once, never after expiry or
 * revocation, and holds nothing that opens the key.
 */
describe.each(dbKinds())('web sign-in links on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let key: CreatedApiKey;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'web-links');
    key = await issueKey(tb, mesh, mesh.owner, { label: 'browser', capabilities: ['read', 'send'], expires_in_s: 3600 });
  });
  afterAll(async () => tb?.close());

  it('hands the sealed key out once to the link’s code, which opens it; the database never holds the key or the code', async () => {
    const link = await createWebSignIn(tb.url, key.secret, { ttlS: 120 });
    expect(link.link).toBe(`${tb.url}/#/signin?code=${link.code}`);
    expect(link.expires_at).toBeGreaterThan(Date.now() + 100_000);
    const stored = JSON.stringify(await tb.broker.app.get(DataSource).query('SELECT * FROM web_signins'));
    expect(stored).toContain(await webSignInLookup(link.code));
    expect(stored).not.toContain(link.code);
    expect(stored).not.toContain(key.secret);
    // The secret part: everything after `cmk_<id>_` (base64url, so it may hold `_` itself).
    expect(stored).not.toContain(key.secret.split('_').slice(2).join('_'));

    const got = await exchangeWebSignIn(tb.url, link.code);
    expect(got).toEqual({ apiKey: key.secret, meshId: mesh.meshId });
    expect(cell(await api(tb, got.apiKey, 'GET', '/me'))).toBe('200');
    // Used: gone.
    await expect(exchangeWebSignIn(tb.url, link.code)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(await tb.broker.app.get(DataSource).query('SELECT * FROM web_signins WHERE lookup = $1', [await webSignInLookup(link.code)])).toEqual([]);
  });

  it('refuses an expired link, a link whose key was revoked, and an unknown code, all as E_NOT_FOUND', async () => {
    const expired = await createWebSignIn(tb.url, key.secret);
    await tb.broker.app.get(DataSource).query(`UPDATE web_signins SET expires_at = now() - interval '1 second' WHERE lookup = $1`, [await webSignInLookup(expired.code)]);
    await expect(exchangeWebSignIn(tb.url, expired.code)).rejects.toMatchObject({ code: 'E_NOT_FOUND', message: expect.stringMatching(/claudemesh web/) });

    const doomed = await issueKey(tb, mesh, mesh.owner, { capabilities: ['read'] });
    const link = await createWebSignIn(tb.url, doomed.secret);
    expect(cell(await api(tb, doomed.secret, 'DELETE', '/me/apikey'))).toBe('200');
    await expect(exchangeWebSignIn(tb.url, link.code)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });

    await expect(exchangeWebSignIn(tb.url, 'A'.repeat(43))).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
  });

  it('keeps a link no longer than its key, and at most 5 open per key', async () => {
    const short = await issueKey(tb, mesh, mesh.owner, { capabilities: ['read'], expires_in_s: 30 });
    const link = await createWebSignIn(tb.url, short.secret, { ttlS: 900 });
    expect(link.expires_at).toBe(short.expires_at);
    for (let i = 1; i < 5; i++) await createWebSignIn(tb.url, short.secret);
    await expect(createWebSignIn(tb.url, short.secret)).rejects.toMatchObject({ code: 'E_RATE_LIMITED', message: expect.stringMatching(/5 open sign-in links/) });
  });

  it('checks the body: lookup and sealed sizes, a lifetime of 10 s to 15 min, no unknown field; a lookup taken is E_CONFLICT', async () => {
    const code = newWebSignInCode();
    const good = { lookup: await webSignInLookup(code), sealed: await sealWebSignIn(code, key.secret) };
    for (const bad of [{ ...good, lookup: 'short' }, { ...good, sealed: 'x' }, { ...good, expires_in_s: 901 }, { ...good, expires_in_s: 5 }, { ...good, extra: 1 }]) {
      expect(cell(await api(tb, key.secret, 'POST', '/web/signins', bad))).toBe('400 E_SCHEMA');
    }
    expect(cell(await api(tb, key.secret, 'POST', '/web/signins', good))).toBe('201');
    expect(cell(await api(tb, key.secret, 'POST', '/web/signins', good))).toBe('409 E_CONFLICT');
    expect(await openWebSignIn(code, good.sealed)).toBe(key.secret);
    const session = await httpRequest(`${tb.url}/api/v1/web/session`, { body: { lookup: good.lookup, more: 1 } });
    expect([session.status, JSON.parse(session.body).error.code]).toEqual([400, 'E_SCHEMA']);
  });

  it('signs out: DELETE /me/apikey revokes the key and every key issued with it, and ends its streams', async () => {
    const parent = await issueKey(tb, mesh, mesh.owner, { capabilities: ['read', 'send', 'admin'] });
    const child = (await api<CreatedApiKey>(tb, parent.secret, 'POST', '/apikeys', { capabilities: ['read'] })).body;
    const stream = await fetch(`${tb.url}/api/v1/topics/general/stream`, { headers: { authorization: `Bearer ${parent.secret}` } });
    expect(stream.status).toBe(200);
    const out = await api<{ id: string; revoked_at: number | null }>(tb, parent.secret, 'DELETE', '/me/apikey');
    expect(out.status).toBe(200);
    expect(out.body.id).toBe(parent.id);
    expect(out.body.revoked_at).not.toBeNull();
    const rest = await stream.text();
    expect(rest).toContain('event: error');
    expect(rest).toContain('E_UNAUTHORIZED');
    for (const k of [parent.secret, child.secret]) expect(cell(await api<MeInfo>(tb, k, 'GET', '/me'))).toBe('401 E_UNAUTHORIZED');
  });
});

/** The web app's files as the broker serves them (docs/web.md "Security"), from a directory of its own. */
describe('serving the web app', () => {
  let tb: TestBroker;
  const dir = mkdtempSync(join(tmpdir(), 'cmh-webdir-'));

  beforeAll(async () => {
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>claudemesh</title><link rel="stylesheet" href="/assets/app-1.css"><script type="module" src="/assets/app-1.js"></script>');
    writeFileSync(join(dir, 'assets', 'app-1.js'), `console.log(${JSON.stringify('x'.repeat(4000))});`);
    writeFileSync(join(dir, 'assets', 'app-1.css'), 'body{margin:0}');
    writeFileSync(join(dir, 'sw.js'), 'self.addEventListener("fetch", () => {});');
    writeFileSync(join(dir, 'manifest.webmanifest'), '{"name":"claudemesh"}');
    writeFileSync(join(dir, 'secret.key'), 'not served: no known type');
    tb = await startTestBroker('embedded', { CLAUDEMESH_WEB_DIR: dir });
  });
  afterAll(async () => tb?.close());

  const get = (path: string, headers: Record<string, string> = {}) => httpRequest(`${tb.url}${path}`, { method: 'GET', headers });

  it('answers a browser at / with the app under a strict policy, and a program with the JSON status', async () => {
    const page = await get('/', { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('/assets/app-1.js');
    const csp = page.headers['content-security-policy'] as string;
    for (const d of ["default-src 'none'", "script-src 'self' 'wasm-unsafe-eval';", "style-src 'self';", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) expect(csp).toContain(d);
    // WebAssembly may compile (libsodium); JavaScript eval and inline code may not, nor other origins.
    expect(csp.replace("'wasm-unsafe-eval'", '')).not.toMatch(/unsafe|https?:|\*/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(JSON.parse((await get('/', { accept: 'application/json' })).body)).toMatchObject({ service: 'claudemesh broker', paths: { web: '/', status: '/status' } });
  });

  it('serves hashed assets gzipped and immutable, revalidates the rest by ETag, and nothing outside its files', async () => {
    const js = await get('/assets/app-1.js', { 'accept-encoding': 'gzip' });
    expect(js.status).toBe(200);
    expect(js.headers['content-encoding']).toBe('gzip');
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(js.headers['cache-control']).toMatch(/immutable/);
    expect(gunzipSync(js.raw).toString()).toContain('console.log');
    const plain = await get('/assets/app-1.js');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toContain('console.log');
    const again = await get('/assets/app-1.js', { 'if-none-match': String(plain.headers.etag) });
    expect(again.status).toBe(304);
    // The worker runs under the page's policy (it fetches this origin); other files under none.
    expect((await get('/sw.js')).headers['content-security-policy']).toContain("connect-src 'self'");
    expect((await get('/manifest.webmanifest')).headers['content-type']).toMatch(/^application\/manifest\+json/);
    for (const path of ['/assets/nope.js', '/assets/..%2fsecret.key', '/assets/%2e%2e%2f%2e%2e%2fpackage.json', '/secret.key', '/icons/x.png']) {
      expect([path, (await get(path)).status]).toEqual([path, 404]);
    }
  });
});
