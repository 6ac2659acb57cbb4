/**
 * REST fuzzing, the generators of the signed and public routes: requests for every route (bodies
 * from rest-bodies.ts, garbage auth headers, bad path parameters, odd content types), properly signed
 * requests for the paths past authentication (rest-recipe-cases.ts), and raw HTTP garbage (unknown
 * methods, bytes the parser refuses). The bearer routes are rest-bearer-cases.ts.
 */
import fc from 'fast-check';
import { type RestExpectation } from './oracle.js';
import { CONTENT_TYPES, bodyArb, contentTypeArb } from './rest-bodies.js';
import { JSON_CT, MAX_BODY_BYTES, routePath, type AuthSpec, type BodySpec, type RestCase, type RouteName, type RouteParams, type Signer, type Tamper } from './rest-model.js';
import { recipeCase } from './rest-recipe-cases.js';

export { mutatedBody } from './rest-bodies.js';
// ---------------------------------------------------------------------------------------------
// Templates (fixture-shaped placeholders: schema-valid, signatures that do not verify)

const SIG = `${'S'.repeat(85)}Q`;
/** The REST lane's short invites wrap this key; the fuzzer never opens group traffic. */
export const FUZZ_MESH_KEY = new Uint8Array(32).fill(0x5a);
const HEX = (c: string): string => c.repeat(64);

function invitePayload(meshId: string): Record<string, unknown> {
  return {
    v: 1,
    mesh_id: meshId,
    mesh_name: 'platform team',
    broker_url: 'http://127.0.0.1:7900',
    invite_id: 'aW52aXRlLWlkLTAx',
    role: 'member',
    issuer: HEX('a'),
    created_at: 1767139200000,
    expires_at: 1767744000000,
    max_uses: 10,
  };
}

export function templates(meshId: string): Record<'create' | 'join' | 'register' | 'register-v2' | 'resolve-v2' | 'claim-v2', Record<string, unknown>> {
  return {
    create: {
      mesh_id: '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b',
      name: 'platform team',
      owner_pubkey: HEX('a'),
      display_name: 'owner',
      peer_type: 'human',
      ts: 1767139200000,
      sig: SIG,
    },
    join: { invite: { payload: invitePayload(meshId), sig: SIG }, member_pubkey: HEX('d'), display_name: 'dave', peer_type: 'ai', ts: 1767139200000, sig: SIG },
    register: { payload: invitePayload(meshId), sig: SIG },
    'register-v2': {
      mesh_id: meshId,
      invite_id: 'aW52aXRlLWlkLTAy',
      lookup: 'L'.repeat(42) + 'A',
      wrapped_mesh_key: 'W'.repeat(298),
      role: 'member',
      max_uses: 10,
      expires_at: 1767744000000,
      issuer: HEX('a'),
      sig: SIG,
    },
    'resolve-v2': { lookup: 'L'.repeat(42) + 'A' },
    'claim-v2': { lookup: 'L'.repeat(42) + 'A', member_pubkey: HEX('d'), x25519_pubkey: 'X'.repeat(42) + 'A', display_name: 'dave', peer_type: 'ai', ts: 1767139200000, sig: SIG },
  };
}

// ---------------------------------------------------------------------------------------------
// Generators


