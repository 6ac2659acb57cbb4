import { cryptoReady, emailInviteClaimString, fromHex, identityFromSeed, openKeyHandoff, verify, verifyEmailInviteSignature } from '@claudemesh/crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as core from '../src/index.js';

const rest = fileURLToPath(new URL('./fixtures/v1/rest/', import.meta.url));
const read = (dir: string, file = 'basic.json'): Record<string, unknown> => JSON.parse(readFileSync(join(rest, dir, file), 'utf8')) as Record<string, unknown>;
const docs = readFileSync(fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url)), 'utf8');

await cryptoReady();

/** The email-invite REST bodies (§9c) carry real signatures from docs/test-vectors/email-invite.json. */
describe('email invite fixtures', () => {
  it('are strict: an unknown field is refused', () => {
    for (const folder of ['EmailInviteBody', 'EmailInviteResolveBody', 'EmailInviteClaimBody', 'KeyHandoffBody'] as const) {
      expect(core[folder].safeParse({ ...read(folder), extra: 1 }).success, folder).toBe(false);
    }
  });

  it('EmailInviteBody is signed by its issuer, with and without a suggested name', () => {
    for (const file of ['basic.json', 'admin-without-name.json']) {
      const body = core.EmailInviteBody.parse(read('EmailInviteBody', file));
      expect(verifyEmailInviteSignature(body), file).toBe(true);
      expect(verifyEmailInviteSignature({ ...body, email: 'other@example.com' }), file).toBe(false);
    }
  });

  it('EmailInviteClaimBody is signed by the joining member key over the claim string', () => {
    const b = core.EmailInviteClaimBody.parse(read('EmailInviteClaimBody'));
    const text = emailInviteClaimString({ lookup: b.lookup, memberPubkey: b.member_pubkey, x25519Pubkey: b.x25519_pubkey, displayName: b.display_name, peerType: b.peer_type, ts: b.ts });
    expect(verify(text, b.sig, b.member_pubkey)).toBe(true);
  });

  it('KeyHandoffBody opens for the joiner of the vectors and verifies under the issuer', () => {
    const b = core.KeyHandoffBody.parse(read('KeyHandoffBody'));
    const invite = core.EmailInviteBody.parse(read('EmailInviteBody'));
    const joiner = identityFromSeed(fromHex('02'.repeat(32)));
    const key = openKeyHandoff(b, { meshId: invite.mesh_id, inviteId: b.invite_id, issuer: invite.issuer }, joiner);
    expect(Buffer.from(key).toString('hex')).toBe('42'.repeat(32));
  });

  it('refuse addresses a mail header could be abused with', () => {
    const body = read('EmailInviteBody');
    for (const email of ['a@b', 'no-at-sign', 'two@@example.com', 'a b@example.com', 'a@example.com\r\nBcc: x@example.com', '"q"@example.com', '<a@example.com>', '.a@example.com', 'a..b@example.com', `${'a'.repeat(65)}@example.com`]) {
      expect(core.EmailInviteBody.safeParse({ ...body, email }).success, email).toBe(false);
    }
    expect(core.EmailInviteBody.safeParse({ ...body, email: 'Erin.Ops+mesh@sub.example.org' }).success).toBe(true);
  });

  it('are documented in §9c with their codes', () => {
    expect(docs).toContain('## 9c. Email invites and key handoff');
    for (const code of ['E_MAIL_DISABLED', 'E_MAIL_FAILED']) expect(docs).toContain(`\`${code}\``);
  });
});
