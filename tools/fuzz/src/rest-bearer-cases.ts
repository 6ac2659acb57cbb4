/**
 * REST fuzzing of the bearer surface, the generators: for every route of the OpenAPI document
 * (rest-bearer-routes.ts) requests with each fixture key (wrong capability, another mesh, a topic
 * scope, revoked) or a garbage Authorization, path parameters from the fixture topics to junk,
 * queries built from the route's query schema and mutated, and bodies valid per the zod schema,
 * mutated (rest-bodies.ts) or above the body limit.
 */
import fc from 'fast-check';
import { NASTY_STRINGS } from './frames.js';
import { wireText } from './json-text.js';
import { bodyArb } from './rest-bodies.js';
import type { BearerRoute } from './rest-bearer-routes.js';
import { JSON_CT, MAX_BODY_BYTES, type BodySpec } from './rest-model.js';

/** The fuzzer's fixture keys (rest-bearer.ts creates them); what each may do is in rest-bearer-model.ts. */
export const KEY_NAMES = ['full', 'read', 'send', 'scoped', 'other', 'admin', 'revoked'] as const;
export type KeyName = (typeof KEY_NAMES)[number];

/** Fixture topics of the REST mesh; `zz-` names never exist, `fzt-` names may (fuzzed creates). */
export const TOPICS = { general: 'general', private: 'fz-private', scoped: 'fz-scoped' } as const;
export const UNKNOWN_TOPIC_PREFIX = 'zz-nope-';
/** A key id nobody holds, and the placeholder for the id of the sacrificial (revoked) key. */
export const SACRIFICIAL_KEY_ID = '{sacrificial}';

export type BearerAuth =
  | { kind: 'none' }
  /** A fixture key; `spaced` writes `Bearer  <key>` (the broker trims the token); `scheme` spells `Bearer` (any case, §8.1). */
  | { kind: 'key'; key: KeyName; spaced: boolean; scheme: string }
  /** Never a valid key: `{full}` becomes the full key, `{fullid}` its id. */
  | { kind: 'garbage'; value: string };

/** A path parameter as the handler sees it (decoded), or a raw segment the router must refuse. */
export type ParamValue = { decoded: string } | { raw: string };

export type QuerySpec = { kind: 'pairs'; pairs: Array<[string, string]> } | { kind: 'raw'; text: string };

export interface BearerCase {
  label: string;
  route: BearerRoute;
  params: Record<string, ParamValue>;
  query: QuerySpec;
  auth: BearerAuth;
  body: BodySpec;
  contentType: string | null;
  lastEventId?: string;
}

const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const urlSafe = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'), minLength: min, maxLength: max });

/** Topic names: the fixtures, unknown and fuzz-created ones, and names the schema refuses. */
export const topicNameArb = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(TOPICS.general, TOPICS.general, TOPICS.private, TOPICS.scoped) },
    { weight: 2, arbitrary: hex(8).map((h) => `${UNKNOWN_TOPIC_PREFIX}${h}`) },
    { weight: 1, arbitrary: hex(3).map((h) => `fzt-${h}`) },
    {
      weight: 2,
      arbitrary: fc.constantFrom('General', 'GENERAL', '-x', '_x', '..', '.', '🚀', 'é', 'a b', 'a'.repeat(64), 'a'.repeat(65), 'a'.repeat(100), 'é'.repeat(60), '#general', '0', 'x\u0000'),
    },
  );

const paramArb = (name: string): fc.Arbitrary<ParamValue> => {
  if (name === 'epoch') {
    return fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }).map((n) => ({ decoded: String(n) })) },
      { weight: 2, arbitrary: fc.constantFrom('0', '-1', '1.5', 'x', '2147483647', '2147483648', '01', '').map((decoded) => ({ decoded })) },
      { weight: 1, arbitrary: fc.constantFrom('%', '%ZZ').map((raw) => ({ raw })) },
    );
  }
  if (name === 'id') {
    return fc.oneof(
      { weight: 3, arbitrary: hex(16).map((decoded) => ({ decoded })) },
      { weight: 2, arbitrary: fc.constant({ decoded: SACRIFICIAL_KEY_ID }) },
      { weight: 2, arbitrary: fc.constantFrom('ABCDEF0123456789', 'abc', 'a'.repeat(17), '..', '🚀').map((decoded) => ({ decoded })) },
      { weight: 1, arbitrary: fc.constantFrom('%', '%ZZ', '%E0%A4%A', 'a'.repeat(101)).map((raw) => ({ raw })) },
    );
  }
  return fc.oneof(
    { weight: 12, arbitrary: topicNameArb().map((decoded) => ({ decoded })) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%ZZ', '%F0%9F', 'b'.repeat(101), '%C3%A9'.repeat(101)).map((raw) => ({ raw })) },
  );
};