/** Authorization headers that are not a valid `Claudemesh-Sig` (§8.1), or are valid in form only. */
function garbageHeader(): fc.Arbitrary<Extract<AuthSpec, { kind: 'header' }>> {
  const pk = HEX('a');
  const sig = 'A'.repeat(86);
  const malformed = [
    '',
    'Claudemesh-Sig',
    'Claudemesh-Sig ',
    'Claudemesh-Sigpubkey={owner},ts={now},sig=' + sig,
    `Claudemesh-Sig pubkey=${pk.toUpperCase()},ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk.slice(1)},ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts={now}`,
    `Claudemesh-Sig pubkey=${pk},sig=${sig}`,
    `Claudemesh-Sig ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=abc,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=-5,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=1.5,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts={now},sig=${sig.slice(1)}`,
    `Claudemesh-Sig pubkey=${pk},ts={now},sig=${sig.slice(2)}==`,
    `Claudemesh-Sig pubkey=${pk};ts={now};sig=${sig}`,
    `Bearer ${sig}`,
    `Basic dXNlcjpwYXNz`,
    `Claudemesh-Sig pubkey=${pk},ts=9007199254740993,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=0x10,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=1e3,sig=${sig}`,
    // §1.1: a signature spelled non-canonically, a parameter given twice (§8.1).
    `Claudemesh-Sig pubkey=${pk},ts={now},sig=${sig.slice(0, -1)}B`,
    `Claudemesh-Sig pubkey=${pk},ts={now},ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},TS={now},ts={now},sig=${sig}`,
  ];
  const stale = [`Claudemesh-Sig pubkey=${pk},ts=0,sig=${sig}`, `Claudemesh-Sig pubkey=${pk},ts=1,sig=${sig}`, `Claudemesh-Sig pubkey=${pk},ts=8640000000000000,sig=${sig}`];
  // Well formed, with a signature that does not verify; the scheme and names in any case (§8.1).
  const badSig = [
    `Claudemesh-Sig pubkey=${pk},ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey={owner},ts={now},sig=${sig}`,
    `Claudemesh-Sig sig=${sig},ts={now},pubkey={owner}`,
    `claudemesh-sig pubkey={owner},ts={now},sig=${sig}`,
    `CLAUDEMESH-SIG PUBKEY={owner},Ts={now},SIG=${sig}`,
  ];
  const lenient = [
    `Claudemesh-Sig  pubkey={owner},ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey={owner}, ts={now}, sig=${sig}`,
    `Claudemesh-Sig pubkey={owner},ts={now},sig=${sig},`,
  ];
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...malformed).map((value) => ({ kind: 'header' as const, value, verdict: 'malformed' as const })) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((value) => ({ kind: 'header' as const, value: value.trim(), verdict: 'malformed' as const })),
    },
    { weight: 1, arbitrary: fc.constantFrom(...stale).map((value) => ({ kind: 'header' as const, value, verdict: 'stale' as const })) },
    { weight: 2, arbitrary: fc.constantFrom(...badSig).map((value) => ({ kind: 'header' as const, value, verdict: 'bad-signature' as const })) },
    { weight: 1, arbitrary: fc.constantFrom(...lenient).map((value) => ({ kind: 'header' as const, value, verdict: 'lenient' as const })) },
  );
}

function authArb(weights: { signed: number }): fc.Arbitrary<AuthSpec> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<AuthSpec>({ kind: 'none' }) },
    { weight: 4, arbitrary: garbageHeader() },
    // (Trailing spaces are not garbage: HTTP strips them from header values.)
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('Bearer ', 'Bearer x', 'bearer x{admin}', 'Bearer{admin}', 'Bearer {admin}x', 'Basic {admin}')
        .map((value): AuthSpec => ({ kind: 'bearer', admin: false, value })),
    },
    {
      weight: weights.signed,
      arbitrary: fc
        .record({
          as: fc.constantFrom<Signer>('owner', 'member', 'stranger'),
          tamper: fc.constantFrom<Tamper>('none', 'none', 'none', 'sig', 'stale', 'future', 'path', 'body', 'method', 'pubkey'),
        })
        .map((s): AuthSpec => ({ kind: 'signed', ...s })),
    },
  );
}

const paramJunk = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      'x',
      '..',
      '.',
      '%',
      '%2F',
      'a/b',
      ' ',
      'null',
      'undefined',
      '__proto__',
      'constructor',
      '0',
      '-1',
      'a'.repeat(101),
      'A'.repeat(64),
      'a'.repeat(63),
      '\u0000',
      '🚀',
      'é',
    ),
    fc.uuid().map((u) => u.toUpperCase()),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
  );



const ROUTES: RouteName[] = [
  'create',
  'join',
  'members',
  'list-invites',
  'register',
  'revoke-member',
  'revoke-invite',
  'register-v2',
  'revoke-invite-v2',
  'resolve-v2',
  'claim-v2',
];
/** Routes that carry no Authorization: the body is the credential (§8.2, §9b). */
const UNSIGNED_ROUTES: RouteName[] = ['join', 'resolve-v2', 'claim-v2'];

/** A request to a known route with generated auth, parameters and body. */
function routeCase(meshId: string): fc.Arbitrary<RestCase> {
  const t = templates(meshId);
  // One arbitrary per route, built once (building fast-check string arbitraries is the costly part).
  const perRoute = new Map(ROUTES.map((r) => [r, oneRoute(r, t)]));
  return fc.constantFrom(...ROUTES).chain((r) => perRoute.get(r)!);
}

