import { createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromB64u, fromHex, toB64u, toHex, utf8Encode } from './encoding.js';
import { generateIdentity, identityFromSeed } from './identity.js';
import { generateMeshKey } from './secretbox.js';
import {
  createShortInvite, deriveInviteLookup, deriveInviteWrapKey, encodeShortInviteLink, formatInviteCode, generateInviteCode,
  INVITE_CODE_ALPHABET, normalizeInviteCode, openShortInvite, parseShortInviteLink, unwrapMeshKey, verifyShortInviteSignature,
  wrapMeshKey, type ShortInviteRecord,
} from './short-invite.js';
import { DOMAIN, shortInviteClaimString, shortInviteString, type ShortInviteClaimFields } from './signed-strings.js';
import { sign, verify } from './signing.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface V2Vectors {
  alphabet: string;
  issuer: { seed_hex: string; public_key: string };
  joiner: { seed_hex: string; public_key: string; x25519_public_key: string };
  codes: { random_hex: string; code: string; display: string }[];
  normalize: { input: string; code: string }[];
  derive: { code: string; lookup: string; wrap_key_hex: string }[];
  wrap: { code: string; mesh_id: string; issuer: string; mesh_key_hex: string; nonce_hex: string; plaintext: string; wrapped_mesh_key: string }[];
  records: { code: string; created_at: number; nonce_hex: string; record: ShortInviteRecord; signed_string: string; string_utf8_hex: string }[];
  claims: { signer_seed_hex: string; fields: ShortInviteClaimFields; string: string; string_utf8_hex: string; signature: string }[];
  links: { broker_url: string; code: string; link: string; parsed_broker_url: string }[];
  negative: (
    | { op: 'parse-code' | 'parse-link'; description: string; input: string; error: string }
    | { op: 'unwrap'; description: string; code: string; wrapped_mesh_key: string; error: string }
    | { op: 'open'; description: string; code: string; record: ShortInviteRecord; error: string }
    | { op: 'verify-claim'; description: string; fields: ShortInviteClaimFields; signature: string; public_key: string; expected: boolean }
  )[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/invite-v2.json', import.meta.url), 'utf8')) as V2Vectors;

await cryptoReady();

/** Independent of the implementation: reads 16 base32 characters back into 10 bytes, 5 bits at a time. */
function decodeCode(code: string): Uint8Array {
  const bits = [...code].flatMap((c) => {
    const v = INVITE_CODE_ALPHABET.indexOf(c);
    return [4, 3, 2, 1, 0].map((i) => (v >> i) & 1);
  });
  return Uint8Array.from({ length: 10 }, (_, i) => bits.slice(8 * i, 8 * i + 8).reduce((n, b) => (n << 1) | b, 0));
}

const issuer = identityFromSeed(fromHex(vectors.issuer.seed_hex));
const MESH = '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';

describe('invite codes', () => {
  it('use the Crockford alphabet, with neither I, L, O nor U', () => {
    expect(INVITE_CODE_ALPHABET).toBe(vectors.alphabet);
    expect(INVITE_CODE_ALPHABET).toHaveLength(32);
    expect(INVITE_CODE_ALPHABET).not.toMatch(/[ILOU]/);
  });

  it('encode all 80 random bits, so decoding gives the random bytes back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 10, maxLength: 10 }), (random) => {
        const code = generateInviteCode(random);
        expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{16}$/);
        expect(decodeCode(code)).toEqual(random);
      }),
    );
    expect(generateInviteCode()).not.toBe(generateInviteCode());
  });

  it('read case-insensitively, dashes optional, I/L as 1 and O as 0', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 10, maxLength: 10 }), fc.boolean(), fc.boolean(), (random, lower, dashes) => {
        const code = generateInviteCode(random);
        let typed = dashes ? formatInviteCode(code) : code;
        if (lower) typed = typed.toLowerCase();
        expect(normalizeInviteCode(typed)).toBe(code);
      }),
    );
    expect(normalizeInviteCode('oooo-iiii-llll-0000')).toBe('0000111111110000');
  });

  it('refuse anything that is not 16 alphabet characters', () => {
    for (const bad of ['', 'ABCD', 'A'.repeat(17), 'ABCD-EFGH-JKMN-PQRU', 'ABCD EFGH JKMN PQRS', 'ÄBCD-EFGH-JKMN-PQRS', 42]) {
      expect(codeOf(() => normalizeInviteCode(bad as string)), String(bad)).toBe('E_INVITE_INVALID');
    }
    expect(codeOf(() => generateInviteCode(new Uint8Array(9)))).toBe('E_INVITE_INVALID');
  });
});

