import {
  ProtocolError,
  claimEmailInvite,
  fetchKeyHandoff,
  formatSignedRequestAuth,
  handOverMeshKey,
  listEmailInvites,
  listKeyRequests,
  resolveEmailInvite,
  revokeEmailInvite,
  sendEmailInvite,
  signedRequest,
  type InboundMessage,
  type KeyRequest,
} from '@claudemesh/core';
import {
  createEmailInvite, createKeyHandoff, generateIdentity, parseEmailInviteCode, parseEmailInviteLink, requestString, sha256Hex, sign, toB64u, toHex,
  type Identity,
} from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrokerConfig } from '../src/config/broker.config.js';
import { MIGRATIONS_DIR } from '../src/server.js';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { dumpDatabase } from '../../../test/helpers/db-dump.js';
import { inviteOf, startFakePostmark, startSmtpSink, type FakePostmark, type SmtpSink } from '../../../test/helpers/mail-sinks.js';

const errorOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (error) {
    return error instanceof ProtocolError ? error.code : String(error);
  }
};

/** A signed request whose HTTP status and error body the test can see. */
async function signedFetch(tb: TestBroker, who: Identity, meshId: string, method: string, path: string, body: unknown): Promise<{ status: number; json: { error?: { code: string; message: string } } }> {
  const raw = JSON.stringify(body);
  const ts = Date.now();
  const sig = sign(requestString({ method, path, meshId, ts, bodySha256Hex: sha256Hex(raw) }), who.secretKey);
  const res = await fetch(`${tb.url}${path}`, { method, headers: { 'content-type': 'application/json', authorization: formatSignedRequestAuth({ pubkey: who.publicKey, ts, sig }) }, body: raw });
  return { status: res.status, json: (await res.json()) as { error?: { code: string; message: string } } };
}