function oneRoute(r: RouteName, t: ReturnType<typeof templates>): fc.Arbitrary<RestCase> {
  {
    const template = r === 'create' || r === 'join' || r === 'register' || r === 'register-v2' || r === 'resolve-v2' || r === 'claim-v2' ? t[r] : null;
    const meshParam = fc.oneof({ weight: 6, arbitrary: fc.constant('{mesh}') }, { weight: 1, arbitrary: fc.uuid() }, { weight: 2, arbitrary: paramJunk() });
    const pubkeyParam = fc.oneof(fc.constant('{owner}'), chars64(), paramJunk());
    const inviteParam = fc.oneof(fc.constantFrom('aW52aXRlLWlkLTAx', 'unknown-invite-01'), paramJunk());
    const auth: fc.Arbitrary<AuthSpec> =
      r === 'create'
        ? fc.oneof(
            // The admin token, the scheme in any case and after any number of spaces (§8.1).
            { weight: 3, arbitrary: fc.constantFrom('', 'bearer {admin}', 'BEARER  {admin}').map((value): AuthSpec => ({ kind: 'bearer', admin: true, value })) },
            { weight: 1, arbitrary: authArb({ signed: 0 }) },
          )
        : UNSIGNED_ROUTES.includes(r)
          ? fc.oneof(fc.constant<AuthSpec>({ kind: 'none' }), authArb({ signed: 1 }))
          : authArb({ signed: 6 });
    const isPost = r !== 'members' && r !== 'list-invites';
    const body = isPost ? bodyArb(template) : fc.constant({ body: { kind: 'none' } as BodySpec, label: 'no-body' });
    const query = fc.oneof(
      { weight: 6, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constantFrom('?', '?x=1', '?a=%ZZ', '?__proto__[x]=1', '?&&&', `?${'q'.repeat(500)}`) },
    );
    return fc
      .record({ meshId: meshParam, pubkey: pubkeyParam, inviteId: inviteParam, auth, body, query, ct: isPost ? contentTypeArb() : fc.constant(null) })
      .map(({ meshId: m, pubkey, inviteId, auth: a, body: b, query: q, ct }): RestCase => {
        const params: RouteParams =
          r === 'create' || UNSIGNED_ROUTES.includes(r)
            ? {}
            : { meshId: m, ...(r === 'revoke-member' ? { pubkey } : {}), ...(r === 'revoke-invite' || r === 'revoke-invite-v2' ? { inviteId } : {}) };
        const { method, path } = routePath(r, params);
        return {
          label: `rest/${r}:${a.kind}${a.kind === 'signed' ? `-${a.as}-${a.tamper}` : ''}/${b.label}`,
          method,
          path,
          route: r,
          params,
          query: q,
          contentType: b.body.kind === 'none' && isPost && ct === JSON_CT ? null : ct,
          auth: a,
          body: b.body,
        };
      });
  }
}

const chars64 = (): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });

/** Paths, methods, content types and raw requests that match no route or break HTTP itself. */
function garbageCase(): fc.Arbitrary<RestCase> {
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'SEARCH', 'LOCK', 'MKCOL'];
  const paths = fc.oneof(
    fc.constantFrom(
      '/',
      '/api',
      '/api/v1',
      '/api/v1/',
      '/api/v1/meshes/',
      '/api/v2/join',
      '//api/v1/join',
      '/api/v1/join/',
      '/API/V1/JOIN',
      '/api/v1/../../healthz',
      '/api/v1/meshes/{mesh}',
      '/api/v1/meshes/{mesh}/members/',
      '/api/v1/meshes/{mesh}/members/{owner}',
      '/api/v1/meshes/%ZZ/members',
      '/api/v1/meshes/%F0%9F/members',
      '/api/v1/meshes/%00/members',
      '/api/v1/meshes/{mesh}/invites/%E0%A4%A/revoke',
      '/ws',
      '/ws/x',
      '/healthz/',
      '/healthz?x',
      '/readyz?%ZZ',
      '/join?x=1',
      '/join#frag',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/api/v1/meshes/{mesh}/members?__proto__[polluted]=1',
      '/\u00ff\u00fe',
      `/${'a'.repeat(4000)}`,
      '/api/v1/meshes/' + 'x'.repeat(150) + '/members',
    ),
    fc.webPath().map((p) => p || '/'),
    fc.webUrl({ withQueryParameters: true, withFragments: true }).map((u) => new URL(u).pathname + new URL(u).search),
  );
  const raws = fc.constantFrom(
    'FOO /api/v1/join HTTP/1.1\r\nHost: x\r\n\r\n',
    'get /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /\u00ff\u00fe HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n',
    'POST /api/v1/join HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    'POST /api/v1/join HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}',
    'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\u0000b\r\n\r\n',
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    'GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003\r\n\r\n',
    'GET /healthz\r\n\r\n',
  );
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ method: fc.constantFrom(...methods), path: paths, ct: fc.constantFrom<string | null>(null, ...CONTENT_TYPES), body: bodyArb(null), auth: authArb({ signed: 0 }) })
        // HEAD cannot carry a path the HTTP parser refuses: the error answer's body would look like a second response.
        .map(({ method: m, path, ct, body, auth }) => ({ method: m === 'HEAD' && /[^\x21-\x7e]/.test(path) ? 'GET' : m, path, ct, body, auth }))
        .map(({ method, path, ct, body, auth }): RestCase => ({
          label: `rest/garbage:${method}`,
          method,
          path,
          contentType: method === 'GET' || method === 'HEAD' ? null : ct,
          auth,
          body: method === 'GET' || method === 'HEAD' ? { kind: 'none' } : body.body,
          // Any path may happen to be a public GET route.
          expect: method === 'GET' || method === 'HEAD' ? publicGetExpectation(path) : {},
        })),
    },
    // A lenient HTTP parser may accept some of these as GET /healthz.
    {
      weight: 1,
      arbitrary: raws.map((raw): RestCase => ({
        label: 'rest/raw-http',
        method: 'RAW',
        path: '',
        contentType: null,
        auth: { kind: 'none' },
        body: { kind: 'none' },
        raw,
        expect: { success: [200] },
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom('/healthz', '/readyz', '/join', '/i/ABCD-EFGH-JKMN-PQRS').chain((path) =>
        fc.constantFrom('GET', 'HEAD').map((method): RestCase => ({
          label: `rest/health:${method} ${path}`,
          method,
          path,
          contentType: null,
          auth: { kind: 'none' },
          body: { kind: 'none' },
          // §8.2: /readyz answers 503 when the database does not answer within 2 s, as under this load.
          expect: path === '/readyz' ? { success: [200], status: [503] } : { success: [200] },
        })),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<RouteName>('join', 'create', 'register', 'register-v2', 'claim-v2').chain((r) =>
        fc.integer({ min: 1, max: 300_000 }).map((extra): RestCase => {
          const { method, path } = routePath(r, { meshId: '{mesh}' });
          return {
            label: `rest/oversize:${r}`,
            method,
            path,
            route: r,
            params: { meshId: '{mesh}' },
            contentType: JSON_CT,
            auth: r === 'create' ? { kind: 'bearer', admin: true, value: '' } : { kind: 'none' },
            body: { kind: 'oversize', size: MAX_BODY_BYTES + extra },
          };
        }),
      ),
    },
  );
}

/**
 * GET/HEAD on a public page answers 200. `/i/<anything>` is the short-link landing page (§9b): served
 * for any segment, refused only by the router (a bad percent-encoding or an over-long parameter).
 */
function publicGetExpectation(path: string): RestExpectation {
  if (/^\/(healthz|readyz|join)?([?#]|$)/.test(path)) return { success: [200] };
  if (/^\/i\/[^/?#]+([?#]|$)/.test(path)) return { success: [200], codes: ['E_SCHEMA'] };
  return {};
}

export interface RestMix {
  route: number;
  garbage: number;
  recipe: number;
}

export const DEFAULT_REST_MIX: RestMix = { route: 12, garbage: 5, recipe: 3 };

export function restCase(meshId: string, mix: RestMix = DEFAULT_REST_MIX): fc.Arbitrary<RestCase> {
  return fc.oneof({ weight: mix.route, arbitrary: routeCase(meshId) }, { weight: mix.garbage, arbitrary: garbageCase() }, { weight: mix.recipe, arbitrary: recipeCase() });
}

