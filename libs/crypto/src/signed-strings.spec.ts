import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';
import { fromHex, toHex, utf8Encode } from './encoding.js';
import { identityFromSeed } from './identity.js';
import * as strings from './signed-strings.js';
import { DOMAIN } from './signed-strings.js';
import { sign, verify } from './signing.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

type Builder = 'helloString' | 'sessionAttestationString' | 'joinString' | 'meshCreateString' | 'requestString' | 'identityClaimString';
interface SignedStringVectors {
  signer: { seed_hex: string; public_key: string };
  cases: { builder: Builder; fields: Record<string, unknown>; string: string; string_utf8_hex: string; signature: string }[];
  canonical_json: { value: unknown; canonical: string }[];
  negative: (
    | { description: string; op: 'build'; builder: Builder; fields: Record<string, unknown>; error: string }
    | { description: string; op: 'verify'; message: string; signature: string; public_key: string; expected: boolean }
  )[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/signed-strings.json', import.meta.url), 'utf8')) as SignedStringVectors;

await cryptoReady();

// The builders are typed per purpose; the vectors feed them untyped JSON on purpose.
const build = (builder: Builder, fields: Record<string, unknown>): string => (strings[builder] as (f: unknown) => string)(fields);

const PK = 'ab'.repeat(32);

describe('signed strings', () => {
  it('join the domain tag and fields with \\n and no trailing newline', () => {
    expect(strings.helloString({ meshId: 'm', memberPubkey: PK, sessionPubkey: PK, nonce: 'n', ts: 5 })).toBe(
      `claudemesh/v1/hello\nm\n${PK}\n${PK}\nn\n5`,
    );
    expect(strings.sessionAttestationString({ meshId: 'm', memberPubkey: PK, sessionPubkey: PK, expiresAt: 0 })).toBe(
      `claudemesh/v1/session\nm\n${PK}\n${PK}\n0`,
    );
  });

  it('start with a distinct tag per purpose', () => {
    expect(new Set(Object.values(DOMAIN)).size).toBe(Object.keys(DOMAIN).length);
    for (const tag of Object.values(DOMAIN)) expect(tag).toMatch(/^claudemesh\/v1\/[a-z-]+$/);
  });

  it('refuse any text field containing \\n or \\r, wherever it appears', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('\n', '\r'), fc.string(), (a, brk, b) => {
        expect(codeOf(() => strings.joinString({ meshId: 'm', inviteId: 'i', memberPubkey: PK, displayName: a + brk + b, ts: 1 }))).toBe('E_FIELD_INVALID');
      }),
    );
  });

  it('render integers in plain decimal and refuse negative, fractional, unsafe or non-number values', () => {
    const at = (ts: unknown): string => strings.meshCreateString({ meshId: 'm', name: 'n', ownerPubkey: PK, displayName: 'd', ts: ts as number });
    expect(at(1e15).endsWith('\n1000000000000000')).toBe(true);
    for (const bad of [-1, 0.5, 2 ** 53, Number.NaN, Infinity, '5', null]) expect(codeOf(() => at(bad))).toBe('E_FIELD_INVALID');
  });

  it('refuse fields with lone surrogates, whose UTF-8 would be ambiguous', () => {
    expect(codeOf(() => strings.meshCreateString({ meshId: 'm', name: '\uD83D', ownerPubkey: PK, displayName: 'd', ts: 1 }))).toBe('E_FIELD_INVALID');
  });

  it('give distinct strings for distinct field tuples (no field can bleed into the next)', () => {
    const line = fc.string().filter((s) => !/[\r\n]/.test(s) && !/[\uD800-\uDFFF]/.test(s));
    fc.assert(
      fc.property(fc.tuple(line, line, line), fc.tuple(line, line, line), (x, y) => {
        const s = (t: [string, string, string]): string =>
          strings.requestString({ method: t[0], path: t[1], meshId: t[2], ts: 1, bodySha256Hex: '' });
        expect(s(x) === s(y)).toBe(x.join('\u0000') === y.join('\u0000'));
      }),
    );
  });
});

describe('canonicalJson', () => {
  it('sorts keys recursively by UTF-16 code units and omits whitespace', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: 'x' })).toBe('{"a":"x","b":[{"c":2,"d":1}]}');
    expect(canonicalJson({ '\u{1F600}': 1, '\uFFFF': 2 })).toBe('{"😀":1,"\uFFFF":2}');
  });

  it('is independent of key insertion order and parses back to an equal value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(v);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });

  it('rejects values JSON cannot represent faithfully', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [Number.NaN, Infinity, undefined, { a: undefined }, [undefined], new Date(0), 1n, () => 1, cyclic]) {
      expect(codeOf(() => canonicalJson(bad))).toBe('E_FIELD_INVALID');
    }
  });

  it('accepts a shared (non-cyclic) sub-object twice', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});

describe('signed-strings.json vectors', () => {
  const signer = identityFromSeed(fromHex(vectors.signer.seed_hex));

  it('use the signer the file names', () => {
    expect(signer.publicKey).toBe(vectors.signer.public_key);
  });

  it.each(vectors.cases)('$builder builds its exact string and deterministic signature', (v) => {
    const text = build(v.builder, v.fields);
    expect(text).toBe(v.string);
    expect(toHex(utf8Encode(text))).toBe(v.string_utf8_hex);
    expect(sign(text, signer.secretKey)).toBe(v.signature);
    expect(verify(text, v.signature, signer.publicKey)).toBe(true);
  });

  it.each(vectors.canonical_json)('canonical JSON of case $# is $canonical', (v) => {
    expect(canonicalJson(v.value)).toBe(v.canonical);
  });

  it.each(vectors.negative)('$op fails: $description', (v) => {
    if (v.op === 'build') expect(codeOf(() => build(v.builder, v.fields))).toBe(v.error);
    else expect(verify(v.message, v.signature, v.public_key)).toBe(v.expected);
  });
});
