import { checkInvite, createInvite, cryptoReady, generateIdentity } from '@claudemesh/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  CLIENT_FRAME_SCHEMAS,
  CreateApiKeyBody,
  CreateMeshBody,
  CreateTopicBody,
  InvitePayloadSchema,
  PostTopicMessageBody,
  SearchQuery,
  authorizationCredentials,
  b64uByteLength,
  freeText,
  hasDuplicateKeys,
  isCanonicalB64u,
  joinMesh,
  parseSignedRequestAuth,
} from '../src/index.js';

const DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The definition of canonical (§1.1): decoding then re-encoding gives the same text back. */
const roundTrips = (s: string): boolean => Buffer.from(s, 'base64url').toString('base64url') === s;

describe('canonical base64url (protocol.md §1.1)', () => {
  it('agrees with decoding and re-encoding for every length up to 12 and every final character', () => {
    for (let length = 1; length <= 12; length++) {
      for (const last of DIGITS) {
        const s = 'Q'.repeat(length - 1) + last;
        expect(isCanonicalB64u(s), s).toBe(roundTrips(s));
      }
    }
    expect(isCanonicalB64u('')).toBe(true);
  });

  it('agrees with decoding and re-encoding on random strings, and refuses padding, whitespace and the standard alphabet', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...DIGITS), maxLength: 40 }), (s) => {
        expect(isCanonicalB64u(s)).toBe(roundTrips(s));
        if (isCanonicalB64u(s)) expect(b64uByteLength(s)).toBe(Buffer.from(s, 'base64url').byteLength);
      }),
      { numRuns: 2000 },
    );
    for (const s of ['AAAA=', 'AA==', 'AA AA', 'AA\nAA', 'ab+/', 'ab/c']) expect(isCanonicalB64u(s), s).toBe(false);
  });
});

describe('free text: characters are code points, never NUL, never a lone surrogate (§1.1)', () => {
  it('counts an astral character once, as JSON Schema maxLength does', () => {
    const two = freeText(0, 2);
    expect(two.safeParse('😀😀').success).toBe(true);
    expect(two.safeParse('😀😀😀').success).toBe(false);
    expect(two.safeParse('e\u0301e\u0301').success).toBe(false); // combining marks are code points of their own
    expect(CreateApiKeyBody.safeParse({ label: '🔑'.repeat(100), capabilities: ['read'] }).success).toBe(true);
    expect(CreateApiKeyBody.safeParse({ label: '🔑'.repeat(101), capabilities: ['read'] }).success).toBe(false);
  });

  /** Every free-text field of a client frame or REST body, with a valid object around it. */
  const FIELDS: Array<[string, z.ZodType, (text: string) => unknown]> = [
    ['set_summary.summary', CLIENT_FRAME_SCHEMAS.set_summary, (t) => ({ type: 'set_summary', summary: t })],
    ['list_peers.req_id', CLIENT_FRAME_SCHEMAS.list_peers, (t) => ({ type: 'list_peers', req_id: `r${t}` })],
    ['topic_send.text', CLIENT_FRAME_SCHEMAS.topic_send, (t) => ({ type: 'topic_send', id: 'abcdefgh', topic: 'general', text: `x${t}` })],
    ['PostTopicMessageBody.text', PostTopicMessageBody, (t) => ({ text: `x${t}` })],
    ['CreateTopicBody.description', CreateTopicBody, (t) => ({ name: 'ops', description: t })],
    ['CreateApiKeyBody.label', CreateApiKeyBody, (t) => ({ label: t, capabilities: ['read'] })],
    ['SearchQuery.q', SearchQuery, (t) => ({ q: `x${t}` })],
    ['CreateMeshBody.name', CreateMeshBody, (t) => ({ mesh_id: '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b', name: `m${t}`, owner_pubkey: 'a'.repeat(64), display_name: 'owner', ts: 1, sig: `${'S'.repeat(85)}Q` })],
    [
      'InvitePayload.mesh_name',
      InvitePayloadSchema,
      (t) => ({ v: 1, mesh_id: '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b', mesh_name: `m${t}`, broker_url: 'ws://h/ws', invite_id: 'abcdefgh', role: 'member', issuer: 'a'.repeat(64), created_at: 1, expires_at: 2, max_uses: 1 }),
    ],
  ];

  it.each(FIELDS)('%s takes astral and combining text, refuses NUL and lone surrogates', (_, schema, wrap) => {
    expect(schema.safeParse(wrap('Zoë 🚀')).success).toBe(true);
    for (const bad of ['\u0000', 'a\ud800', '\udfffz', '\ud83d']) expect(schema.safeParse(wrap(bad)).success, JSON.stringify(bad)).toBe(false);
  });

  it('refuses hello.client with a lone surrogate', () => {
    const hello = CLIENT_FRAME_SCHEMAS.hello.shape.client;
    expect(hello.safeParse('cli/1 ✓').success).toBe(true);
    expect(hello.safeParse('cli\ud800').success).toBe(false);
  });
});

