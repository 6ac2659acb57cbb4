/**
 * The broker's logs hold no secret (docs/security.md "Logs"). A real broker runs as the Dockerfile
 * runs it (`node apps/broker/dist/main.js`), at the most talkative level (LOG_LEVEL=verbose,
 * LOG_FORMAT=json), while a workload mints every kind of secret it deals with: the admin and
 * metrics tokens, the SMTP password, mesh and member keys, v1 links and short invite codes, email
 * invite codes, API keys, web sign-in codes; and sends it bad requests that carry secrets where
 * they do not belong (a wrong key in the header and in the query string, codes in paths and query
 * strings, an oversized body holding a key, a hello with a bad signature). Then every line it
 * wrote is JSON (but for the banner main.ts prints), some carry a request or connection id, and
 * none holds any of those secrets — not even the first 12 characters of an API key's secret part.
 */
import {
  claimEmailInvite,
  claimShortInvite,
  createWebSignIn,
  exchangeWebSignIn,
  issueInvite,
  issueShortInvite,
  joinMesh,
  MeshClient,
  sendEmailInvite,
  type CreatedApiKey,
} from '@claudemesh/core';
import { cryptoReady, encodeInviteLink, formatInviteCode, generateIdentity, generateInviteCode, parseEmailInviteCode, toB64u, toHex, type Identity } from '@claudemesh/crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, GENEROUS_TEST_LIMITS, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { inviteOf, startSmtpSink, type SmtpSink } from '../../../test/helpers/mail-sinks.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { BROKER_MAIN, freePort } from '../../../tools/bench/src/broker-process.js';
import { api, issueKey } from './bearer-api.js';
import { buildHello } from './hello-frames.js';

/** The lines main.ts prints itself (the banner and the stop lines), whatever LOG_FORMAT says. */
const BANNER = [/^claudemesh broker listening on /, /^web app: /, /^claudemesh broker stopping /, /^claudemesh broker stopped /];

/**
 * Every secret, and the forms it could leak in, that occurs in the log. An API key counts as
 * leaked when any 12 characters of its secret part appear; an invite code with or without dashes.
 */
