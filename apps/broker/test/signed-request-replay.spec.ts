import {
  claimEmailInvite, formatSignedRequestAuth, issueInvite, issueShortInvite, listKeyRequests, nextRequestTs, sendEmailInvite, signedRequest, type ApiKeyInfo,
} from '@claudemesh/core';
import {
  createEmailInvite, createInvite, createKeyHandoff, createShortInvite, generateIdentity, parseEmailInviteLink, requestString, sha256Hex, sign, type Identity,
} from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { inviteOf, startSmtpSink, type SmtpSink } from '../../../test/helpers/mail-sinks.js';
import { cell } from './bearer-api.js';
import { routeTable } from './route-table.js';

const REPLAY = '401 E_REPLAY';

/** What to fill a route's path parameters with when probing it without credentials. */
const PROBE_PARAMS: Record<string, string> = { pubkey: 'a'.repeat(64), memberPubkey: 'a'.repeat(64), inviteId: 'probe-invite-1', id: '0'.repeat(16), name: 'general', code: 'ABCD' };

interface Recipe {
  /** The first answer, a success: the request was real. */
  first: string;
  /** Signs one request (and sets up what it needs); the test sends those exact bytes twice. */
  request: () => Promise<{ who: Identity; method: string; path: string; body?: unknown }>;
  /** What the route did, read after both sends: it must have happened once. */
  effect?: () => Promise<unknown>;
  effectOnce?: unknown;
}

/**
 * Every route signed with a member key (protocol §8.1) refuses a second copy of a request it
 * accepted, with 401 E_REPLAY, before the route runs again. The list of signed routes is read from
 * the broker's route table, so a new signed route without a case here fails the first test.
 */
