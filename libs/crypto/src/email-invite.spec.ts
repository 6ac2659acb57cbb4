import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createEmailInvite, createKeyHandoff, deriveEmailInviteLookup, encodeEmailInviteLink, formatEmailInviteCode, isEmailInviteLink, openKeyHandoff,
  parseEmailInviteCode, parseEmailInviteLink, verifyEmailInviteSignature, verifyKeyHandoffSignature, type EmailInviteRecord,
} from './email-invite.js';
import { fromB64u, fromHex, toB64u, toHex, utf8Encode } from './encoding.js';
import { generateIdentity, identityFromSeed } from './identity.js';
import { sealTo } from './seal.js';
import { isShortInviteLink } from './short-invite.js';
import { emailInviteClaimString, emailInviteString, keyHandoffString, type ShortInviteClaimFields } from './signed-strings.js';
import { sign, verify } from './signing.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface EmailVectors {
  issuer: { seed_hex: string; public_key: string };
  joiner: { seed_hex: string; public_key: string; x25519_public_key: string };
  codes: { code: string; display: string; lookup: string }[];
  records: { created_at: number; record: EmailInviteRecord; signed_string: string; string_utf8_hex: string }[];
  claims: { signer_seed_hex: string; fields: ShortInviteClaimFields; string: string; string_utf8_hex: string; signature: string }[];
  links: { broker_url: string; code: string; issuer: string; link: string; parsed: { brokerUrl: string; code: string; issuer: string } }[];
  handoffs: { mesh_id: string; invite_id: string; member_pubkey: string; issuer: string; mesh_key_hex: string; sealed: string; sig: string; signed_string: string; string_utf8_hex: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/email-invite.json', import.meta.url), 'utf8')) as EmailVectors;

await cryptoReady();

const issuer = identityFromSeed(fromHex(vectors.issuer.seed_hex));
const joiner = identityFromSeed(fromHex(vectors.joiner.seed_hex));

describe('email-invite.json vectors', () => {
  it('use the issuer and joiner the file names', () => {
    expect(issuer.publicKey).toBe(vectors.issuer.public_key);
    expect(joiner.publicKey).toBe(vectors.joiner.public_key);
    expect(toB64u(joiner.boxPublicKey)).toBe(vectors.joiner.x25519_public_key);
  });

  it.each(vectors.codes)('code $code reads as $display and looks up as $lookup', (v) => {
    expect(formatEmailInviteCode(v.code)).toBe(v.display);
    expect(parseEmailInviteCode(v.display)).toBe(v.code);
    expect(parseEmailInviteCode(` ${v.display.toLowerCase()} `)).toBe(v.code);
    expect(deriveEmailInviteLookup(v.code)).toBe(v.lookup);
    // Independent of the implementation: the HMAC as Node computes it.
    expect(toB64u(createHmac('sha256', v.code).update('claudemesh/v1/email-invite-lookup').digest())).toBe(v.lookup);
  });

  it.each(vectors.records)('record $record.invite_id has its signed string and signature', (v) => {
    const r = v.record;
    const made = createEmailInvite({
      meshId: r.mesh_id, email: r.email, issuer, role: r.role, ttlMs: r.expires_at - v.created_at, now: v.created_at, inviteId: r.invite_id,
      ...(r.display_name ? { displayName: r.display_name } : {}),
    });
    expect(made).toEqual(r);
    const text = emailInviteString({ meshId: r.mesh_id, inviteId: r.invite_id, email: r.email, displayName: r.display_name ?? '', role: r.role, expiresAt: r.expires_at, issuer: r.issuer });
    expect(text).toBe(v.signed_string);
    expect(toHex(utf8Encode(text))).toBe(v.string_utf8_hex);
    expect(verifyEmailInviteSignature(r)).toBe(true);
    expect(verifyEmailInviteSignature({ ...r, email: 'mallory@example.com' })).toBe(false);
    expect(verifyEmailInviteSignature({ ...r, role: r.role === 'admin' ? 'member' : 'admin' })).toBe(false);
  });

  it.each(vectors.claims)('claim by $fields.displayName has its exact string and signature', (v) => {
    const text = emailInviteClaimString(v.fields);
    expect(text).toBe(v.string);
    expect(toHex(utf8Encode(text))).toBe(v.string_utf8_hex);
    expect(sign(text, identityFromSeed(fromHex(v.signer_seed_hex)).secretKey)).toBe(v.signature);
  });

  it.each(vectors.links)('link for $broker_url is $link', (v) => {
    expect(encodeEmailInviteLink(v.broker_url, v.code, v.issuer)).toBe(v.link);
    expect(parseEmailInviteLink(v.link)).toEqual(v.parsed);
    expect(isEmailInviteLink(v.link)).toBe(true);
    expect(isShortInviteLink(v.link)).toBe(false);
  });

  it.each(vectors.handoffs)('handoff to $member_pubkey verifies and opens to the mesh key', (v) => {
    const text = keyHandoffString({ meshId: v.mesh_id, inviteId: v.invite_id, memberPubkey: v.member_pubkey, x25519Pubkey: vectors.joiner.x25519_public_key, sealed: v.sealed, issuer: v.issuer });
    expect(text).toBe(v.signed_string);
    expect(toHex(utf8Encode(text))).toBe(v.string_utf8_hex);
    expect(verify(text, v.sig, v.issuer)).toBe(true);
    expect(toHex(openKeyHandoff({ sealed: v.sealed, sig: v.sig }, { meshId: v.mesh_id, inviteId: v.invite_id, issuer: v.issuer }, joiner))).toBe(v.mesh_key_hex);
  });
});

describe('key handoff', () => {
  const meshId = '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
  const meshKey = new Uint8Array(32).fill(7);
  const target = { meshId, inviteId: 'invite-0001', memberPubkey: joiner.publicKey };
  const expect_ = { meshId, inviteId: 'invite-0001', issuer: issuer.publicKey };

  it('round-trips between the inviting admin and the joiner', () => {
    const h = createKeyHandoff(target, meshKey, issuer);
    expect(verifyKeyHandoffSignature(h, { ...target, issuer: issuer.publicKey })).toBe(true);
    expect(openKeyHandoff(h, expect_, joiner)).toEqual(meshKey);
  });

  it('is refused when signed by anyone but the admin the link names', () => {
    const forger = generateIdentity();
    const forged = createKeyHandoff(target, new Uint8Array(32).fill(9), forger);
    expect(codeOf(() => openKeyHandoff(forged, expect_, joiner))).toBe('E_INVITE_INVALID');
  });

  it('is refused when the box was swapped under a genuine signature', () => {
    const h = createKeyHandoff(target, meshKey, issuer);
    const swapped = sealTo('{"mesh_key":"x"}', joiner.publicKey);
    expect(codeOf(() => openKeyHandoff({ ...h, sealed: swapped }, expect_, joiner))).toBe('E_INVITE_INVALID');
  });

  it('is refused by another member, and for another invite or mesh', () => {
    const h = createKeyHandoff(target, meshKey, issuer);
    expect(codeOf(() => openKeyHandoff(h, expect_, generateIdentity()))).toBe('E_INVITE_INVALID');
    expect(codeOf(() => openKeyHandoff(h, { ...expect_, inviteId: 'invite-0002' }, joiner))).toBe('E_INVITE_INVALID');
    expect(codeOf(() => openKeyHandoff(h, { ...expect_, meshId: '00000000-0000-4000-8000-000000000000' }, joiner))).toBe('E_INVITE_INVALID');
  });

  it('is refused when the sealed box names another joiner inside (signed by the real admin)', () => {
    // The admin's signature binds the box; the box binds its contents. Both are checked.
    const other = generateIdentity();
    const inner = JSON.stringify({ invite_id: 'invite-0001', issuer: issuer.publicKey, member_pubkey: other.publicKey, mesh_id: meshId, mesh_key: toB64u(meshKey) });
    const sealed = sealTo(inner, joiner.publicKey);
    const sig = sign(keyHandoffString({ ...target, x25519Pubkey: toB64u(joiner.boxPublicKey), sealed, issuer: issuer.publicKey }), issuer.secretKey);
    expect(codeOf(() => openKeyHandoff({ sealed, sig }, expect_, joiner))).toBe('E_INVITE_INVALID');
  });

  it('never puts the mesh key in the clear', () => {
    const h = createKeyHandoff(target, meshKey, issuer);
    expect(Buffer.from(fromB64u(h.sealed)).includes(Buffer.from(meshKey))).toBe(false);
    expect(h.sealed.includes(toB64u(meshKey))).toBe(false);
  });
});

describe('email invite links and codes', () => {
  it('refuse a link whose issuer is not a member key, and a code of the wrong length', () => {
    expect(codeOf(() => parseEmailInviteLink('http://h/e/HA4E-7QBM-17RS-BZAJ?issuer=nope'))).toBe('E_INVITE_INVALID');
    expect(codeOf(() => parseEmailInviteLink('http://h/e/HA4E-7QBM-17RS'))).toBe('E_INVITE_INVALID');
    expect(parseEmailInviteLink('http://h:1/e/HA4E-7QBM-17RS-BZAJ')).toEqual({ brokerUrl: 'http://h:1', code: 'HA4E7QBM17RSBZAJ' });
  });

  it('keep a short-invite code and an email code apart by their E- prefix', () => {
    expect(parseEmailInviteCode('HA4E-7QBM-17RS-BZAJ')).toBeNull();
    expect(parseEmailInviteCode('E-A4E7-QBM1-7RSB-ZAJ')).toBeNull();
    expect(parseEmailInviteCode('e-ha4e7qbm17rsbzaj')).toBe('HA4E7QBM17RSBZAJ');
  });

  it('sign a line break in no field (an email with a newline would forge the next line)', () => {
    expect(codeOf(() => createEmailInvite({ meshId: 'm', email: 'a@b.c\nadmin', issuer }))).toBe('E_FIELD_INVALID');
  });
});
