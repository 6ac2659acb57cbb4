import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_FRAME_SCHEMAS,
  CreateMeshBody,
  ERROR_CODES,
  JoinBody,
  RenameMemberBody,
  SERVER_FRAME_SCHEMAS,
  SignedInviteBody,
  decodeClientFrame,
  decodeServerFrame,
} from '../src/index.js';
import * as core from '../src/index.js';
import type { z } from 'zod';

const root = fileURLToPath(new URL('./fixtures/v1/', import.meta.url));
const docs = readFileSync(fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url)), 'utf8');

function fixtures(dir: string): Array<{ type: string; name: string; value: unknown }> {
  return readdirSync(join(root, dir)).flatMap((type) =>
    readdirSync(join(root, dir, type)).map((file) => ({ type, name: file.replace(/\.json$/, ''), value: JSON.parse(readFileSync(join(root, dir, type, file), 'utf8')) as unknown })),
  );
}

describe('protocol v1 golden fixtures', () => {
  const client = fixtures('client');
  const server = fixtures('server');

  it('has at least one fixture for every frame type in each direction', () => {
    expect(new Set(client.map((f) => f.type))).toEqual(new Set(Object.keys(CLIENT_FRAME_SCHEMAS)));
    expect(new Set(server.map((f) => f.type))).toEqual(new Set(Object.keys(SERVER_FRAME_SCHEMAS)));
  });

  it.each(client.map((f) => [`${f.type}/${f.name}`, f] as const))('decodes client frame %s losslessly', (_, f) => {
    const decoded = decodeClientFrame(JSON.stringify(f.value));
    expect(decoded).toEqual({ ok: true, frame: f.value });
  });

  it.each(server.map((f) => [`${f.type}/${f.name}`, f] as const))('decodes server frame %s losslessly', (_, f) => {
    const decoded = decodeServerFrame(JSON.stringify(f.value));
    expect(decoded).toEqual({ ok: true, frame: f.value });
  });

  it('refuses a client frame when it is sent by the broker and vice versa', () => {
    expect(decodeServerFrame(JSON.stringify(client.find((f) => f.type === 'send')!.value))).toMatchObject({ ok: false, code: 'E_UNKNOWN_TYPE' });
    expect(decodeClientFrame(JSON.stringify(server.find((f) => f.type === 'push')!.value))).toMatchObject({ ok: false, code: 'E_UNKNOWN_TYPE' });
  });

  // `raw` is a text frame; `bytes_hex` a binary frame, for bytes a JSON string cannot hold (invalid UTF-8).
  const invalid = readdirSync(join(root, 'invalid')).map((file) => ({ name: file, ...(JSON.parse(readFileSync(join(root, 'invalid', file), 'utf8')) as { raw?: string; bytes_hex?: string; code: string }) }));
  it.each(invalid.map((f) => [f.name, f] as const))('answers invalid frame %s with its stable code', (_, f) => {
    const frame = f.bytes_hex !== undefined ? new Uint8Array(Buffer.from(f.bytes_hex, 'hex')) : f.raw!;
    expect(decodeClientFrame(frame)).toMatchObject({ ok: false, code: f.code, message: expect.any(String) });
  });

  it('decodes a binary frame exactly like the text frame holding the same UTF-8', () => {
    for (const f of client) {
      const text = JSON.stringify(f.value);
      expect(decodeClientFrame(new Uint8Array(Buffer.from(text, 'utf8')))).toEqual(decodeClientFrame(text));
    }
  });

  it('names the offending field in the message of a non-canonical base64url value', () => {
    const send = { type: 'send', id: 'abcdefgh', to: 'bob', nonce: 'A'.repeat(32) };
    expect(decodeClientFrame(JSON.stringify({ ...send, ciphertext: `${'A'.repeat(21)}B` }))).toMatchObject({ ok: false, code: 'E_SCHEMA', ref: 'abcdefgh', message: expect.stringMatching(/^ciphertext: .*canonical/) });
    expect(decodeClientFrame(JSON.stringify({ ...send, nonce: `${'A'.repeat(31)}=`, ciphertext: 'A'.repeat(22) }))).toMatchObject({ ok: false, code: 'E_SCHEMA', message: expect.stringMatching(/^nonce: /) });
  });

  it('refuses a frame larger than the limit before parsing it', () => {
    expect(decodeClientFrame('x'.repeat(256 * 1024 + 1))).toMatchObject({ ok: false, code: 'E_TOO_LARGE' });
  });

  it.each([
    ['CreateMeshBody', CreateMeshBody],
    ['SignedInviteBody', SignedInviteBody],
    ['JoinBody', JoinBody],
    ['RenameMemberBody', RenameMemberBody],
  ] as const)('parses the REST body fixture %s losslessly', (name, schema) => {
    for (const file of readdirSync(join(root, 'rest', name))) {
      const value = JSON.parse(readFileSync(join(root, 'rest', name, file), 'utf8')) as unknown;
      expect(schema.parse(value)).toEqual(value);
    }
  });

  // rest-invalid/<schema>/<case>.json: { field, body } — the body is refused and the issue names the field.
  const refused = readdirSync(join(root, 'rest-invalid')).flatMap((schema) =>
    readdirSync(join(root, 'rest-invalid', schema)).map((file) => ({ schema, file, ...(JSON.parse(readFileSync(join(root, 'rest-invalid', schema, file), 'utf8')) as { field: string; body: unknown }) })),
  );
  it.each(refused.map((f) => [`${f.schema}/${f.file}`, f] as const))('refuses the REST body %s, naming its field', (_, f) => {
    const schema = (core as unknown as Record<string, z.ZodType | undefined>)[f.schema];
    expect(schema, `libs/core exports no schema ${f.schema}`).toBeDefined();
    const parsed = schema!.safeParse(f.body);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toContain(f.field);
  });
});

describe('the frozen error-code table', () => {
  it('matches the committed table exactly: codes are never renamed, re-purposed or dropped', () => {
    const frozen = JSON.parse(readFileSync(join(root, 'error-codes.json'), 'utf8')) as Record<string, { http: number; fatal: boolean }>;
    const current = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, e]) => [code, { http: e.http, fatal: e.fatal }]));
    expect(current).toEqual(frozen);
    expect(Object.isFrozen(ERROR_CODES)).toBe(true);
  });
});

describe('docs/protocol.md, the spec', () => {
  it('documents every frame type and every error code', () => {
    for (const type of [...Object.keys(CLIENT_FRAME_SCHEMAS), ...Object.keys(SERVER_FRAME_SCHEMAS)]) expect(docs, `frame ${type}`).toContain(`\`${type}\``);
    for (const code of Object.keys(ERROR_CODES)) expect(docs, `code ${code}`).toContain(`\`${code}\``);
  });
});
