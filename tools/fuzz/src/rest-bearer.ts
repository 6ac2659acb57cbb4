/**
 * REST fuzzing of the bearer surface (docs/topics.md), the runner: sets up the fixture keys and
 * topics on the REST mesh (and a key of another mesh), reads the routes from the live OpenAPI
 * document, sends the generated cases (rest-bearer-cases.ts) and checks each answer with the oracle
 * against the model (rest-bearer-model.ts) and, for a success, against the route's response schema.
 * Afterwards the surface must still work: a post comes back in the history and on a live stream.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { CreatedApiKey, TopicInfo, createApiKey, createMesh, revokeApiKey, type CreateApiKeyBody } from '@claudemesh/core';
import { checkRestResponse, type RestAnswer } from './oracle.js';
import { queryText, SACRIFICIAL_KEY_ID, TOPICS, type BearerCase, type KeyName } from './rest-bearer-cases.js';
import { bearerModel, KEY_CAPABILITIES, type BearerModelEnv } from './rest-bearer-model.js';
import { bearerRoutes, type BearerRoute } from './rest-bearer-routes.js';
import { JSON_CT } from './rest-model.js';
import type { Prepared, RestEnv } from './rest-transport.js';

export { bearerCase } from './rest-bearer-cases.js';

interface Fixtures {
  keys: Record<KeyName, string>;
  sacrificialId: string;
  /** A fresh key like a fixture key (its member, mesh, capabilities, topics), for routes that use a key up. */
  twin: (name: KeyName) => Promise<string>;
}

/** One request; an event stream is answered as soon as its head arrives (then closed). */
function bearerExchange(env: RestEnv, req: Prepared, agent: http.Agent | false): Promise<RestAnswer> {
  const url = new URL(env.baseUrl);
  const attempt = (a: http.Agent | false): Promise<RestAnswer> =>
    new Promise((resolve, reject) => {
      const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers, agent: a, timeout: env.timeoutMs }, (res) => {
        const contentType = String(res.headers['content-type'] ?? '');
        const answer = (body: string): RestAnswer => ({ status: res.statusCode ?? 0, contentType, body, method: req.method });
        if (contentType.startsWith('text/event-stream')) {
          resolve(answer(''));
          r.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(answer(Buffer.concat(chunks).toString('utf8'))));
        res.on('error', reject);
      });
      r.on('timeout', () => r.destroy(new Error(`no answer within ${env.timeoutMs} ms`)));
      r.on('error', reject);
      r.end(req.body ?? undefined);
    });
  // A pooled socket the server had closed is retried once on a fresh one; a reset there is a finding.
  return attempt(agent).catch((error: Error) => {
    if (agent === false || !/socket hang up|ECONNRESET|EPIPE/.test(error.message)) throw error;
    return attempt(false);
  });
}

/** Routes after which the calling key is not what it was: signing out, sign-in links and push subscriptions (5 per key). */
const KEY_CONSUMING_ROUTES = new Set(['DELETE /api/v1/me/apikey', 'POST /api/v1/web/signins', 'POST /api/v1/me/push']);

export class BearerRunner {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  requests = 0;
  private readonly modelEnv: BearerModelEnv;

  private constructor(
    private readonly env: RestEnv,
    readonly routes: BearerRoute[],
    private readonly fx: Fixtures,
  ) {
    const members = ['owner', 'member', env.owner.publicKey, env.member.publicKey];
    this.modelEnv = { sub: (t) => this.sub(t), members: new Set(members) };
  }