describe.each(dbKinds())('email invites over SMTP on %s', (kind) => {
  let tb: TestBroker;
  let sink: SmtpSink;
  let mesh: TestMesh;
  let admin: Identity;
  const codes: string[] = [];

  const invite = async (email: string, opts: { issuer?: Identity; role?: 'member' | 'admin'; ttlMs?: number; displayName?: string; meshId?: string } = {}) => {
    const before = sink.mails.length;
    const sent = await sendEmailInvite(tb.url, { meshId: opts.meshId ?? mesh.meshId, issuer: opts.issuer ?? mesh.owner, email, ...opts });
    await waitFor(() => sink.mails.length > before, 'the invite mail at the SMTP sink');
    const mail = sink.mails.at(-1)!;
    const { link, code } = inviteOf(mail.text);
    codes.push(code);
    return { ...sent, mail, link, code, parsed: parseEmailInviteLink(link) };
  };
  const claim = (link: string, name: string, identity: Identity = generateIdentity()) => {
    const p = parseEmailInviteLink(link);
    return claimEmailInvite(tb.url, { code: p.code, identity, displayName: name, ...(p.issuer ? { issuer: p.issuer } : {}) });
  };

  beforeAll(async () => {
    sink = await startSmtpSink();
    tb = await startTestBroker(kind, { CLAUDEMESH_MAIL: 'smtp', CLAUDEMESH_SMTP_URL: sink.url, CLAUDEMESH_MAIL_FROM: 'claudemesh <mesh@example.test>', CLAUDEMESH_EMAIL_INVITES_PER_HOUR: '12' });
    mesh = await createTestMesh(tb, 'R&D <script>alert(1)</script> "ops"');
    admin = await addMember(tb, mesh, 'ada', 'admin');
  });
  afterAll(async () => {
    await tb?.close();
    await sink?.close();
  });

  it('mails the link and the code over SMTP; the joiner enrolls, the admin hands over the key, and group traffic opens', async () => {
    const sent = await invite('dave@example.com', { displayName: 'dave' });
    expect(sent.sent).toEqual({ invite_id: sent.record.invite_id, mesh_id: mesh.meshId, email: 'dave@example.com', role: 'member', expires_at: sent.record.expires_at });
    expect(JSON.stringify(sent.sent)).not.toContain(sent.code.slice(2));
    // The mail: to the invitee, from the configured sender, naming the mesh, the inviter, the link, the code and the command.
    expect(sent.mail).toMatchObject({ from: 'mesh@example.test', to: ['dave@example.com'] });
    expect(sent.mail.subject).toBe(`owner invited you to the claudemesh mesh "${mesh.name}"`);
    expect(sent.link).toBe(`${tb.url}/e/${sent.code.slice(2)}?issuer=${mesh.owner.publicKey}`);
    expect(sent.mail.text).toContain(`claudemesh join '${sent.link}' --name dave`);
    expect(sent.mail.text).toContain(`claudemesh join ${sent.code} --broker ${tb.url} --name dave`);
    expect(sent.mail.text).toMatch(/Expires: \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    // HTML: every input escaped.
    expect(sent.mail.html).toContain('R&amp;D &lt;script&gt;alert(1)&lt;/script&gt; &quot;ops&quot;');
    expect(sent.mail.html).not.toContain('<script>');
    expect(sent.mail.html).toContain(`href="${sent.link}"`);
    expect(parseEmailInviteCode(sent.code)).toBe(sent.parsed.code);

    const dave = generateIdentity();
    const resolved = await resolveEmailInvite(tb.url, sent.parsed.code, sent.parsed.issuer);
    expect(resolved).toMatchObject({ mesh_id: mesh.meshId, mesh_name: mesh.name, inviter: { member_pubkey: mesh.owner.publicKey, display_name: 'owner' }, claimed: false });
    const claimed = await claim(sent.link, 'dave', dave);
    expect(claimed).toMatchObject({ mesh_id: mesh.meshId, rejoined: false, member: { member_pubkey: dave.publicKey, display_name: 'dave', role: 'member' } });
    expect(JSON.stringify(claimed)).not.toContain(toB64u(mesh.meshKey));
    // No key from the broker: pending until the inviting admin acts.
    const expectHandoff = { inviteId: sent.record.invite_id, issuer: mesh.owner.publicKey };
    expect(await fetchKeyHandoff(tb.url, dave, mesh.meshId, expectHandoff)).toBeNull();

    // Messages to @* wait for dave at the broker meanwhile (as ciphertext under the mesh key).
    const owner = await connectClient(tb, mesh, mesh.owner);
    await owner.send('*', 'before the key arrived');

    const { requests } = await listKeyRequests(tb.url, mesh.owner, mesh.meshId);
    const mine = requests.filter((r) => r.member.member_pubkey === dave.publicKey);
    expect(mine).toEqual([expect.objectContaining({ invite_id: sent.record.invite_id, x25519_pubkey: toB64u(dave.boxPublicKey), invite: sent.record })]);
    expect(await handOverMeshKey(tb.url, mesh.owner, mesh.meshId, mine[0]!, mesh.meshKey)).toMatchObject({ invite_id: sent.record.invite_id, member_pubkey: dave.publicKey });
    expect((await listKeyRequests(tb.url, mesh.owner, mesh.meshId)).requests.map((r) => r.member.member_pubkey)).not.toContain(dave.publicKey);

    const key = await fetchKeyHandoff(tb.url, dave, mesh.meshId, expectHandoff);
    expect(toHex(key!)).toBe(toHex(mesh.meshKey));
    const inbox: InboundMessage[] = [];
    const d = await connectClient(tb, { ...mesh, meshKey: key! }, dave, {}, inbox);
    await owner.send('*', 'after the key arrived');
    await waitFor(() => inbox.length === 2, 'both broadcasts at dave');
    expect(inbox.map((m) => m.text)).toEqual(['before the key arrived', 'after the key arrived']);
    await d.close();
    await owner.close();
  });

  it('admits one member only: another key is E_INVITE_EXHAUSTED, the same key rejoins', async () => {
    const sent = await invite('erin@example.com');
    const erin = generateIdentity();
    expect((await claim(sent.link, 'erin', erin)).rejoined).toBe(false);
    expect(await errorOf(claim(sent.link, 'mallory'))).toBe('E_INVITE_EXHAUSTED');
    expect((await claim(sent.link, 'erin', erin)).rejoined).toBe(true);
    expect((await resolveEmailInvite(tb.url, sent.parsed.code)).claimed).toBe(true);
  });

  it('refuses a wrong code (E_INVITE_NOT_FOUND), an expired invite (E_INVITE_EXPIRED) and a revoked one (E_INVITE_REVOKED)', async () => {
    const sent = await invite('frank@example.com', { ttlMs: 1_500 });
    const wrong = `${sent.link.slice(0, sent.link.indexOf('/e/') + 3)}0000-0000-0000-0000?issuer=${mesh.owner.publicKey}`;
    expect(await errorOf(claim(wrong, 'frank'))).toBe('E_INVITE_NOT_FOUND');
    expect(await errorOf(resolveEmailInvite(tb.url, '0000000000000000'))).toBe('E_INVITE_NOT_FOUND');
    await new Promise((r) => setTimeout(r, 1_600));
    expect(await errorOf(resolveEmailInvite(tb.url, sent.parsed.code))).toBe('E_INVITE_EXPIRED');
    expect(await errorOf(claim(sent.link, 'frank'))).toBe('E_INVITE_EXPIRED');

    const revoked = await invite('gina@example.com');
    expect(await revokeEmailInvite(tb.url, mesh.owner, mesh.meshId, revoked.record.invite_id)).toEqual({ invite_id: revoked.record.invite_id, revoked: true });
    expect(await errorOf(claim(revoked.link, 'gina'))).toBe('E_INVITE_REVOKED');
  });

  it('lists the mesh’s email invites to its owner and admins — sent, claimed by whom, revoked — and never the code', async () => {
    const claimedOne = await invite('iris@example.com');
    const iris = generateIdentity();
    await claim(claimedOne.link, 'iris', iris);
    const byAdmin = await invite('jon@example.com', { issuer: admin });
    await revokeEmailInvite(tb.url, mesh.owner, mesh.meshId, byAdmin.record.invite_id);
    for (const who of [mesh.owner, admin]) {
      const { invites } = await listEmailInvites(tb.url, who, mesh.meshId);
      expect(invites.find((i) => i.invite_id === claimedOne.record.invite_id)).toEqual({
        invite_id: claimedOne.record.invite_id, mesh_id: mesh.meshId, email: 'iris@example.com', role: 'member', expires_at: claimedOne.record.expires_at,
        issuer: mesh.owner.publicKey, created_at: expect.any(Number), sent: true, revoked: false, member_pubkey: iris.publicKey,
      });
      expect(invites.find((i) => i.invite_id === byAdmin.record.invite_id)).toMatchObject({ issuer: admin.publicKey, revoked: true, member_pubkey: null });
      const created = invites.map((i) => i.created_at);
      expect(created).toEqual([...created].sort((a, b) => a - b));
      for (const c of [claimedOne.code, byAdmin.code]) expect(JSON.stringify(invites)).not.toContain(c.slice(2));
    }
    expect(await errorOf(listEmailInvites(tb.url, await addMember(tb, mesh, 'nosy'), mesh.meshId))).toBe('E_FORBIDDEN');
  });

  it('refuses a link that names another admin than the one who signed the invite', async () => {
    const sent = await invite('hal@example.com');
    const forged = sent.link.replace(mesh.owner.publicKey, admin.publicKey);
    expect(await errorOf(claim(forged, 'hal'))).toBe('E_INVITE_INVALID');
    expect(await errorOf(resolveEmailInvite(tb.url, sent.parsed.code, admin.publicKey))).toBe('E_INVITE_INVALID');
  });

  it('lets only owners and admins email-invite and list key requests; only the inviting admin hands over', async () => {
    const member = await addMember(tb, mesh, 'plain-member');
    expect(await errorOf(sendEmailInvite(tb.url, { meshId: mesh.meshId, issuer: member, email: 'x@example.com' }))).toBe('E_FORBIDDEN');
    expect(await errorOf(listKeyRequests(tb.url, member, mesh.meshId))).toBe('E_FORBIDDEN');
    expect(await errorOf(listKeyRequests(tb.url, generateIdentity(), mesh.meshId))).toBe('E_NOT_MEMBER');
    expect(await errorOf(sendEmailInvite(tb.url, { meshId: mesh.meshId, issuer: admin, email: 'x@example.com', role: 'admin' }))).toBe('E_INVITE_INVALID');
    // Signed by one key, sent by another.
    const record = createEmailInvite({ meshId: mesh.meshId, email: 'x@example.com', issuer: mesh.owner });
    expect(await errorOf(signedRequest(tb.url, admin, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/invites/email`, record))).toBe('E_FORBIDDEN');

    const sent = await invite('ivy@example.com', { issuer: admin });
    const ivy = generateIdentity();
    await claim(sent.link, 'ivy', ivy);
    const request = (await listKeyRequests(tb.url, mesh.owner, mesh.meshId)).requests.find((r) => r.member.member_pubkey === ivy.publicKey)!;
    // The owner's client refuses to answer an invite it did not sign; forced through, the broker refuses too.
    expect(await errorOf(handOverMeshKey(tb.url, mesh.owner, mesh.meshId, request, mesh.meshKey))).toBe('E_FORBIDDEN');
    const byOwner = createKeyHandoff({ meshId: mesh.meshId, inviteId: request.invite_id, memberPubkey: ivy.publicKey }, mesh.meshKey, mesh.owner);
    const path = `/api/v1/meshes/${mesh.meshId}/key-requests/${ivy.publicKey}`;
    expect(await errorOf(signedRequest(tb.url, mesh.owner, mesh.meshId, 'POST', path, { invite_id: request.invite_id, ...byOwner }))).toBe('E_FORBIDDEN');
    expect(await handOverMeshKey(tb.url, admin, mesh.meshId, request, mesh.meshKey)).toMatchObject({ member_pubkey: ivy.publicKey });
    expect(toHex((await fetchKeyHandoff(tb.url, ivy, mesh.meshId, { inviteId: request.invite_id, issuer: admin.publicKey }))!)).toBe(toHex(mesh.meshKey));
    // A second, different handoff is refused; the same one again is idempotent.
    expect(await errorOf(handOverMeshKey(tb.url, admin, mesh.meshId, request, mesh.meshKey))).toBe('E_CONFLICT');
  });

  it('refuses handoffs with a bad signature at the broker, and a forged one stored behind its back at the joiner', async () => {
    const sent = await invite('jo@example.com');
    const jo = generateIdentity();
    await claim(sent.link, 'jo', jo);
    const path = `/api/v1/meshes/${mesh.meshId}/key-requests/${jo.publicKey}`;
    const target = { meshId: mesh.meshId, inviteId: sent.record.invite_id, memberPubkey: jo.publicKey };
    const wrongSigner = createKeyHandoff(target, mesh.meshKey, generateIdentity());
    expect(await errorOf(signedRequest(tb.url, mesh.owner, mesh.meshId, 'POST', path, { invite_id: sent.record.invite_id, ...wrongSigner }))).toBe('E_BAD_SIGNATURE');

    // A broker (or its database) that plants its own key with its own signature: the joiner refuses it.
    const evilKey = new Uint8Array(32).fill(0xee);
    const planted = createKeyHandoff(target, evilKey, generateIdentity());
    const db = tb.broker.app.get(DataSource);
    await db.query('UPDATE email_invites SET handoff_sealed = $2, handoff_sig = $3, handed_over_at = now() WHERE id = $1', [sent.record.invite_id, planted.sealed, planted.sig]);
    expect(await errorOf(fetchKeyHandoff(tb.url, jo, mesh.meshId, { inviteId: sent.record.invite_id, issuer: mesh.owner.publicKey }))).toBe('E_INVITE_INVALID');

    // An admin's client never seals to a key request it cannot tie to an invite it signed.
    const fake: KeyRequest = { invite_id: 'fabricated-01', member: { member_pubkey: jo.publicKey, display_name: 'jo', role: 'member', peer_type: 'ai' }, x25519_pubkey: toB64u(jo.boxPublicKey), claimed_at: Date.now(), invite: { ...sent.record, invite_id: 'fabricated-01' } };
    expect(await errorOf(handOverMeshKey(tb.url, mesh.owner, mesh.meshId, fake, mesh.meshKey))).toBe('E_INVITE_INVALID');
  });

  it('answers a replayed invite request without mailing twice, refuses bad addresses, and rate-limits each mesh', async () => {
    const other = await createTestMesh(tb, 'rate-limited');
    const record = createEmailInvite({ meshId: other.meshId, email: 'kim@example.com', issuer: other.owner });
    const path = `/api/v1/meshes/${other.meshId}/invites/email`;
    const before = sink.mails.length;
    const first = await signedRequest(tb.url, other.owner, other.meshId, 'POST', path, record);
    expect(await signedRequest(tb.url, other.owner, other.meshId, 'POST', path, record)).toEqual(first);
    await waitFor(() => sink.mails.length === before + 1, 'one mail');
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.mails.length).toBe(before + 1);

    const bad = await signedFetch(tb, other.owner, other.meshId, 'POST', path, { ...record, email: 'kim@example.com\r\nBcc: all@example.com' });
    expect([bad.status, bad.json.error?.code]).toEqual([400, 'E_SCHEMA']);

    // A recipient the mail server refuses: E_MAIL_FAILED (502), and the invite admits no one.
    const refused = await signedFetch(tb, other.owner, other.meshId, 'POST', path, createEmailInvite({ meshId: other.meshId, email: 'reject-me@example.com', issuer: other.owner }));
    expect([refused.status, refused.json.error?.code]).toEqual([502, 'E_MAIL_FAILED']);
    expect(refused.json.error?.message).toMatch(/550/);

    for (let i = 2; i < 12; i++) await sendEmailInvite(tb.url, { meshId: other.meshId, issuer: other.owner, email: `n${i}@example.com` });
    const limited = await signedFetch(tb, other.owner, other.meshId, 'POST', path, createEmailInvite({ meshId: other.meshId, email: 'one-too-many@example.com', issuer: other.owner }));
    expect([limited.status, limited.json.error?.code]).toEqual([429, 'E_RATE_LIMITED']);
    // Per mesh: the first mesh still sends.
    await invite('still-fine@example.com');
  });

  it('leaves no mesh key in any form the broker could open, and no code, in its database', async () => {
    const sent = await invite('last@example.com');
    const last = generateIdentity();
    await claim(sent.link, 'last', last);
    const request = (await listKeyRequests(tb.url, mesh.owner, mesh.meshId)).requests.find((r) => r.member.member_pubkey === last.publicKey)!;
    await handOverMeshKey(tb.url, mesh.owner, mesh.meshId, request, mesh.meshKey);
    await tb.broker.close(); // flushes the embedded data dir

    const dump = dumpDatabase(tb);
    expect(dump.includes(Buffer.from('last@example.com')), 'control: the dump shows what the broker stores in clear').toBe(true);
    const key = Buffer.from(mesh.meshKey);
    for (const form of [key, Buffer.from(key.toString('hex')), Buffer.from(toB64u(mesh.meshKey)), Buffer.from(key.toString('base64')), Buffer.from(key.toString('base64').replace(/=+$/, ''))]) {
      expect(dump.includes(form), `mesh key as ${form.length} bytes`).toBe(false);
    }
    for (const code of codes) {
      const canonical = code.slice(2).replaceAll('-', '');
      expect(dump.includes(Buffer.from(canonical)), `code ${code}`).toBe(false);
      expect(dump.includes(Buffer.from(code.slice(2))), `code ${code} grouped`).toBe(false);
    }
  });
});

describe('email invites through Postmark, and with mail off', () => {
  let tb: TestBroker;
  let off: TestBroker;
  let postmark: FakePostmark;
  let mesh: TestMesh;

  beforeAll(async () => {
    postmark = await startFakePostmark();
    tb = await startTestBroker('embedded', { CLAUDEMESH_MAIL: 'postmark', CLAUDEMESH_POSTMARK_TOKEN: postmark.token, CLAUDEMESH_POSTMARK_URL: postmark.url, CLAUDEMESH_MAIL_FROM: 'mesh@example.test' });
    off = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'pm-mesh');
  });
  afterAll(async () => {
    await tb?.close();
    await off?.close();
    await postmark?.close();
  });

  it('posts From, To, Subject, HtmlBody, TextBody and MessageStream with the server token, and the mailed link works', async () => {
    const { record } = await sendEmailInvite(tb.url, { meshId: mesh.meshId, issuer: mesh.owner, email: 'pat@example.com' });
    const call = postmark.calls.at(-1)!;
    expect(call.headers['x-postmark-server-token']).toBe(postmark.token);
    expect(call.headers['accept']).toBe('application/json');
    expect(call.body).toMatchObject({ From: 'mesh@example.test', To: 'pat@example.com', Subject: 'owner invited you to the claudemesh mesh "pm-mesh"', MessageStream: 'outbound' });
    expect(Object.keys(call.body).sort()).toEqual(['From', 'HtmlBody', 'MessageStream', 'Subject', 'TextBody', 'To']);
    const { link } = inviteOf(String(call.body['TextBody']));
    expect(String(call.body['HtmlBody'])).toContain(`href="${link}"`);
    const p = parseEmailInviteLink(link);
    const pat = generateIdentity();
    await claimEmailInvite(tb.url, { code: p.code, identity: pat, displayName: 'pat', issuer: p.issuer! });
    expect((await listKeyRequests(tb.url, mesh.owner, mesh.meshId)).requests.map((r) => r.invite_id)).toEqual([record.invite_id]);
  });

  it('turns Postmark ErrorCode 300 into E_MAIL_FAILED (502) and keeps the invite from admitting anyone', async () => {
    postmark.mode = 'invalid-request';
    try {
      const path = `/api/v1/meshes/${mesh.meshId}/invites/email`;
      const r = await signedFetch(tb, mesh.owner, mesh.meshId, 'POST', path, createEmailInvite({ meshId: mesh.meshId, email: 'quinn@example.com', issuer: mesh.owner }));
      expect([r.status, r.json.error?.code]).toEqual([502, 'E_MAIL_FAILED']);
      expect(r.json.error?.message).toMatch(/ErrorCode 300/);
      // The code did reach Postmark: it must not work.
      const { link } = inviteOf(String(postmark.calls.at(-1)!.body['TextBody']));
      const p = parseEmailInviteLink(link);
      expect(await errorOf(claimEmailInvite(tb.url, { code: p.code, identity: generateIdentity(), displayName: 'quinn' }))).toBe('E_INVITE_NOT_FOUND');
    } finally {
      postmark.mode = 'ok';
    }
  });

  it('answers E_MAIL_DISABLED (503) naming the settings when the broker has no mail transport', async () => {
    const m = await createTestMesh(off, 'no-mail');
    const r = await signedFetch(off, m.owner, m.meshId, 'POST', `/api/v1/meshes/${m.meshId}/invites/email`, createEmailInvite({ meshId: m.meshId, email: 'r@example.com', issuer: m.owner }));
    expect([r.status, r.json.error?.code]).toEqual([503, 'E_MAIL_DISABLED']);
    expect(r.json.error?.message).toMatch(/CLAUDEMESH_MAIL=smtp.*CLAUDEMESH_SMTP_URL.*CLAUDEMESH_MAIL_FROM/);
  });

  it('refuses a configuration with a transport but not its settings', () => {
    expect(() => loadBrokerConfig({ CLAUDEMESH_MAIL: 'smtp', CLAUDEMESH_MAIL_FROM: 'a@b.test' }, MIGRATIONS_DIR)).toThrow(/CLAUDEMESH_SMTP_URL: required when CLAUDEMESH_MAIL=smtp/);
    expect(() => loadBrokerConfig({ CLAUDEMESH_MAIL: 'postmark', CLAUDEMESH_POSTMARK_TOKEN: 't' }, MIGRATIONS_DIR)).toThrow(/CLAUDEMESH_MAIL_FROM: required when CLAUDEMESH_MAIL=postmark/);
    expect(() => loadBrokerConfig({ CLAUDEMESH_MAIL: 'carrier-pigeon' }, MIGRATIONS_DIR)).toThrow(/CLAUDEMESH_MAIL/);
    expect(loadBrokerConfig({}, MIGRATIONS_DIR).mail).toEqual({ transport: { kind: 'off' }, invitesPerHour: 20 });
  });
});