describe('duplicate JSON keys (§3.3, §8)', () => {
  const dup = (text: string): boolean => hasDuplicateKeys(text, JSON.parse(text));

  it('finds a name given twice, however it is spelled and wherever it is nested', () => {
    expect(dup('{"a":1,"a":2}')).toBe(true);
    expect(dup('{"ab":1,"a\\u0062":2}')).toBe(true);
    expect(dup('{"x":[{"k":1},{"k":1,"k":2}]}')).toBe(true);
    expect(dup('{"__proto__":1,"__proto__":2}')).toBe(true);
    expect(dup('{"o":{"p":{"q":1,"q":1}}}')).toBe(true);
  });

  it('is not fooled by colons, quotes and backslashes inside strings', () => {
    expect(dup('{"a":"x:y:z","b":"::"}')).toBe(false);
    expect(dup('{"a":"\\":\\"","b":2}')).toBe(false);
    expect(dup('{"a\\\\":1,"b":"\\\\"}')).toBe(false);
    expect(dup('{"a":{"b":1},"b":{"a":2}}')).toBe(false);
    expect(dup('[1,"a:b",{"c":null}]')).toBe(false);
  });

  it('finds none in any JSON that JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
        expect(dup(JSON.stringify(value))).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('the Authorization header (§8.1)', () => {
  const sig = `${'A'.repeat(85)}Q`;
  it('matches the scheme in any case, after one or more spaces', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) expect(authorizationCredentials(`${scheme} cmk_x`, 'Bearer')).toBe('cmk_x');
    expect(authorizationCredentials('Bearer   cmk_x', 'Bearer')).toBe('cmk_x');
    expect(authorizationCredentials('Bearercmk_x', 'Bearer')).toBeNull();
    expect(authorizationCredentials('Basic cmk_x', 'Bearer')).toBeNull();
    expect(authorizationCredentials(undefined, 'Bearer')).toBeNull();
  });

  it('reads a signed-request header with the scheme and names in any case and the pairs in any order', () => {
    const expected = { pubkey: 'a'.repeat(64), ts: 5, sig };
    expect(parseSignedRequestAuth(`claudemesh-sig pubkey=${'a'.repeat(64)},ts=5,sig=${sig}`)).toEqual(expected);
    expect(parseSignedRequestAuth(`CLAUDEMESH-SIG SIG=${sig}, TS=5, PubKey=${'a'.repeat(64)}`)).toEqual(expected);
  });

  it('refuses a parameter given twice and a non-canonical signature', () => {
    expect(parseSignedRequestAuth(`Claudemesh-Sig pubkey=${'a'.repeat(64)},ts=5,ts=6,sig=${sig}`)).toBeNull();
    expect(parseSignedRequestAuth(`Claudemesh-Sig pubkey=${'a'.repeat(64)},TS=5,ts=5,sig=${sig}`)).toBeNull();
    expect(parseSignedRequestAuth(`Claudemesh-Sig pubkey=${'a'.repeat(64)},ts=5,sig=${'A'.repeat(85)}B`)).toBeNull();
  });
});

describe('a v1 invite whose mesh id is not a UUID (§9.1)', () => {
  it('is refused by the SDK with E_INVITE_INVALID before its broker is contacted', async () => {
    await cryptoReady();
    const issuer = generateIdentity();
    // The signature layer takes any mesh id (its vectors use `mesh_local`); the wire does not.
    const invite = createInvite({ meshId: 'mesh_local', meshName: 'local', brokerUrl: 'http://127.0.0.1:9', issuer });
    expect(checkInvite(invite, Date.now())).toEqual({ ok: true });
    // Port 9 answers nothing: a request would fail as a network error, not E_INVITE_INVALID.
    await expect(joinMesh('http://127.0.0.1:9', { invite, identity: generateIdentity(), displayName: 'dave' })).rejects.toMatchObject({
      code: 'E_INVITE_INVALID',
      message: expect.stringMatching(/payload\.mesh_id/),
    });
  });
});
