import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toB64u, utf8Encode } from './encoding.js';
import { generateIdentity, identityFromSeed } from './identity.js';
import {
  checkInvite, createInvite, DEFAULT_INVITE_TTL_MS, encodeInviteHttpsLink, encodeInviteLink, parseInviteLink,
  verifyInviteSignature, type InvitePayload, type SignedInvite,
} from './invite.js';
import { generateMeshKey } from './secretbox.js';
import { inviteSignedString } from './signed-strings.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface InviteVectors {
  issuer: { seed_hex: string; public_key: string };
  mesh_key_hex: string;
  cases: {
    payload: InvitePayload; signed_string: string; sig: string; link: string; link_with_key: string;
    https_link: string; https_link_with_key: string; valid_at: number;
  }[];
  negative: (
    | { op: 'check'; description: string; invite: SignedInvite; now: number; expected: { ok: false; code: string } }
    | { op: 'parse'; description: string; link: string; error: string }
  )[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/invite.json', import.meta.url), 'utf8')) as InviteVectors;

await cryptoReady();

const issuer = generateIdentity();
const NOW = 1_767_225_600_000;
const base = { meshId: 'mesh_1', meshName: 'Team', brokerUrl: 'wss://broker.example.com/ws', issuer, now: NOW };

describe('createInvite', () => {
  it('signs a member invite valid for 7 days and one use by default', () => {
    const inv = createInvite(base);
    expect(inv.payload).toMatchObject({ v: 1, role: 'member', max_uses: 1, issuer: issuer.publicKey, created_at: NOW });
    expect(inv.payload.expires_at - NOW).toBe(DEFAULT_INVITE_TTL_MS);
    expect(inv.payload.invite_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(verifyInviteSignature(inv)).toBe(true);
  });

  it('honours role, ttl, max uses and invite id', () => {
    const inv = createInvite({ ...base, role: 'admin', ttlMs: 1000, maxUses: 3, inviteId: 'inv_x' });
    expect(inv.payload).toMatchObject({ role: 'admin', expires_at: NOW + 1000, max_uses: 3, invite_id: 'inv_x' });
  });

  it('refuses options that would make an invalid invite', () => {
    for (const bad of [{ meshName: 'a\nb' }, { maxUses: 0 }, { ttlMs: 0 }, { meshId: '' }, { brokerUrl: 'not a url' }]) {
      expect(codeOf(() => createInvite({ ...base, ...bad }))).toBe('E_INVITE_INVALID');
    }
  });
});

describe('checkInvite', () => {
  const inv = createInvite({ ...base, ttlMs: 1000 });

  it('accepts a valid invite until just before expires_at', () => {
    expect(checkInvite(inv, NOW)).toEqual({ ok: true });
    expect(checkInvite(inv, NOW + 999)).toEqual({ ok: true });
    expect(checkInvite(inv, NOW + 1000)).toEqual({ ok: false, code: 'E_INVITE_EXPIRED' });
  });

  it('reports tampering as E_INVITE_INVALID even when also expired', () => {
    const forged = { ...inv, payload: { ...inv.payload, max_uses: 99 } };
    expect(checkInvite(forged, NOW + 5000)).toEqual({ ok: false, code: 'E_INVITE_INVALID' });
  });

  it('never throws on garbage invites', () => {
    for (const bad of [null, {}, { payload: {}, sig: 1 }, 'x']) {
      expect(checkInvite(bad as unknown as SignedInvite, NOW)).toEqual({ ok: false, code: 'E_INVITE_INVALID' });
      expect(verifyInviteSignature(bad as unknown as SignedInvite)).toBe(false);
    }
  });
});

describe('invite links', () => {
  const inv = createInvite(base);
  const key = generateMeshKey();

  it('round-trip with and without the mesh key', () => {
    expect(parseInviteLink(encodeInviteLink(inv))).toEqual({ invite: inv });
    expect(parseInviteLink(encodeInviteLink(inv, key))).toEqual({ invite: inv, meshKey: key });
    expect(encodeInviteLink(inv)).toMatch(/^ic:\/\/join\/[A-Za-z0-9_-]+$/);
  });

  it('derive the https form from the broker origin, keeping the blob in the fragment', () => {
    const link = encodeInviteHttpsLink(inv, key);
    expect(link.startsWith('https://broker.example.com/join#')).toBe(true);
    expect(parseInviteLink(link)).toEqual({ invite: inv, meshKey: key });
    const local = createInvite({ ...base, brokerUrl: 'ws://127.0.0.1:7900/ws?x=1' });
    expect(encodeInviteHttpsLink(local).startsWith('http://127.0.0.1:7900/join#')).toBe(true);
  });

  it('accept the bare blob and surrounding whitespace', () => {
    const blob = encodeInviteLink(inv).slice('ic://join/'.length);
    expect(parseInviteLink(`  ${blob}\n`)).toEqual({ invite: inv });
  });

  it('accept the blob keys in any order', () => {
    const link = 'ic://join/' + toB64u(utf8Encode(JSON.stringify({ s: inv.sig, p: inv.payload })));
    expect(parseInviteLink(link).invite).toEqual(inv);
  });

  it('reject unknown blob fields and non-object blobs', () => {
    const extra = 'ic://join/' + toB64u(utf8Encode(JSON.stringify({ p: inv.payload, s: inv.sig, x: 1 })));
    expect(codeOf(() => parseInviteLink(extra))).toBe('E_INVITE_INVALID');
    expect(codeOf(() => parseInviteLink('ic://join/' + toB64u(utf8Encode('[1]'))))).toBe('E_INVITE_INVALID');
    expect(codeOf(() => parseInviteLink(42 as unknown as string))).toBe('E_INVITE_INVALID');
  });
});

describe('invite.json vectors', () => {
  const vIssuer = identityFromSeed(fromHex(vectors.issuer.seed_hex));
  const meshKey = fromHex(vectors.mesh_key_hex);

  it.each(vectors.cases)('invite $payload.invite_id has its canonical string, signature and links', (v) => {
    expect(vIssuer.publicKey).toBe(vectors.issuer.public_key);
    const p = v.payload;
    const made = createInvite({
      meshId: p.mesh_id, meshName: p.mesh_name, brokerUrl: p.broker_url, role: p.role, ttlMs: p.expires_at - p.created_at,
      maxUses: p.max_uses, issuer: vIssuer, now: p.created_at, inviteId: p.invite_id,
    });
    expect(made).toEqual({ payload: p, sig: v.sig });
    expect(inviteSignedString(p)).toBe(v.signed_string);
    expect(encodeInviteLink(made)).toBe(v.link);
    expect(encodeInviteLink(made, meshKey)).toBe(v.link_with_key);
    expect(encodeInviteHttpsLink(made)).toBe(v.https_link);
    expect(encodeInviteHttpsLink(made, meshKey)).toBe(v.https_link_with_key);
    for (const link of [v.link, v.https_link]) expect(parseInviteLink(link)).toEqual({ invite: made });
    for (const link of [v.link_with_key, v.https_link_with_key]) expect(parseInviteLink(link)).toEqual({ invite: made, meshKey });
    expect(checkInvite(made, v.valid_at)).toEqual({ ok: true });
  });

  it.each(vectors.negative)('$op fails: $description', (v) => {
    if (v.op === 'check') expect(checkInvite(v.invite, v.now)).toEqual(v.expected);
    else expect(codeOf(() => parseInviteLink(v.link))).toBe(v.error);
  });
});
