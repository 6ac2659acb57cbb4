/**
 * REST fuzzing of the bearer surface, the model: the answer docs/topics.md requires for a case, in
 * the broker's order — the router (a path parameter that does not decode or is over 100 chars),
 * the body parser (over 1 MiB → E_TOO_LARGE, not JSON → E_SCHEMA), the key (E_UNAUTHORIZED) and
 * its capability (E_FORBIDDEN), the zod schemas of path, query and body (E_SCHEMA), then the topic:
 * a key's topic scope and private topics (E_FORBIDDEN), unknown topics (E_NOT_FOUND). The stream
 * route validates path and query before the key. Fixture topics are exact; topics fuzzed creates
 * may have made are allowed any of their outcomes.
 */
import type { ApiKeyCapability, ErrorCode } from '@claudemesh/core';
import type { z } from 'zod';
import { wireText } from './json-text.js';
import type { RestExpectation } from './oracle.js';
import { BODY_SCHEMAS, PARAM_SCHEMAS } from './rest-bearer-routes.js';
import { SACRIFICIAL_KEY_ID, TOPICS, UNKNOWN_TOPIC_PREFIX, type BearerCase, type KeyName, type QuerySpec } from './rest-bearer-cases.js';
import { parseBody } from './rest-model.js';

const MAX_PARAM_LENGTH = 100;

/** What each fixture key may do (rest-bearer.ts creates them so). */
export const KEY_CAPABILITIES: Record<KeyName, readonly ApiKeyCapability[]> = {
  full: ['read', 'send'],
  read: ['read'],
  send: ['send'],
  scoped: ['read', 'send'],
  other: ['read'],
  admin: ['admin'],
  revoked: ['read', 'send'],
};

type Outcome = { success: boolean; codes: Set<ErrorCode> };
const ok = (): Outcome => ({ success: true, codes: new Set() });
const fail = (...codes: ErrorCode[]): Outcome => ({ success: false, codes: new Set(codes) });
const union = (...os: Outcome[]): Outcome => ({ success: os.some((o) => o.success), codes: new Set(os.flatMap((o) => [...o.codes])) });
/** `then` applies when the first step passes. */
const then = (first: Outcome, next: () => Outcome): Outcome => (first.success ? union({ success: false, codes: first.codes }, next()) : first);

function expectation(o: Outcome, successStatus: number): RestExpectation {
  return { codes: [...o.codes], ...(o.success ? { success: [successStatus] } : {}) };
}

/** How the key's member sees a topic (TopicsService.resolve). */
function topicView(key: KeyName, name: string): Outcome {
  if (key === 'scoped') return name === TOPICS.scoped ? ok() : fail('E_FORBIDDEN');
  if (name.startsWith(UNKNOWN_TOPIC_PREFIX)) return fail('E_NOT_FOUND');
  // The other mesh has only #general, and its read-only key creates nothing.
  if (key === 'other') return name === TOPICS.general ? ok() : fail('E_NOT_FOUND');
  if (name === TOPICS.general || name === TOPICS.scoped) return ok();
  if (name === TOPICS.private) return fail('E_FORBIDDEN');
  return union(ok(), fail('E_NOT_FOUND', 'E_FORBIDDEN'));
}

type QueryVerdict = { valid: true; data: Record<string, unknown> } | { valid: false } | { valid: 'either'; data?: Record<string, unknown> };

/** The query object the route sees: repeated keys become arrays; raw strings and empty keys are the parser's call. */
function queryVerdict(schema: z.ZodObject, q: QuerySpec): QueryVerdict {
  if (q.kind === 'raw') {
    const parsed = schema.safeParse({});
    return { valid: 'either', ...(parsed.success ? { data: parsed.data as Record<string, unknown> } : {}) };
  }
  const obj: Record<string, unknown> = {};
  let ambiguous = false;
  for (const [k, v] of q.pairs) {
    if (k === '') {
      ambiguous = true;
      continue;
    }
    const key = wireText(k);
    const value = wireText(v);
    const prior = obj[key];
    obj[key] = prior === undefined ? value : Array.isArray(prior) ? [...(prior as string[]), value] : [prior, value];
  }
  const parsed = schema.safeParse(obj);
  if (!parsed.success) return { valid: false };
  return ambiguous ? { valid: 'either', data: parsed.data as Record<string, unknown> } : { valid: true, data: parsed.data as Record<string, unknown> };
}

/** What the model needs of the live mesh: `{owner}` / `{member}` substitution, and the members' names and keys. */
export interface BearerModelEnv {
  sub: (text: string) => string;
  members: ReadonlySet<string>;
}

