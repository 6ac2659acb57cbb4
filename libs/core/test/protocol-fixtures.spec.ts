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

  const invalid = readdirSync(join(root, 'invalid')).map((file) => ({ name: file, ...(JSON.parse(readFileSync(join(root, 'invalid', file), 'utf8')) as { raw: string; code: string }) }));
  it.each(invalid.map((f) => [f.name, f] as const))('answers invalid frame %s with its stable code', (_, f) => {
    expect(decodeClientFrame(f.raw)).toMatchObject({ ok: false, code: f.code, message: expect.any(String) });
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