/** Topic message ids: small, at and above the bigint range the schema still admits, and refused ones. */
export const messageIdArb = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 5000 }).map(String) },
    { weight: 2, arbitrary: fc.constantFrom('9223372036854775807', '9223372036854775808', '9999999999999999999') },
    { weight: 1, arbitrary: fc.constantFrom('0', '-1', '01', '1.5', '99999999999999999999', 'abc', '') },
  );

const textArb = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }),
    fc.constantFrom('hello @owner', 'ping @member and @nobody', 'a@b', '@owner', 'x'.repeat(16_000), 'x'.repeat(16_001), '', ...NASTY_STRINGS),
  );

const memberSelectorArb = (): fc.Arbitrary<string> => fc.oneof(fc.constantFrom('owner', 'member', '{owner}', '{member}', 'zz-nobody'), hex(64), fc.constantFrom(...NASTY_STRINGS));

const b64 = (bytes: number): string => 'A'.repeat(Math.ceil((bytes * 4) / 3));
const keyArb = (): fc.Arbitrary<string> => fc.oneof(fc.constantFrom('{owner}', '{member}'), hex(64));

/** A body_version 2 post: well formed, never validly signed (the model expects E_TOPIC_MODE on the plaintext fixtures). */
const sealedPostArb = (): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    {
      body_version: fc.constantFrom(2, 2, 3),
      client_id: fc.oneof(urlSafe(8, 64), fc.constantFrom('short')),
      key_epoch: fc.constantFrom(1, 2, 0),
      nonce: fc.constantFrom(b64(24), b64(23)),
      ciphertext: fc.constantFrom(b64(18), b64(40), ''),
      sig: fc.constantFrom(b64(64), 'A'),
      mentions: fc.option(fc.array(keyArb(), { maxLength: 2 }), { nil: undefined }),
      reply_to: fc.option(messageIdArb(), { nil: undefined, freq: 1 }),
      text: fc.option(fc.constant('sealed and text'), { nil: undefined, freq: 4 }),
    },
    { requiredKeys: ['body_version', 'key_epoch', 'nonce', 'ciphertext', 'sig'] },
  );

/** A manifest shaped as epoch_publish wants it, signed by nobody: refused after the topic, by creator, chain or signature. */
const signedManifestArb = (): fc.Arbitrary<Record<string, unknown>> =>
  fc.record({
    manifest: fc.record({
      v: fc.constantFrom(1, 2),
      mesh_id: fc.oneof(fc.uuid(), fc.constant('')),
      scope: fc.oneof(topicNameArb().map((t) => `topic:${t}`), fc.constantFrom('mesh', 'topic:general', 'nope')),
      epoch: fc.constantFrom(1, 2, 0),
      prev_epoch_hash: fc.constantFrom(null, b64(32)),
      members: fc.array(keyArb(), { minLength: 0, maxLength: 3 }),
      reason: fc.constantFrom('create', 'scheduled', 'Bad'),
      created_by: keyArb(),
      created_at: fc.constantFrom(1, 1_767_225_600_000, -1),
      key_commitment: fc.constantFrom(b64(32), b64(31)),
    }),
    sig: fc.constantFrom(b64(64), 'A'),
  });

const sealsArb = (): fc.Arbitrary<unknown[]> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant<unknown[]>([]) },
    { weight: 2, arbitrary: fc.array(fc.record({ recipient: keyArb(), sealer: keyArb(), sealed: fc.constantFrom(b64(80), b64(79)), sig: fc.constant(b64(64)) }), { maxLength: 2 }) },
  );

