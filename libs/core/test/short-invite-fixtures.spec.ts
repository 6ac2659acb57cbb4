import { cryptoReady, shortInviteClaimString, verify, verifyShortInviteSignature } from '@claudemesh/crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import * as core from '../src/index.js';

const rest = fileURLToPath(new URL('./fixtures/v1/rest/', import.meta.url));
const docs = readFileSync(fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url)), 'utf8');
const read = (dir: string, file: string): unknown => JSON.parse(readFileSync(join(rest, dir, file), 'utf8')) as unknown;

await cryptoReady();

/**
 * Every folder under fixtures/v1/rest is named after the libs/core schema its files must parse with,
 * so a fixture can never sit there unchecked (protocol-fixtures.spec.ts checks the v1 bodies by name).
 */
describe('REST body fixtures, folder by folder', () => {
  const folders = readdirSync(rest);

  it('include the invites v2 bodies', () => {
    expect(folders).toEqual(expect.arrayContaining(['ShortInviteBody', 'ShortInviteResolveBody', 'ShortInviteClaimBody']));
  });

  it.each(folders)('%s: every file parses losslessly with the schema of that name', (folder) => {
    const schema = (core as unknown as Record<string, z.ZodType | undefined>)[folder];
    expect(schema, `libs/core exports no schema ${folder}`).toBeDefined();
    for (const file of readdirSync(join(rest, folder))) expect(schema!.parse(read(folder, file)), file).toEqual(read(folder, file));
  });

  it('are strict: an unknown field is refused', () => {
    for (const folder of ['ShortInviteBody', 'ShortInviteResolveBody', 'ShortInviteClaimBody'] as const) {
      expect(core[folder].safeParse({ ...(read(folder, 'basic.json') as object), extra: 1 }).success, folder).toBe(false);
    }
  });
});

describe('invites v2 fixtures carry real signatures (docs/test-vectors/invite-v2.json)', () => {
  it('ShortInviteBody is signed by its issuer', () => {
    const body = core.ShortInviteBody.parse(read('ShortInviteBody', 'basic.json'));
    expect(verifyShortInviteSignature(body)).toBe(true);
    expect(verifyShortInviteSignature({ ...body, role: 'admin' })).toBe(false);
  });

  it('ShortInviteClaimBody is signed by the joining member key over the claim string', () => {
    const b = core.ShortInviteClaimBody.parse(read('ShortInviteClaimBody', 'basic.json'));
    const text = shortInviteClaimString({ lookup: b.lookup, memberPubkey: b.member_pubkey, x25519Pubkey: b.x25519_pubkey, displayName: b.display_name, peerType: b.peer_type, ts: b.ts });
    expect(verify(text, b.sig, b.member_pubkey)).toBe(true);
  });

  it('refuses lookups, wrapped keys and x25519 keys of the wrong size', () => {
    const claim = read('ShortInviteClaimBody', 'basic.json') as Record<string, string>;
    expect(core.ShortInviteClaimBody.safeParse({ ...claim, lookup: claim['lookup']!.slice(1) }).success).toBe(false);
    expect(core.ShortInviteClaimBody.safeParse({ ...claim, x25519_pubkey: `${claim['x25519_pubkey']}A` }).success).toBe(false);
    const body = read('ShortInviteBody', 'basic.json') as Record<string, unknown>;
    expect(core.ShortInviteBody.safeParse({ ...body, wrapped_mesh_key: 'A'.repeat(53) }).success).toBe(false);
    expect(core.ShortInviteBody.safeParse({ ...body, max_uses: 0 }).success).toBe(false);
  });

  it('documents the new error code and routes in docs/protocol.md', () => {
    expect(docs).toContain('`E_INVITE_NOT_FOUND`');
    for (const route of ['POST /api/v1/meshes/:meshId/invites/v2', 'POST /api/v1/invites/v2/resolve', 'POST /api/v1/invites/v2/claim', 'GET /i/:code']) expect(docs).toContain(route);
  });
});