describe.each(dbKinds())('signed-request replay on %s', (kind) => {
  let tb: TestBroker;
  let sink: SmtpSink;
  let mesh: TestMesh;
  let alice: Identity;
  const base = () => `/api/v1/meshes/${mesh.meshId}`;

  beforeAll(async () => {
    sink = await startSmtpSink();
    tb = await startTestBroker(kind, { CLAUDEMESH_MAIL: 'smtp', CLAUDEMESH_SMTP_URL: sink.url, CLAUDEMESH_MAIL_FROM: 'claudemesh <mesh@example.test>' });
    mesh = await createTestMesh(tb, 'replay');
    alice = await addMember(tb, mesh, 'alice');
  });
  afterAll(async () => {
    await tb?.close();
    await sink?.close();
  });

  /** Sends the same signed bytes twice; returns both answers as cells. */
  async function twice(r: { who: Identity; method: string; path: string; body?: unknown }): Promise<[string, string]> {
    const raw = r.body === undefined ? undefined : JSON.stringify(r.body);
    const ts = nextRequestTs();
    const sig = sign(requestString({ method: r.method, path: r.path, meshId: mesh.meshId, ts, bodySha256Hex: sha256Hex(raw ?? '') }), r.who.secretKey);
    const headers: Record<string, string> = { authorization: formatSignedRequestAuth({ pubkey: r.who.publicKey, ts, sig }), ...(raw !== undefined ? { 'content-type': 'application/json' } : {}) };
    const send = async (): Promise<string> => {
      const res = await fetch(`${tb.url}${r.path}`, { method: r.method, headers, ...(raw !== undefined ? { body: raw } : {}) });
      const text = await res.text();
      return cell({ status: res.status, body: text ? JSON.parse(text) : null });
    };
    return [await send(), await send()];
  }

  /** An email invite claimed by a new member, whose key request waits for the owner. */
  async function claimedEmailInvite(): Promise<{ dave: Identity; inviteId: string }> {
    const before = sink.mails.length;
    const { record } = await sendEmailInvite(tb.url, { meshId: mesh.meshId, issuer: mesh.owner, email: `dave-${before}@example.test` });
    await waitFor(() => sink.mails.length > before, 'the invite mail');
    const dave = generateIdentity();
    await claimEmailInvite(tb.url, { code: parseEmailInviteLink(inviteOf(sink.mails.at(-1)!.text).link).code, identity: dave, displayName: `dave-${before}` });
    return { dave, inviteId: record.invite_id };
  }

  const handoffBody = (inviteId: string, member: string) => ({ invite_id: inviteId, ...createKeyHandoff({ meshId: mesh.meshId, inviteId, memberPubkey: member }, mesh.meshKey, mesh.owner) });

  const recipes: Record<string, Recipe> = {
    'GET /api/v1/meshes/:meshId/members': { first: '200', request: async () => ({ who: alice, method: 'GET', path: `${base()}/members` }) },
    'PATCH /api/v1/meshes/:meshId/members/me': {
      first: '200',
      // A fresh member each time: replaying a rename must not rename anyone a second time.
      request: async () => ({ who: await addMember(tb, mesh, `rn-${Date.now()}`), method: 'PATCH', path: `${base()}/members/me`, body: { display_name: `renamed-${Date.now()}` } }),
    },
    'PUT /api/v1/meshes/:meshId/members/:pubkey/scope': {
      first: '200',
      // A fresh member each time, confining itself.
      request: async () => {
        const who = await addMember(tb, mesh, `sc-${Date.now()}`);
        return { who, method: 'PUT', path: `${base()}/members/${who.publicKey}/scope`, body: { scope: { capabilities: ['read'], topics: null } } };
      },
    },
    'POST /api/v1/meshes/:meshId/members/:pubkey/revoke': {
      first: '200',
      request: async () => ({ who: mesh.owner, method: 'POST', path: `${base()}/members/${(await addMember(tb, mesh, `carol-${Date.now()}`)).publicKey}/revoke`, body: {} }),
    },
    'POST /api/v1/meshes/:meshId/invites': {
      first: '201',
      request: async () => ({ who: mesh.owner, method: 'POST', path: `${base()}/invites`, body: createInvite({ meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner }) }),
    },
    'GET /api/v1/meshes/:meshId/invites': { first: '200', request: async () => ({ who: mesh.owner, method: 'GET', path: `${base()}/invites` }) },
    'POST /api/v1/meshes/:meshId/invites/:inviteId/revoke': {
      first: '200',
      request: async () => {
        const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
        return { who: mesh.owner, method: 'POST', path: `${base()}/invites/${invite.payload.invite_id}/revoke`, body: {} };
      },
    },
    'POST /api/v1/meshes/:meshId/invites/v2': {
      first: '201',
      request: async () => ({ who: mesh.owner, method: 'POST', path: `${base()}/invites/v2`, body: createShortInvite({ meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: mesh.owner }).record }),
    },
    'POST /api/v1/meshes/:meshId/invites/v2/:inviteId/revoke': {
      first: '200',
      request: async () => {
        const { record } = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: mesh.owner });
        return { who: mesh.owner, method: 'POST', path: `${base()}/invites/v2/${record.invite_id}/revoke`, body: {} };
      },
    },
    'POST /api/v1/meshes/:meshId/invites/email': {
      first: '201',
      // A replayed send would mail the invite again: one mail, whatever the replayer does.
      request: async () => ({ who: mesh.owner, method: 'POST', path: `${base()}/invites/email`, body: createEmailInvite({ meshId: mesh.meshId, email: 'erin@example.test', issuer: mesh.owner }) }),
      // The broker answers once the mail server accepted the mail, so it is at the sink by then.
      effect: async () => sink.mails.filter((m) => m.to.includes('erin@example.test')).length,
      effectOnce: 1,
    },
    'GET /api/v1/meshes/:meshId/invites/email': { first: '200', request: async () => ({ who: mesh.owner, method: 'GET', path: `${base()}/invites/email` }) },
    'POST /api/v1/meshes/:meshId/invites/email/:inviteId/revoke': {
      first: '200',
      request: async () => {
        const { record } = await sendEmailInvite(tb.url, { meshId: mesh.meshId, issuer: mesh.owner, email: 'frank@example.test' });
        return { who: mesh.owner, method: 'POST', path: `${base()}/invites/email/${record.invite_id}/revoke`, body: {} };
      },
    },
    'GET /api/v1/meshes/:meshId/key-requests': { first: '200', request: async () => ({ who: mesh.owner, method: 'GET', path: `${base()}/key-requests` }) },
    'POST /api/v1/meshes/:meshId/key-requests/:memberPubkey': {
      first: '200',
      request: async () => {
        const { dave, inviteId } = await claimedEmailInvite();
        return { who: mesh.owner, method: 'POST', path: `${base()}/key-requests/${dave.publicKey}`, body: handoffBody(inviteId, dave.publicKey) };
      },
    },
    'GET /api/v1/meshes/:meshId/key-handoff': {
      first: '200',
      request: async () => {
        const { dave, inviteId } = await claimedEmailInvite();
        await signedRequest(tb.url, mesh.owner, mesh.meshId, 'POST', `${base()}/key-requests/${dave.publicKey}`, handoffBody(inviteId, dave.publicKey));
        return { who: dave, method: 'GET', path: `${base()}/key-handoff` };
      },
    },
    'POST /api/v1/meshes/:meshId/apikeys': {
      first: '201',
      // The review's case: a replay minted a second key and handed its secret to the replayer.
      request: async () => ({ who: alice, method: 'POST', path: `${base()}/apikeys`, body: { label: 'minted once', capabilities: ['read'] } }),
      effect: async () => (await signedRequest<ApiKeyInfo[]>(tb.url, alice, mesh.meshId, 'GET', `${base()}/apikeys`)).filter((k) => k.label === 'minted once').length,
      effectOnce: 1,
    },
    'GET /api/v1/meshes/:meshId/apikeys': { first: '200', request: async () => ({ who: alice, method: 'GET', path: `${base()}/apikeys` }) },
    'GET /api/v1/meshes/:meshId/analytics': { first: '200', request: async () => ({ who: mesh.owner, method: 'GET', path: `${base()}/analytics?window=7d` }) },
    'DELETE /api/v1/meshes/:meshId/apikeys/:id': {
      first: '200',
      request: async () => {
        const key = await signedRequest<{ id: string }>(tb.url, alice, mesh.meshId, 'POST', `${base()}/apikeys`, { capabilities: ['read'] });
        return { who: alice, method: 'DELETE', path: `${base()}/apikeys/${key.id}` };
      },
    },
  };

  it('has a replay case for every route that answers a missing signature as a signed route', async () => {
    const signed: string[] = [];
    for (const route of routeTable(tb.broker.app)) {
      const path = route.path.replace(/:(\w+)/g, (_, p: string) => (p === 'meshId' ? mesh.meshId : PROBE_PARAMS[p] ?? 'x'));
      const res = await fetch(`${tb.url}${path}`, { method: route.method, ...(route.method === 'GET' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }) });
      const body = (await res.text().catch(() => '')) || '';
      if (res.status === 401 && /Claudemesh-Sig/.test(body)) signed.push(`${route.method} ${route.path}`);
    }
    expect(signed.length).toBeGreaterThan(0);
    expect(signed.sort()).toEqual(Object.keys(recipes).sort());
  });

  for (const [route, recipe] of Object.entries(recipes)) {
    it(`${route}: the same signed request again is ${REPLAY}`, async () => {
      expect(await twice(await recipe.request())).toEqual([recipe.first, REPLAY]);
      if (recipe.effect) expect(await recipe.effect()).toEqual(recipe.effectOnce);
    });
  }

  it('says to sign anew, and remembers the request in the database until its ts leaves the skew window', async () => {
    const r = { who: alice, method: 'GET', path: `${base()}/members` };
    const raw = '';
    const ts = nextRequestTs();
    const sig = sign(requestString({ method: r.method, path: r.path, meshId: mesh.meshId, ts, bodySha256Hex: sha256Hex(raw) }), alice.secretKey);
    const headers = { authorization: formatSignedRequestAuth({ pubkey: alice.publicKey, ts, sig }) };
    expect((await fetch(`${tb.url}${r.path}`, { headers })).status).toBe(200);
    const again = await fetch(`${tb.url}${r.path}`, { headers });
    const body = (await again.json()) as { error: { code: string; message: string } };
    expect([again.status, body.error.code]).toEqual([401, 'E_REPLAY']);
    expect(body.error.message).toMatch(/sign each request anew/);
    // The broker remembers it in the database until the window has passed.
    const [row] = (await tb.broker.app.get(DataSource).query('SELECT count(*)::int AS n FROM signed_requests WHERE expires_at = $1', [new Date(ts + 300_000)])) as Array<{ n: number }>;
    expect(row!.n).toBe(1);
  });

  it('counts a request refused after its signature verified as received: its replay is E_REPLAY too', async () => {
    expect(await twice({ who: alice, method: 'GET', path: `${base()}/invites` })).toEqual(['403 E_FORBIDDEN', REPLAY]);
  });

  it('remembers no request of a key that is not an active member: it is refused by the route, replayed or not', async () => {
    const ds = tb.broker.app.get(DataSource);
    const count = async () => ((await ds.query('SELECT count(*)::int AS n FROM signed_requests')) as Array<{ n: number }>)[0]!.n;
    const before = await count();
    expect(await twice({ who: generateIdentity(), method: 'GET', path: `${base()}/members` })).toEqual(['403 E_NOT_MEMBER', '403 E_NOT_MEMBER']);
    const gone = await addMember(tb, mesh, `gone-${Date.now()}`);
    await signedRequest(tb.url, mesh.owner, mesh.meshId, 'POST', `${base()}/members/${gone.publicKey}/revoke`, {});
    const afterRevocation = await count();
    expect(await twice({ who: gone, method: 'GET', path: `${base()}/members` })).toEqual(['403 E_REVOKED', '403 E_REVOKED']);
    expect(afterRevocation).toBeGreaterThan(before); // the owner's own requests are remembered
    expect(await count()).toBe(afterRevocation);
  });

  it('lets the SDK send many identical signed requests at once without a replay refusal (each is signed anew)', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, () => listKeyRequests(tb.url, mesh.owner, mesh.meshId).then(() => 'ok', (e: Error) => e.message)));
    expect(new Set(answers)).toEqual(new Set(['ok']));
  });
});