export function leakedSecrets(log: string, secrets: ReadonlyArray<{ what: string; value: string }>): string[] {
  const lower = log.toLowerCase();
  const found: string[] = [];
  for (const { what, value } of secrets) {
    const forms = new Set([value]);
    const key = /^cmk_[a-z0-9]{16}_([A-Za-z0-9_-]{43})$/.exec(value);
    if (key) for (let i = 0; i + 12 <= key[1]!.length; i++) forms.add(key[1]!.slice(i, i + 12));
    if (/^(E-)?[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/.test(value)) forms.add(value.replace(/^E-/, '').replaceAll('-', ''));
    for (const form of forms) {
      if (log.includes(form) || (/^[0-9A-Z-]+$/.test(form) && lower.includes(form.toLowerCase()))) {
        found.push(`${what}: ${form}`);
        break;
      }
    }
  }
  return found;
}

describe('the broker’s logs', () => {
  const secrets: Array<{ what: string; value: string }> = [];
  const keep = (what: string, value: string): string => {
    secrets.push({ what, value });
    return value;
  };
  const home = mkdtempSync(join(tmpdir(), 'cmh-logs-'));
  let child: ChildProcess;
  let sink: SmtpSink;
  let tb: TestBroker;
  let stdout = '';
  let stderr = '';
  let exitCode: number | null = null;
  const adminToken = keep('ADMIN_TOKEN', `adm-${randomBytes(18).toString('base64url')}`);
  const metricsToken = keep('CLAUDEMESH_METRICS_TOKEN', `met-${randomBytes(18).toString('base64url')}`);
  const smtpPass = keep('SMTP password', `smtp-${randomBytes(12).toString('hex')}`);

  beforeAll(async () => {
    await cryptoReady();
    sink = await startSmtpSink('mesh', smtpPass);
    const port = await freePort();
    child = spawn(process.execPath, [BROKER_MAIN], {
      env: {
        PATH: process.env['PATH'],
        PORT: String(port),
        HOST: '127.0.0.1',
        CLAUDEMESH_HOME: home,
        LOG_LEVEL: 'verbose',
        LOG_FORMAT: 'json',
        ADMIN_TOKEN: adminToken,
        CLAUDEMESH_METRICS_TOKEN: metricsToken,
        BOOTSTRAP_MESH: 'off',
        CLAUDEMESH_EMBEDDED_SHARED_BUFFERS: '16MB',
        CLAUDEMESH_MAIL: 'smtp',
        CLAUDEMESH_SMTP_URL: sink.url,
        CLAUDEMESH_MAIL_FROM: 'claudemesh <mesh@example.test>',
        ...GENEROUS_TEST_LIMITS,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('exit', (code) => (exitCode = code));
    await waitFor(() => stdout.includes('claudemesh broker listening on') || exitCode !== null, 'the broker to listen', 120_000);
    expect(exitCode, stdout + stderr).toBeNull();
    const url = `http://127.0.0.1:${port}`;
    tb = { url, wsUrl: `ws://127.0.0.1:${port}/ws`, adminToken } as TestBroker;
  });

  afterAll(async () => {
    if (child && exitCode === null) child.kill('SIGKILL');
    await sink?.close();
    rmSync(home, { recursive: true, force: true });
  });

  const keepIdentity = (who: string, id: Identity): Identity => {
    keep(`${who} secret key (hex)`, toHex(id.secretKey));
    keep(`${who} secret key (base64url)`, toB64u(id.secretKey));
    return id;
  };
  const keepKey = (what: string, key: CreatedApiKey): string => keep(what, key.secret);

  it('hold none of the secrets a full workload minted, and every line is JSON', async () => {
    // A mesh, its key, a v1 invite (and its key-bearing link), a member joined by it.
    const mesh: TestMesh = await createTestMesh(tb, 'logs');
    keepIdentity('owner', mesh.owner);
    keep('mesh key', toB64u(mesh.meshKey));
    keep('mesh key (hex)', toHex(mesh.meshKey));
    const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
    keep('v1 link with the mesh key', encodeInviteLink(invite, mesh.meshKey).slice('ic://join/'.length));
    const alice = keepIdentity('alice', generateIdentity());
    await joinMesh(tb.url, { invite, identity: alice, displayName: 'alice' });
    await addMember(tb, mesh, 'bob');

    // A short invite: its code goes to the broker only as a lookup; claimed, and its landing page opened.
    const short = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: mesh.owner });
    keep('short invite code', formatInviteCode(short.code));
    await claimShortInvite(tb.url, { code: short.code, identity: keepIdentity('carol', generateIdentity()), displayName: 'carol' });
    expect((await fetch(short.link)).status).toBe(200);
    const unclaimed = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: mesh.owner });
    keep('second short invite code', formatInviteCode(unclaimed.code));
    expect((await fetch(`${tb.url}/i/${unclaimed.code}?code=${unclaimed.code}#${unclaimed.code}`)).status).toBe(200);

    // An email invite, sent over SMTP (password in CLAUDEMESH_SMTP_URL) and claimed.
    await sendEmailInvite(tb.url, { meshId: mesh.meshId, issuer: mesh.owner, email: 'dana@example.test' });
    await waitFor(() => sink.mails.length > 0, 'the invite mail');
    const mailed = inviteOf(sink.mails[0]!.text);
    keep('email invite code', mailed.code);
    expect((await fetch(mailed.link)).status).toBe(200);
    await claimEmailInvite(tb.url, { code: parseEmailInviteCode(mailed.code)!, identity: keepIdentity('dana', generateIdentity()), displayName: 'dana' });

    // API keys, used; a web sign-in link made from one and exchanged.
    const ownerKey = keepKey('owner API key', await issueKey(tb, mesh, mesh.owner, { label: 'ops', capabilities: ['read', 'send'] }));
    const erinKey = keepKey('REST-only human API key', await issueKey(tb, mesh, mesh.owner, { label: 'erin', capabilities: ['read', 'send'], human: 'erin' }));
    expect((await api(tb, ownerKey, 'GET', '/me')).status).toBe(200);
    expect((await api(tb, erinKey, 'POST', '/topics/general/messages', { text: 'hello from erin' })).status).toBe(201);
    const signin = await createWebSignIn(tb.url, ownerKey, { ttlS: 120 });
    keep('web sign-in code', signin.code);
    keep('web sign-in link', signin.link);
    expect((await exchangeWebSignIn(tb.url, signin.code)).apiKey).toBe(ownerKey);

    // Secrets where they do not belong.
    const wrongKey = keep('a key never issued', `cmk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`);
    expect((await api(tb, wrongKey, 'GET', '/me')).status).toBe(401);
    expect((await api(tb, `Bearer ${keep('an opaque bearer token', `opaque-${randomBytes(16).toString('hex')}`)}`, 'GET', '/me')).status).toBe(401);
    expect((await api(tb, null, 'GET', `/me?key=${ownerKey}&token=${adminToken}&code=${short.code}`)).status).toBe(401);
    expect((await fetch(`${tb.url}/api/v1/no-such-route/${wrongKey}?apikey=${ownerKey}`)).status).toBe(404);
    expect((await fetch(`${tb.url}/api/v1/meshes`, { method: 'POST', headers: { authorization: `Bearer ${keep('a wrong admin token', `bad-admin-${randomBytes(12).toString('hex')}`)}`, 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
    const oversized = await fetch(`${tb.url}/api/v1/join`, { method: 'POST', headers: { authorization: `Bearer ${ownerKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ pad: `${ownerKey} `.repeat(32_000) }) });
    expect(oversized.status).toBe(413);
    expect((await fetch(`${tb.url}/api/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${ownerKey}`, 'content-type': 'application/json' }, body: `{"text": "${erinKey}` })).status).toBe(400);
    expect((await fetch(`${tb.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}x` } })).status).toBe(401);
    expect((await fetch(`${tb.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).status).toBe(200);

    // The request id: a client's sane one comes back, and is in the log; an insane one is replaced.
    const traced = await fetch(`${tb.url}/api/v1/me`, { headers: { authorization: `Bearer ${wrongKey}`, 'x-request-id': 'logs-spec-trace-1' } });
    expect(traced.headers.get('x-request-id')).toBe('logs-spec-trace-1');
    const insane = await fetch(`${tb.url}/healthz`, { headers: { 'x-request-id': `${ownerKey}/../x y` } });
    expect(insane.headers.get('x-request-id')).toMatch(/^[0-9a-f]{12}$/);

    // WebSocket: a member's session that sends; a hello with a bad signature.
    const client = new MeshClient({ url: tb.wsUrl, meshId: mesh.meshId, identity: alice, meshKey: mesh.meshKey, backoff: { initialMs: 20, maxMs: 200 } });
    await client.connect();
    await client.send('*', `secret-free broadcast`);
    await client.close();
    const raw = await RawPeer.connect(tb.wsUrl);
    raw.send(buildHello(mesh.meshId, alice, raw.challenge, { sig: buildHello(mesh.meshId, alice, 'another-nonce')['sig'] }));
    await raw.waitClosed();

    // Stopped as an operator stops it: what it writes while closing counts too.
    const exited = new Promise<void>((resolve) => (exitCode !== null ? resolve() : child.once('exit', () => resolve())));
    child.kill('SIGTERM');
    await exited;
    expect(exitCode).toBe(0);

    const log = stdout + stderr;
    expect(leakedSecrets(log, secrets)).toEqual([]);

    const lines = log.split('\n').filter((l) => l !== '');
    const notJson = lines.filter((l) => {
      if (BANNER.some((b) => b.test(l))) return false;
      try {
        return typeof JSON.parse(l) !== 'object';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    const entries = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of entries) expect(Object.keys(e)).toEqual(expect.arrayContaining(['level', 'time', 'msg']));
    // The access log: the route pattern, never the query string.
    const access = entries.filter((e) => e['context'] === 'Http' && typeof e['status'] === 'number');
    expect(access.length).toBeGreaterThan(20);
    expect(access.every((e) => typeof e['req_id'] === 'string' && typeof e['ms'] === 'number' && !String(e['route']).includes('?'))).toBe(true);
    expect(access).toContainEqual(expect.objectContaining({ req_id: 'logs-spec-trace-1', method: 'GET', route: '/api/v1/me', status: 401 }));
    expect(access).toContainEqual(expect.objectContaining({ route: '/i/:code', status: 200 }));
    // The WebSocket lines: a connection id, and the member and mesh once hello completed.
    expect(entries).toContainEqual(expect.objectContaining({ context: 'Gateway', conn_id: expect.stringMatching(/^[0-9a-f]{8}$/), mesh_id: mesh.meshId, member_id: expect.any(String) }));
    expect(entries.filter((e) => e['context'] === 'Gateway' && /^ws fail E_/.test(String(e['msg'])))).not.toEqual([]);
  });

  it('would see a leak: the detector finds a planted secret', () => {
    const key = `cmk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
    const code = formatInviteCode(generateInviteCode());
    const planted = [{ what: 'key', value: key }, { what: 'code', value: code }, { what: 'token', value: 'tok-1234567890' }];
    expect(leakedSecrets('{"msg":"nothing here"}', planted)).toEqual([]);
    expect(leakedSecrets(`{"msg":"auth ${key.slice(0, 4 + 17 + 12)}…"}`, planted)).toEqual([`key: ${key.slice(21, 33)}`]);
    expect(leakedSecrets(`{"msg":"code ${code.replaceAll('-', '').toLowerCase()}"}`, planted)).toEqual([`code: ${code.replaceAll('-', '')}`]);
    expect(leakedSecrets('x tok-1234567890 y', planted)).toEqual(['token: tok-1234567890']);
  });
});