/** After authentication and validation: what the route's service answers. */
function serviceModel(env: BearerModelEnv, c: BearerCase, key: KeyName, params: Record<string, string>, query: Record<string, unknown>, body: Record<string, unknown>): Outcome {
  const path = c.route.template;
  const name = params['name'];
  const post = (view: Outcome): Outcome =>
    then(view, () => union(ok(), body['reply_to'] !== undefined ? fail('E_SCHEMA') : fail(), body['client_id'] !== undefined ? fail('E_CONFLICT') : fail()));
  switch (`${c.route.method} ${path}`) {
    case 'POST /api/v1/topics': {
      if (key === 'scoped') return fail('E_FORBIDDEN');
      const n = String(body['name']);
      if (n === TOPICS.general || n === TOPICS.private || n === TOPICS.scoped) return fail('E_CONFLICT');
      return union(ok(), fail('E_CONFLICT'));
    }
    case 'POST /api/v1/topics/{name}/members': {
      const member = String(body['member']);
      return then(topicView(key, name!), () => union(fail('E_FORBIDDEN'), env.members.has(member) ? ok() : fail('E_UNKNOWN_TARGET')));
    }
    case 'POST /api/v1/topics/{name}/messages': {
      // The fixture topics are plaintext; one the lane created may be either (e2e unless its body said
      // plaintext). A body of the other version is refused for it, before anything else is checked.
      const fixture = name === TOPICS.general || name === TOPICS.private || name === TOPICS.scoped;
      if (body['body_version'] === 2) return then(topicView(key, name!), () => (fixture ? fail('E_TOPIC_MODE') : union(fail('E_TOPIC_MODE'), fail('E_EPOCH_STALE'), fail('E_MESSAGE_INVALID'))));
      return fixture ? post(topicView(key, name!)) : union(post(topicView(key, name!)), then(topicView(key, name!), () => fail('E_TOPIC_MODE')));
    }
    case 'POST /api/v1/topics/{name}/epochs':
      // Never validly signed: refused for its scope, mesh, members, creator, chain or signature.
      return then(topicView(key, name!), () => fail('E_EPOCH_INVALID', 'E_FORBIDDEN', 'E_EPOCH_CONFLICT'));
    case 'POST /api/v1/topics/{name}/epochs/{epoch}/seals':
      // The WebSocket lane may have published epochs: an empty batch of seals to one is stored as nothing.
      return then(topicView(key, name!), () => union(ok(), fail('E_NOT_FOUND', 'E_FORBIDDEN', 'E_EPOCH_INVALID')));
    case 'POST /api/v1/messages': {
      const topic = String(body['topic']);
      const fixture = topic === TOPICS.general || topic === TOPICS.private || topic === TOPICS.scoped;
      return fixture ? post(topicView(key, topic)) : union(post(topicView(key, topic)), then(topicView(key, topic), () => fail('E_TOPIC_MODE')));
    }
    case 'GET /api/v1/messages':
      return topicView(key, String(query['topic']));
    case 'GET /api/v1/search':
      return query['topic'] === undefined ? ok() : topicView(key, String(query['topic']));
    case 'POST /api/v1/apikeys': {
      // A key issues only capabilities it has (the fixture keys are unscoped and never expire).
      const capabilities = body['capabilities'] as string[];
      if (capabilities.some((c) => !(KEY_CAPABILITIES[key] as readonly string[]).includes(c))) return fail('E_FORBIDDEN');
      const human = body['human'];
      if (human === undefined) return ok();
      return human === 'owner' || human === 'member' ? fail('E_NAME_TAKEN') : union(ok(), fail('E_NAME_TAKEN'));
    }
    case 'POST /api/v1/me/push':
      // An http endpoint (loopback) is refused unless the broker allows it; a key's 6th endpoint is 429.
      return union(ok(), fail('E_SCHEMA', 'E_RATE_LIMITED'));
    case 'DELETE /api/v1/apikeys/{id}':
      return params['id'] === SACRIFICIAL_KEY_ID ? ok() : fail('E_NOT_FOUND');
    default:
      return name !== undefined ? topicView(key, name) : ok();
  }
}

/** A sentinel for a body that reached the route in another form than JSON (a string, or none). */
const NOT_JSON = Symbol('not-json');

