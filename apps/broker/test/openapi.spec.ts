import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';

const root = new URL('../../../', import.meta.url);
const REGENERATE = 'npm run openapi';

interface Operation {
  description?: string;
  security?: Array<Record<string, unknown>>;
  responses: Record<string, unknown>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme?: string }> };
}

/** `GET /topics/:name` and `/api/v1/topics/{name}` alike become `GET /api/v1/topics/{}`. */
const normalize = (method: string, path: string) => `${method.toUpperCase()} ${path.split('?')[0]!.replace(/:[a-z_]+|\{[A-Za-z_]+\}/g, '{}')}`;

/** The routes docs/topics.md promises: the bearer table (with what each needs) and the signed routes. */
function contract(): { bearer: Map<string, string>; signed: Set<string> } {
  const text = readFileSync(new URL('docs/topics.md', root), 'utf8');
  const table = text.slice(text.indexOf('| method & path | needs |'), text.indexOf('Signed member routes'));
  const bearer = new Map<string, string>();
  for (const line of table.split('\n').slice(2)) {
    const [, routes, needs] = line.split('|').map((c) => c.trim());
    if (!routes || !needs) continue;
    for (const [, method, path] of routes.matchAll(/`(GET|POST|PATCH|DELETE) ([^`]+)`/g)) bearer.set(normalize(method!, `/api/v1${path}`), needs);
  }
  const paragraph = text.slice(text.indexOf('Signed member routes'), text.indexOf('OpenAPI:'));
  const signed = new Set([...paragraph.matchAll(/`(GET|POST|PATCH|DELETE) ([^`]+)`/g)].map(([, method, path]) => normalize(method!, path!)));
  return { bearer, signed };
}

/** The OpenAPI document: served live, committed as docs/openapi.json, and in step with docs/topics.md. */
describe('OpenAPI document', () => {
  let tb: TestBroker;
  let live: Document;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    const res = await fetch(`${tb.url}/api/openapi.json`);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    live = (await res.json()) as Document;
  });
  afterAll(async () => tb?.close());

  it(`matches the committed docs/openapi.json (regenerate it: ${REGENERATE})`, () => {
    const committed = JSON.parse(readFileSync(new URL('docs/openapi.json', root), 'utf8')) as Document;
    expect(live, `docs/openapi.json differs from the live GET /api/openapi.json: run \`${REGENERATE}\` and commit the result`).toEqual(committed);
  });

  it('documents exactly the routes of docs/topics.md, each with the capability or signature it needs', () => {
    const { bearer, signed } = contract();
    expect(bearer.size).toBeGreaterThan(20);
    const documented = new Map<string, Operation>();
    for (const [path, ops] of Object.entries(live.paths)) for (const [method, op] of Object.entries(ops)) documented.set(normalize(method, path), op);
    expect([...documented.keys()].sort()).toEqual([...bearer.keys(), ...signed].sort());
    for (const [route, needs] of bearer) {
      const op = documented.get(route)!;
      expect(op.security, route).toEqual([{ bearer: [] }]);
      expect(op.description, route).toContain(`\`${needs}\` capability`);
      expect(Object.keys(op.responses), route).toEqual(expect.arrayContaining(['401', '403']));
    }
    for (const route of signed) expect(documented.get(route)!.security, route).toEqual([{ 'claudemesh-sig': [] }]);
    expect(live.components.securitySchemes['bearer']).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('takes its schemas from zod: every reference resolves, request objects are closed', () => {
    const refs = [...JSON.stringify(live).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(50);
    for (const name of new Set(refs)) expect(live.components.schemas, name).toHaveProperty(name);
    expect(live.components.schemas['CreateTopicBody']).toMatchObject({ additionalProperties: false, required: ['name'], properties: { name: { pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' } } });
    expect(live.components.schemas['TopicMessage']).not.toHaveProperty('additionalProperties');
  });

  it('serves Swagger UI at /api/docs; the other routes still answer and are left out on purpose', async () => {
    const ui = await fetch(`${tb.url}/api/docs`);
    expect([ui.status, await ui.text()]).toEqual([200, expect.stringContaining('swagger-ui')]);
    const mesh = await createTestMesh(tb, 'still-here');
    expect((await fetch(`${tb.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${tb.url}/join`)).status).toBe(200);
    const unsigned = await fetch(`${tb.url}/api/v1/meshes/${mesh.meshId}/members`);
    expect([unsigned.status, ((await unsigned.json()) as { error: { code: string } }).error.code]).toEqual([401, 'E_UNAUTHORIZED']);
    // The document covers the topic and API-key surface; meshes and invites are specified in docs/protocol.md.
    for (const path of ['/healthz', '/readyz', '/join', '/api/v1/join', '/api/v1/meshes', '/api/v1/meshes/{meshId}/members', '/api/v1/meshes/{meshId}/invites']) {
      expect(live.paths, path).not.toHaveProperty([path]);
    }
  });
});