  /** Fixture keys and topics on the REST mesh, a key of a second mesh, and the routes of the live document. */
  static async start(env: RestEnv): Promise<BearerRunner> {
    const key = async (who: 'owner' | 'member', body: CreateApiKeyBody): Promise<CreatedApiKey> =>
      createApiKey(env.baseUrl, who === 'owner' ? env.owner : env.member, env.meshId, body);
    const ownerRw = await key('owner', { label: 'fz-setup', capabilities: ['read', 'send'] });
    for (const [name, visibility] of [
      [TOPICS.private, 'private'],
      [TOPICS.scoped, 'public'],
    ] as const) {
      const res = await fetch(`${env.baseUrl}/api/v1/topics`, {
        method: 'POST',
        headers: { 'content-type': JSON_CT, authorization: `Bearer ${ownerRw.secret}` },
        // Plaintext: the lane posts text to them (new topics are e2e by default).
        body: JSON.stringify({ name, visibility, encryption: 'plaintext' }),
      });
      if (res.status !== 201) throw new Error(`could not create #${name}: ${res.status} ${await res.text()}`);
      TopicInfo.parse(await res.json());
    }
    const member = (label: string, caps: CreateApiKeyBody['capabilities'], topics?: string[]): Promise<CreatedApiKey> =>
      key('member', { label, capabilities: caps, ...(topics ? { topics } : {}) });
    const revoked = await member('fz-revoked', ['read', 'send']);
    await revokeApiKey(env.baseUrl, env.member, env.meshId, revoked.id);
    const other = env.identity('bearer-other-owner');
    const otherMesh = await createMesh(env.baseUrl, { name: `fuzz-bearer-other-${randomUUID().slice(0, 8)}`, owner: other, displayName: 'owner', adminToken: env.adminToken, meshId: randomUUID(), general: 'plaintext' });
    const otherKey = await createApiKey(env.baseUrl, other, otherMesh.mesh_id, { label: 'fz-other', capabilities: [...KEY_CAPABILITIES.other] });
    const keys: Record<KeyName, string> = {
      full: (await member('fz-full', [...KEY_CAPABILITIES.full])).secret,
      read: (await member('fz-read', [...KEY_CAPABILITIES.read])).secret,
      send: (await member('fz-send', [...KEY_CAPABILITIES.send])).secret,
      scoped: (await member('fz-scoped', [...KEY_CAPABILITIES.scoped], [TOPICS.scoped])).secret,
      other: otherKey.secret,
      admin: (await key('owner', { label: 'fz-admin', capabilities: [...KEY_CAPABILITIES.admin] })).secret,
      revoked: revoked.secret,
    };
    const docRes = await fetch(`${env.baseUrl}/api/openapi.json`);
    if (docRes.status !== 200) throw new Error(`GET /api/openapi.json answered ${docRes.status}`);
    const table = bearerRoutes(await docRes.json());
    for (const p of table.problems) env.findings.violation('rest-bearer-unmodelled', p);
    if (table.routes.length === 0) throw new Error('the OpenAPI document lists no bearer route');
    const twin = async (name: KeyName): Promise<string> => {
      if (name === 'revoked') return revoked.secret;
      if (name === 'other') return (await createApiKey(env.baseUrl, other, otherMesh.mesh_id, { label: 'fz-twin', capabilities: [...KEY_CAPABILITIES.other] })).secret;
      if (name === 'admin') return (await key('owner', { label: 'fz-twin', capabilities: [...KEY_CAPABILITIES.admin] })).secret;
      return (await member('fz-twin', [...KEY_CAPABILITIES[name]], name === 'scoped' ? [TOPICS.scoped] : undefined)).secret;
    };
    return new BearerRunner(env, table.routes, { keys, sacrificialId: revoked.id, twin });
  }

  close(): void {
    this.agent.destroy();
  }

  private sub(text: string): string {
    return text.replaceAll('{owner}', this.env.owner.publicKey).replaceAll('{member}', this.env.member.publicKey);
  }

  private prepare(c: BearerCase, twinKey?: string): Prepared {
    let path = c.route.template;
    for (const [p, v] of Object.entries(c.params)) {
      const segment = 'raw' in v ? v.raw : v.decoded === SACRIFICIAL_KEY_ID ? this.fx.sacrificialId : encodeURIComponent(v.decoded);
      path = path.replace(`{${p}}`, segment);
    }
    path += queryText(c.query);
    const body =
      c.body.kind === 'none' ? null : c.body.kind === 'text' ? Buffer.from(this.sub(c.body.text), 'utf8') : c.body.kind === 'bytes' ? Buffer.from(c.body.bytes) : Buffer.alloc(c.body.size, 0x20);
    const headers: Record<string, string> = body ? { 'content-length': String(body.byteLength) } : {};
    if (c.contentType !== null) headers['content-type'] = c.contentType;
    if (c.lastEventId !== undefined) headers['last-event-id'] = c.lastEventId;
    const full = this.fx.keys.full;
    if (c.auth.kind === 'key') headers['authorization'] = `${c.auth.scheme} ${c.auth.spaced ? ' ' : ''}${twinKey ?? this.fx.keys[c.auth.key]}`;
    else if (c.auth.kind === 'garbage' && c.auth.value !== '') headers['authorization'] = c.auth.value.replaceAll('{full}', full).replaceAll('{fullid}', full.slice(4, 20));
    return { method: c.route.method, path, headers, body };
  }