export function bearerModel(c: BearerCase, env: BearerModelEnv): RestExpectation {
  const route = c.route;
  const status = route.success;
  // 1. The router: percent-encoding that does not decode, a parameter over its length limit, an empty
  // segment; dot segments are its call.
  const params: Record<string, string> = {};
  let noRoute = false;
  for (const [p, v] of Object.entries(c.params)) {
    if ('raw' in v) return { codes: ['E_SCHEMA'] };
    if (wireText(v.decoded).length > MAX_PARAM_LENGTH) return { codes: ['E_SCHEMA'] };
    // An empty parameter inside the path (`…/epochs//seals`) leaves a path no route matches: a 404
    // whatever the key, once the body has been parsed (a body that does not parse is refused first).
    if (v.decoded === '' && !route.template.endsWith(`{${p}}`)) noRoute = true;
    if (v.decoded === '.' || v.decoded === '..') return { codes: ['E_NOT_FOUND', 'E_SCHEMA', 'E_UNAUTHORIZED', 'E_FORBIDDEN', 'E_TOO_LARGE'], success: [status] };
    params[p] = wireText(v.decoded);
  }
  // 2. The body parser.
  const sent = c.body.kind === 'text' ? { kind: 'text' as const, text: env.sub(c.body.text) } : c.body;
  const parsed = sent.kind === 'none' && c.contentType === null ? ({ kind: 'none' } as const) : parseBody(c.contentType, sent);
  if (parsed.kind === 'too-large') return { codes: ['E_TOO_LARGE'] };
  if (parsed.kind === 'parse-error' || parsed.kind === 'unsupported') return { codes: ['E_SCHEMA'] };
  // The JSON content-type rule is checked for every request, routed or not: another type is E_SCHEMA first.
  if (noRoute) return { codes: ['E_NOT_FOUND', 'E_SCHEMA'] };
  // An empty body in another content type is not parsed at all: the route sees none.
  const empty = sent.kind === 'none' || (sent.kind === 'text' && sent.text === '') || (sent.kind === 'bytes' && sent.bytes.byteLength === 0);
  const bodies: unknown[] =
    parsed.kind === 'value' ? [parsed.value] : parsed.kind === 'none' ? [undefined] : [empty ? undefined : NOT_JSON, ...('value' in parsed && parsed.value !== undefined ? [parsed.value] : [])];
  const outcomes = bodies.map((b) => afterBody(env, c, params, b));
  // A body in another content type may be refused by the parser (E_SCHEMA) or handed over as it is.
  const all = parsed.kind === 'loose' ? union(fail('E_SCHEMA', 'E_TOO_LARGE'), ...outcomes) : union(...outcomes);
  return expectation(all, status);
}

function afterBody(env: BearerModelEnv, c: BearerCase, params: Record<string, string>, rawBody: unknown): Outcome {
  const route = c.route;
  const paramsValid = Object.entries(params).every(([p, v]) => v === SACRIFICIAL_KEY_ID || PARAM_SCHEMAS[p]!.safeParse(v).success);
  const q: QueryVerdict = route.query ? queryVerdict(route.query, c.query) : { valid: true, data: {} };
  // 3. The stream route checks path, query and Last-Event-ID before the key.
  if (route.pipesFirst) {
    if (!paramsValid || q.valid === false) return fail('E_SCHEMA');
    if (c.lastEventId !== undefined && c.lastEventId !== '' && !/^[1-9][0-9]{0,18}$/.test(c.lastEventId)) return q.valid === 'either' ? union(fail('E_SCHEMA')) : fail('E_SCHEMA');
  }
  // 4. The key and its capability.
  if (c.auth.kind !== 'key' || c.auth.key === 'revoked') return q.valid === 'either' && route.pipesFirst ? fail('E_UNAUTHORIZED', 'E_SCHEMA') : fail('E_UNAUTHORIZED');
  const key = c.auth.key;
  if (!KEY_CAPABILITIES[key].includes(route.need)) return q.valid === 'either' && route.pipesFirst ? fail('E_FORBIDDEN', 'E_SCHEMA') : fail('E_FORBIDDEN');
  // 5. Path, query and body schemas.
  if (!paramsValid || q.valid === false) return fail('E_SCHEMA');
  let body: Record<string, unknown> = {};
  if (route.body !== null) {
    if (rawBody === NOT_JSON) return fail('E_SCHEMA');
    const parsed = BODY_SCHEMAS[route.body]!.safeParse(rawBody === undefined ? {} : rawBody);
    if (!parsed.success) return fail('E_SCHEMA');
    body = parsed.data as Record<string, unknown>;
  }
  if (q.valid === 'either') return q.data ? union(fail('E_SCHEMA'), serviceModel(env, c, key, params, q.data, body)) : fail('E_SCHEMA');
  // 6. The topic and the route.
  return serviceModel(env, c, key, params, q.data, body);
}