/** Bodies valid (mostly) per each request schema of api.ts, with the fixture values that make them meaningful. */
function validBodyArb(schema: string): fc.Arbitrary<Record<string, unknown>> {
  const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });
  const post = fc.record(
    { text: textArb(), reply_to: fc.option(messageIdArb(), { nil: undefined, freq: 1 }).chain((v) => fc.constantFrom(v, undefined, undefined)), client_id: opt(fc.oneof(urlSafe(8, 64), fc.constantFrom('fz-client-01', 'short'))) },
    { requiredKeys: ['text'] },
  );
  switch (schema) {
    case 'CreateTopicBody':
      return fc.record(
        {
          name: fc.oneof({ weight: 4, arbitrary: hex(3).map((h) => `fzt-${h}`) }, { weight: 1, arbitrary: fc.constantFrom(TOPICS.general, TOPICS.private, 'Bad', '') }),
          visibility: opt(fc.constantFrom('public', 'private', 'secret')),
          description: opt(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('d'.repeat(500), 'd'.repeat(501), '\u0000'))),
        },
        { requiredKeys: ['name'] },
      );
    case 'PostTopicMessageBody':
      return post;
    case 'TopicPostBody':
      return fc.oneof({ weight: 3, arbitrary: post }, { weight: 2, arbitrary: sealedPostArb() });
    case 'PublishEpochBody':
      return fc.record({ manifest: signedManifestArb(), seals: sealsArb() });
    case 'AddEpochSealsBody':
      return fc.record({ seals: sealsArb() });
    case 'PostMessageBody':
      return fc.tuple(post, topicNameArb()).map(([b, topic]) => ({ ...b, topic }));
    case 'MarkReadBody':
      return fc.record({ message_id: opt(messageIdArb()) }, { requiredKeys: [] });
    case 'AddTopicMemberBody':
      return memberSelectorArb().map((member) => ({ member }));
    case 'MarkNotificationsReadBody':
      return fc.record({ ids: opt(fc.array(messageIdArb(), { minLength: 0, maxLength: 4 })) }, { requiredKeys: [] });
    case 'CreateApiKeyBody':
      return fc.record(
        {
          label: opt(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('l'.repeat(100), 'l'.repeat(101), '\u0000'))),
          capabilities: fc.oneof(fc.subarray(['read', 'send', 'admin'], { minLength: 1 }), fc.constantFrom([], ['read', 'read'], ['write'])),
          topics: opt(fc.oneof(fc.array(topicNameArb(), { minLength: 1, maxLength: 3 }), fc.constant([]))),
          expires_in_s: opt(fc.constantFrom(9, 10, 3600, 31_536_000, 31_536_001, 1.5)),
          human: opt(fc.oneof(hex(6).map((h) => `fzh-${h}`), fc.constantFrom('owner', 'member', 'bad name'))),
        },
        { requiredKeys: ['capabilities'] },
      );
    default:
      return fc.constant({});
  }
}

const queryValueArb = (key: string): fc.Arbitrary<string> => {
  switch (key) {
    case 'limit':
      return fc.oneof(fc.integer({ min: 1, max: 200 }).map(String), fc.constantFrom('-1', '0', '201', '1000000', 'abc', '', '1.5', '1e1', '0x10', ' 5', 'NaN', 'Infinity'));
    case 'before':
    case 'after':
    case 'last_event_id':
      return messageIdArb();
    case 'topic':
      return topicNameArb();
    case 'q':
      return fc.oneof(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
        fc.constantFrom('hello', '"exact phrase"', '-not', 'a or b', '&', ':*', "'", '\\', '!!', 'q'.repeat(200), 'q'.repeat(201), '', ...NASTY_STRINGS),
      );
    case 'unread':
      return fc.constantFrom('true', 'false', '1', '0', 'yes', '');
    default:
      return fc.string({ maxLength: 8 });
  }
};

/** A query from the route's schema: some of its keys with values valid or not, then an odd key or a repeat. */
function queryArb(route: BearerRoute): fc.Arbitrary<QuerySpec> {
  const keys = route.queryParams;
  const pairs =
    keys.length === 0
      ? fc.constant<Array<[string, string]>>([])
      : fc.array(fc.constantFrom(...keys), { maxLength: keys.length }).chain((ks) => fc.tuple(...[...new Set(ks)].map((k) => queryValueArb(k).map((v): [string, string] => [k, v]))));
  const withRequired = pairs.chain((ps) => {
    // The required keys (GET /messages' topic, GET /search's q) are mostly present.
    const missing = keys.filter((k) => (k === 'topic' || k === 'q') && !ps.some(([p]) => p === k));
    return fc.tuple(...missing.map((k) => fc.option(queryValueArb(k), { freq: 5, nil: null }).map((v) => (v === null ? null : ([k, v] as [string, string]))))).map((extra) => [
      ...ps,
      ...extra.filter((e): e is [string, string] => e !== null),
    ]);
  });
  const mutated = fc.tuple(withRequired, fc.constantFrom('none', 'none', 'none', 'repeat', 'unknown', 'empty-key'), fc.constantFrom(...(keys.length > 0 ? keys : ['limit']))).map(([ps, op, k]) => {
    if (op === 'repeat') return [...ps, [k, ps.find(([p]) => p === k)?.[1] ?? '1'] as [string, string]];
    if (op === 'unknown') return [...ps, ['x', '1'] as [string, string]];
    if (op === 'empty-key') return [...ps, ['', '1'] as [string, string]];
    return ps;
  });
  return fc.oneof(
    { weight: 8, arbitrary: mutated.map((p): QuerySpec => ({ kind: 'pairs', pairs: p })) },
    { weight: 1, arbitrary: fc.constantFrom('?', '?&&&', '?limit', '?a=%ZZ', '?limit=%FF', '?__proto__[x]=1', '?__proto__=1', '?constructor=1', `?x=${'q'.repeat(3000)}`).map((text): QuerySpec => ({ kind: 'raw', text })) },
  );
}