describe('short invite links', () => {
  it('put the grouped code under /i/ on the broker origin and parse back', () => {
    const code = generateInviteCode();
    const link = encodeShortInviteLink('wss://broker.example.com/ws?x=1', code);
    expect(link).toBe(`https://broker.example.com/i/${formatInviteCode(code)}`);
    expect(parseShortInviteLink(link)).toEqual({ brokerUrl: 'https://broker.example.com', code });
    expect(parseShortInviteLink(` ${link.toLowerCase()}/?utm=x `)).toEqual({
      brokerUrl: 'https://broker.example.com',
      code,
    });
  });
});

describe('lookup and wrap key', () => {
  it('match independent HMAC-SHA256 and HKDF-SHA256 (node:crypto)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 10, maxLength: 10 }), (random) => {
        const code = generateInviteCode(random);
        const hmac = createHmac('sha256', Buffer.from(code, 'ascii')).update(DOMAIN.shortInviteLookup).digest();
        expect(deriveInviteLookup(code)).toBe(toB64u(hmac));
        const hkdf = new Uint8Array(hkdfSync('sha256', Buffer.from(code, 'ascii'), new Uint8Array(32), DOMAIN.shortInviteWrap, 32));
        expect(deriveInviteWrapKey(code)).toEqual(hkdf);
      }),
      { numRuns: 30 },
    );
  });

  it('are the same for every spelling of a code', () => {
    const code = generateInviteCode();
    expect(deriveInviteLookup(formatInviteCode(code).toLowerCase())).toBe(deriveInviteLookup(code));
    expect(deriveInviteWrapKey(formatInviteCode(code))).toEqual(deriveInviteWrapKey(code));
  });
});

describe('short invites', () => {
  it('give the joiner the mesh key when code and record belong together', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 10, maxLength: 10 }), fc.constantFrom('member', 'admin' as const), fc.integer({ min: 1, max: 1000 }), (random, role, maxUses) => {
        const meshKey = generateMeshKey();
        const { code, record } = createShortInvite({ meshId: MESH, meshKey, issuer, role, maxUses, code: generateInviteCode(random) });
        expect(record).toMatchObject({ mesh_id: MESH, role, max_uses: maxUses, issuer: issuer.publicKey, lookup: deriveInviteLookup(code) });
        expect(verifyShortInviteSignature(record)).toBe(true);
        expect(openShortInvite(code, record)).toEqual(meshKey);
      }),
      { numRuns: 20 },
    );
  });

  it('never put the code, the wrap key or the mesh key in the record the broker stores', () => {
    const meshKey = generateMeshKey();
    const { code, record } = createShortInvite({ meshId: MESH, meshKey, issuer });
    const stored = JSON.stringify(record);
    for (const secret of [code, formatInviteCode(code), toB64u(deriveInviteWrapKey(code)), toHex(deriveInviteWrapKey(code)), toB64u(meshKey), toHex(meshKey)]) {
      expect(stored).not.toContain(secret);
    }
  });

  it('refuse any change to a signed field, and a code that differs in one character', () => {
    const { code, record } = createShortInvite({ meshId: MESH, meshKey: generateMeshKey(), issuer, maxUses: 2 });
    for (const change of [{ role: 'admin' }, { max_uses: 3 }, { expires_at: record.expires_at + 1 }, { invite_id: 'other-id' }, { mesh_id: MESH.replace('3f', '4f') }] as const) {
      expect(codeOf(() => openShortInvite(code, { ...record, ...change } as ShortInviteRecord))).toBe('E_INVITE_INVALID');
    }
    const other = code.slice(0, 15) + (code[15] === '0' ? '1' : '0');
    expect(codeOf(() => openShortInvite(other, record))).toBe('E_INVITE_INVALID');
    expect(codeOf(() => openShortInvite(code, null as unknown as ShortInviteRecord))).toBe('E_INVITE_INVALID');
    expect(verifyShortInviteSignature({ ...record, max_uses: -1 })).toBe(false);
  });

  it('refuse options that would make an unusable invite', () => {
    const base = { meshId: MESH, meshKey: generateMeshKey(), issuer };
    for (const bad of [{ maxUses: 0 }, { ttlMs: 0 }, { meshKey: new Uint8Array(31) }, { role: 'owner' as 'admin' }, { code: 'nope' }]) {
      expect(codeOf(() => createShortInvite({ ...base, ...bad })), JSON.stringify(bad)).toBe('E_INVITE_INVALID');
    }
  });
});