  async run(c: BearerCase): Promise<void> {
    const { findings } = this.env;
    // A route that uses its key up (revokes it, or fills its quota of open links) gets a fresh twin.
    const req = this.prepare(c, c.auth.kind === 'key' && KEY_CONSUMING_ROUTES.has(c.route.key) ? await this.fx.twin(c.auth.key) : undefined);
    const expect = bearerModel(c, this.modelEnv);
    const context = `${req.method} ${req.path.slice(0, 140)} ct=${req.headers['content-type'] ?? '-'} auth=${c.auth.kind === 'key' ? c.auth.key : (req.headers['authorization'] ?? '-').slice(0, 40)}${c.lastEventId !== undefined ? ` last-event-id=${c.lastEventId}` : ''} body=${req.body ? req.body.toString('utf8').slice(0, 160) : '-'}`;
    this.requests++;
    findings.countLabel(c.label);
    let answer: RestAnswer;
    try {
      answer = await bearerExchange(this.env, req, c.route.response === 'sse' ? false : this.agent);
    } catch (error) {
      findings.violation('rest-no-answer', `${c.label}: ${(error as Error).message}`, context);
      return;
    }
    const problem = checkRestResponse(answer, expect);
    if (problem) {
      findings.violation(answer.status >= 500 ? 'rest-5xx' : 'rest-unexpected', `${c.label} → ${problem}`, context);
      return;
    }
    findings.countOutcome(`HTTP ${answer.status}`);
    if (answer.status < 300) {
      const bad = this.successProblem(c.route, answer);
      if (bad) findings.violation('rest-unexpected', `${c.label}: ${bad}`, context);
    }
  }

  /** A success must be the route's status with a body its response schema accepts. */
  private successProblem(route: BearerRoute, answer: RestAnswer): string | null {
    if (answer.status !== route.success) return `answered ${answer.status}, the document says ${route.success}`;
    if (route.response === 'sse') return answer.contentType.startsWith('text/event-stream') ? null : `stream answered with content-type ${answer.contentType}`;
    let json: unknown;
    try {
      json = JSON.parse(answer.body);
    } catch {
      return `success body is not JSON: ${answer.body.slice(0, 120)}`;
    }
    const parsed = route.response.safeParse(json);
    return parsed.success ? null : `success body does not match its schema (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}): ${answer.body.slice(0, 200)}`;
  }

  /** After the run: a post with the full key comes back in the history and on a stream opened before it. */
  async roundTrip(): Promise<void> {
    const { findings, baseUrl, timeoutMs } = this.env;
    const auth = { authorization: `Bearer ${this.fx.keys.full}` };
    const fail = (detail: string): void => findings.violation('rest-bearer-after', detail);
    const url = new URL(`${baseUrl}/api/v1/topics/${TOPICS.general}/stream`);
    const events: string[] = [];
    let streamError: string | null = null;
    const opened = new Promise<http.ClientRequest | null>((resolve) => {
      const r = http.get({ host: url.hostname, port: url.port, path: url.pathname, headers: auth, agent: false }, (res) => {
        if (res.statusCode !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
          streamError = `the stream answered ${res.statusCode} ${String(res.headers['content-type'])}`;
          res.resume();
          resolve(null);
          return;
        }
        res.on('data', (chunk: Buffer) => events.push(chunk.toString('utf8')));
        res.on('error', () => undefined);
        resolve(r);
      });
      r.on('error', (e) => {
        streamError = `the stream failed: ${e.message}`;
        resolve(null);
      });
    });
    const stream = await opened;
    try {
      const text = `fuzz round trip ${randomUUID()}`;
      const posted = await fetch(`${baseUrl}/api/v1/topics/${TOPICS.general}/messages`, { method: 'POST', headers: { ...auth, 'content-type': JSON_CT }, body: JSON.stringify({ text }) });
      if (posted.status !== 201) return fail(`a plain post answered ${posted.status}: ${(await posted.text()).slice(0, 200)}`);
      const { message } = (await posted.json()) as { message: { id: string } };
      const history = await fetch(`${baseUrl}/api/v1/topics/${TOPICS.general}/messages?limit=20`, { headers: auth });
      const page = history.status === 200 ? ((await history.json()) as { messages: Array<{ id: string; text?: string }> }) : null;
      if (!page?.messages.some((m) => m.id === message.id && m.text === text)) fail(`the history (HTTP ${history.status}) does not hold the message just posted (${message.id})`);
      if (!stream) return fail(streamError ?? 'the stream did not open');
      const deadline = Date.now() + timeoutMs;
      while (!events.join('').includes(`id: ${message.id}\n`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!events.join('').includes(`id: ${message.id}\n`)) fail(`the stream did not deliver message ${message.id} within ${timeoutMs} ms`);
    } finally {
      stream?.destroy();
    }
  }
}