export function queryText(q: QuerySpec): string {
  if (q.kind === 'raw') return q.text;
  if (q.pairs.length === 0) return '';
  return `?${q.pairs.map(([k, v]) => `${encodeURIComponent(wireText(k))}=${encodeURIComponent(wireText(v))}`).join('&')}`;
}

/** Mostly the key that may use the route (so the checks behind the key run), else any fixture key or garbage. */
const authArb = (route: BearerRoute): fc.Arbitrary<BearerAuth> =>
  fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .record({
          key: fc.oneof({ weight: 2, arbitrary: fc.constant<KeyName>(route.need === 'admin' ? 'admin' : 'full') }, { weight: 1, arbitrary: fc.constantFrom(...KEY_NAMES) }),
          spaced: fc.integer({ min: 0, max: 19 }).map((n) => n === 0),
          scheme: fc.oneof({ weight: 8, arbitrary: fc.constant('Bearer') }, { weight: 1, arbitrary: fc.constantFrom('bearer', 'BEARER', 'bEaReR') }),
        })
        .map((k): BearerAuth => ({ kind: 'key', ...k })),
    },
    { weight: 1, arbitrary: fc.constant<BearerAuth>({ kind: 'none' }) },
    {
      weight: 3,
      arbitrary: fc
        .oneof(
          fc.constantFrom(
            '',
            'Bearer',
            'Bearer ',
            'bearer{full}',
            'Bearer: {full}',
            'Bearer {full}x',
            'Bearer x{full}',
            'Bearer {full},Bearer {full}',
            'Bearer "{full}"',
            'Bearer cmk_{fullid}_',
            `Bearer cmk_{fullid}_${'A'.repeat(43)}`,
            `Bearer cmk_0000000000000000_${'A'.repeat(43)}`,
            `Bearer cmk_${'A'.repeat(16)}_${'A'.repeat(43)}`,
            `Bearer cmk_{fullid}_${'A'.repeat(44)}`,
            'Bearer fuzz-admin-token-0123456789',
            `Basic ${Buffer.from('user:pass').toString('base64')}`,
            `Claudemesh-Sig pubkey=${'a'.repeat(64)},ts=1,sig=${'A'.repeat(86)}`,
          ),
          fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((s) => `Bearer ${s}`.trim()),
        )
        .map((value): BearerAuth => ({ kind: 'garbage', value })),
    },
  );

const CONTENT_TYPES = [...Array<string>(10).fill(JSON_CT), 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', null];

function routeBodyArb(route: BearerRoute): fc.Arbitrary<{ body: BodySpec; label: string; ct: string | null }> {
  const hasBody = route.method === 'POST' || route.method === 'PATCH';
  if (!hasBody) return fc.constant({ body: { kind: 'none' } as BodySpec, label: 'no-body', ct: null });
  const template = route.body ? validBodyArb(route.body) : fc.constant({});
  return fc.oneof(
    { weight: 6, arbitrary: template.map((v) => ({ body: { kind: 'text', text: JSON.stringify(v) } as BodySpec, label: 'schema-shaped' })) },
    { weight: 4, arbitrary: template.chain((v) => bodyArb(v)) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 200_000 }).map((extra) => ({ body: { kind: 'oversize', size: MAX_BODY_BYTES + extra } as BodySpec, label: 'oversize' })) },
  ).chain((b) =>
    fc.constantFrom(...CONTENT_TYPES).map((ct) => ({ ...b, ct: b.body.kind === 'none' && ct === JSON_CT ? null : b.label === 'oversize' ? JSON_CT : ct })),
  );
}

function routeCase(route: BearerRoute): fc.Arbitrary<BearerCase> {
  const params = fc.record(Object.fromEntries(route.pathParams.map((p) => [p, paramArb(p)])) as Record<string, fc.Arbitrary<ParamValue>>);
  const lastEventId = route.response === 'sse' ? fc.option(messageIdArb(), { nil: undefined, freq: 3 }) : fc.constant(undefined);
  return fc.record({ params, query: queryArb(route), auth: authArb(route), body: routeBodyArb(route), lastEventId }).map(({ params: p, query, auth, body, lastEventId: lei }): BearerCase => ({
    label: `bearer/${route.key}:${auth.kind === 'key' ? auth.key : auth.kind}/${body.label.replace(/[:.].*$/, '')}`,
    route,
    params: p,
    query,
    auth,
    body: body.body,
    contentType: body.ct,
    ...(lei !== undefined ? { lastEventId: lei } : {}),
  }));
}

/** Cases spread evenly over the routes of the document (each route's arbitrary is built once). */
export function bearerCase(routes: readonly BearerRoute[]): fc.Arbitrary<BearerCase> {
  const perRoute = routes.map(routeCase);
  return fc.integer({ min: 0, max: perRoute.length - 1 }).chain((i) => perRoute[i]!);
}