describe('invite-v2.json vectors', () => {
  it('use the issuer and joiner the file names', () => {
    expect(issuer.publicKey).toBe(vectors.issuer.public_key);
    const joiner = identityFromSeed(fromHex(vectors.joiner.seed_hex));
    expect(joiner.publicKey).toBe(vectors.joiner.public_key);
    expect(toB64u(joiner.boxPublicKey)).toBe(vectors.joiner.x25519_public_key);
  });

  it.each(vectors.codes)('random $random_hex is code $display', (v) => {
    expect(generateInviteCode(fromHex(v.random_hex))).toBe(v.code);
    expect(formatInviteCode(v.code)).toBe(v.display);
    expect(toHex(decodeCode(v.code))).toBe(v.random_hex);
  });

  it.each(vectors.normalize)('$input reads as $code', (v) => {
    expect(normalizeInviteCode(v.input)).toBe(v.code);
  });

  it.each(vectors.derive)('code $code derives its lookup and wrap key', (v) => {
    expect(deriveInviteLookup(v.code)).toBe(v.lookup);
    expect(toHex(deriveInviteWrapKey(v.code))).toBe(v.wrap_key_hex);
  });

  it.each(vectors.wrap)('wraps the mesh key of $mesh_id under code $code', (v) => {
    const meshKey = fromHex(v.mesh_key_hex);
    expect(wrapMeshKey(v.code, { meshKey, meshId: v.mesh_id, issuer: v.issuer }, fromHex(v.nonce_hex))).toBe(v.wrapped_mesh_key);
    expect(toHex(fromB64u(v.wrapped_mesh_key).subarray(0, 24))).toBe(v.nonce_hex);
    expect(unwrapMeshKey(v.code, v.wrapped_mesh_key)).toEqual({ meshKey, meshId: v.mesh_id, issuer: v.issuer });
    expect(fromB64u(v.wrapped_mesh_key)).toHaveLength(24 + utf8Encode(v.plaintext).length + 16);
  });

  it.each(vectors.records)('record $record.invite_id has its signed string and signature, and opens with its code', (v) => {
    const r = v.record;
    const made = createShortInvite({
      meshId: r.mesh_id, meshKey: fromHex(vectors.wrap[0]!.mesh_key_hex), issuer, role: r.role, maxUses: r.max_uses,
      ttlMs: r.expires_at - v.created_at, now: v.created_at, inviteId: r.invite_id, code: v.code, nonce: fromHex(v.nonce_hex),
    });
    expect(made).toEqual({ code: v.code, record: r });
    const text = shortInviteString({
      meshId: r.mesh_id, inviteId: r.invite_id, lookup: r.lookup, wrappedMeshKey: r.wrapped_mesh_key, role: r.role, maxUses: r.max_uses,
      expiresAt: r.expires_at, issuer: r.issuer,
    });
    expect(text).toBe(v.signed_string);
    expect(toHex(utf8Encode(text))).toBe(v.string_utf8_hex);
    expect(verify(text, r.sig, r.issuer)).toBe(true);
    expect(openShortInvite(v.code, r)).toEqual(fromHex(vectors.wrap[0]!.mesh_key_hex));
  });

  it.each(vectors.claims)('claim by $fields.displayName has its exact string and signature', (v) => {
    const signer = identityFromSeed(fromHex(v.signer_seed_hex));
    const text = shortInviteClaimString(v.fields);
    expect(text).toBe(v.string);
    expect(toHex(utf8Encode(text))).toBe(v.string_utf8_hex);
    expect(sign(text, signer.secretKey)).toBe(v.signature);
  });

  it.each(vectors.links)('link for $broker_url is $link', (v) => {
    expect(encodeShortInviteLink(v.broker_url, v.code)).toBe(v.link);
    expect(parseShortInviteLink(v.link)).toEqual({ brokerUrl: v.parsed_broker_url, code: v.code });
  });

  it.each(vectors.negative)('$op fails: $description', (v) => {
    switch (v.op) {
      case 'parse-code':
        return expect(codeOf(() => normalizeInviteCode(v.input))).toBe(v.error);
      case 'parse-link':
        return expect(codeOf(() => parseShortInviteLink(v.input))).toBe(v.error);
      case 'unwrap':
        return expect(codeOf(() => unwrapMeshKey(v.code, v.wrapped_mesh_key))).toBe(v.error);
      case 'open':
        return expect(codeOf(() => openShortInvite(v.code, v.record))).toBe(v.error);
      case 'verify-claim':
        return expect(verify(shortInviteClaimString(v.fields), v.signature, v.public_key)).toBe(v.expected);
    }
  });

  it('cover each negative operation', () => {
    expect(new Set(vectors.negative.map((v) => v.op))).toEqual(new Set(['parse-code', 'parse-link', 'unwrap', 'open', 'verify-claim']));
  });
});

describe('short-invite strings', () => {
  it('refuse a display name with a line break, which could forge the next field', () => {
    const joiner = generateIdentity();
    const fields = { lookup: 'l', memberPubkey: joiner.publicKey, x25519Pubkey: 'x', displayName: 'a\nai', peerType: 'ai', ts: 1 };
    expect(codeOf(() => shortInviteClaimString(fields))).toBe('E_FIELD_INVALID');
  });
});
