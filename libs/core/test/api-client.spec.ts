import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshApi, ProtocolError, createApiKey, listApiKeys, parseSse, revokeApiKey, type SseEvent, type TopicMessage } from '../src/index.js';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';

const enc = new TextEncoder();

async function* chunks(parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield enc.encode(p);
}

async function collect(parts: string[]): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const ev of parseSse(chunks(parts))) out.push(ev);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<ProtocolError> {
  const error = await p.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(ProtocolError);
  return error as ProtocolError;
}

describe('parseSse (the event-stream format)', () => {
  const stream = '\uFEFF: heartbeat\r\nid: 7\r\nevent: message\r\ndata: {"a":\r\ndata:1}\r\n\r\nretry: 1500\nid:8\ndata\n\nevent: custom\ndata:  two spaces\rdata: x\r\rid: 9\0\ndata: late\n\ndata: never dispatched';

  it('reads comments, ids, events, multi-line data, retry and every line ending; drops an unterminated event', async () => {
    expect(await collect([stream])).toEqual([
      { event: '', data: '', comment: 'heartbeat' },
      { event: 'message', data: '{"a":\n1}', id: '7' },
      { event: 'message', data: '', id: '8', retry: 1500 },
      { event: 'custom', data: ' two spaces\nx', id: '8' },
      // an id with NUL is ignored: the last id stays
      { event: 'message', data: 'late', id: '8' },
    ]);
  });

  it('gives the same events however the bytes are split (CRLF and UTF-8 across chunks)', async () => {
    const whole = await collect([stream + '\n\ndata: é€\n\n']);
    const bytes = enc.encode(stream + '\n\ndata: é€\n\n');
    for (const size of [1, 2, 3, 5, 7]) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.slice(i, i + size));
      const out: SseEvent[] = [];
      for await (const ev of parseSse((async function* () { yield* parts; })())) out.push(ev);
      expect(out, `chunks of ${size}`).toEqual(whole);
    }
    expect(whole.at(-1)).toMatchObject({ data: 'é€' });
  });
});

describe('MeshApi.stream against an SSE server that drops connections', () => {
  let server: Server;
  let base: string;
  const seen: Array<string | undefined> = [];
  const message = (id: string): TopicMessage => ({
    id, topic: 'general', client_id: `c-${id}-xxxxxx`, sender: { member_pubkey: 'a'.repeat(64), display_name: 'ann', peer_type: 'ai' },
    reply_to: null, body_version: 1, text: `m${id}`, mentions: [], created_at: 1,
  });

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const last = req.headers['last-event-id'] as string | undefined;
      seen.push(last);
      if (req.headers.authorization !== 'Bearer cmk_test') {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'E_UNAUTHORIZED', message: 'unknown API key' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // 1st connection: message 1, then the connection drops; 2nd: message 2, then an error event.
      if (!last) res.end(`retry: 20\n: hi\n\nid: 1\nevent: message\ndata: ${JSON.stringify(message('1'))}\n\n`);
      else res.end(`id: 2\nevent: message\ndata: ${JSON.stringify(message('2'))}\n\nevent: error\ndata: {"code":"E_UNAUTHORIZED","message":"this API key has been revoked"}\n\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reconnects with Last-Event-ID after a drop, and ends with the broker’s error event', async () => {
    seen.length = 0;
    const got: string[] = [];
    const comments: string[] = [];
    const reconnects: number[] = [];
    const api = new MeshApi(base, 'cmk_test');
    const error = await rejection(
      (async () => {
        for await (const m of api.stream('#general', { reconnect: true, onComment: (c) => comments.push(c), onReconnect: (_e, ms) => reconnects.push(ms) })) got.push(`${m.id}:${m.message.text}`);
      })(),
    );
    expect(got).toEqual(['1:m1', '2:m2']);
    expect(seen).toEqual([undefined, '1']);
    expect(reconnects).toEqual([20]); // the server's retry:
    expect(comments).toEqual(['hi']);
    expect(error.code).toBe('E_UNAUTHORIZED');
    expect(error.message).toBe('this API key has been revoked');
  });

  it('without reconnect, ends when the connection closes; a refused request throws its code', async () => {
    const got: string[] = [];
    for await (const m of new MeshApi(base, 'cmk_test').stream('general')) got.push(m.id);
    expect(got).toEqual(['1']);
    expect((await rejection(new MeshApi(base, 'cmk_other').stream('general').next())).code).toBe('E_UNAUTHORIZED');
  });
});

describe('MeshApi against a real broker', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let api: MeshApi;
  let keyId: string;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'sdk-api');
    const key = await createApiKey(tb.wsUrl, mesh.owner, mesh.meshId, { label: 'sdk test', capabilities: ['read', 'send'], expires_in_s: 600 });
    expect(key.secret).toMatch(/^cmk_[a-z0-9]{16}_/);
    keyId = key.id;
    api = new MeshApi(tb.wsUrl, key.secret);
  }, 60_000);
  afterAll(async () => {
    await tb?.close();
  });

  it('speaks every bearer route it wraps, with answers parsed by the protocol schemas', async () => {
    expect(await api.me()).toMatchObject({ mesh_id: mesh.meshId, mesh_name: 'sdk-api', member: { display_name: 'owner' }, key: { id: keyId, capabilities: ['read', 'send'] } });
    expect(await api.createTopic({ name: 'ops', description: 'operations', encryption: 'plaintext' })).toMatchObject({ name: 'ops', visibility: 'public', joined: true });
    expect((await api.topics()).map((t) => t.name)).toEqual(['general', 'ops']);
    expect(await api.topic('#ops')).toMatchObject({ name: 'ops', members: 1 });
    const first = await api.post('ops', { text: 'deploy at noon', client_id: 'retry-safe-1' });
    expect(first.duplicate).toBe(false);
    expect((await api.post('ops', { text: 'deploy at noon', client_id: 'retry-safe-1' })).duplicate).toBe(true);
    const second = await api.postMessage({ topic: 'ops', text: 'done', reply_to: first.message.id });
    expect((await api.history('ops')).messages.map((m) => m.text)).toEqual(['deploy at noon', 'done']);
    expect((await api.messages('ops', { before: second.message.id })).messages.map((m) => m.id)).toEqual([first.message.id]);
    expect(await api.markRead('ops')).toEqual({ topic: 'ops', last_read_id: second.message.id, unread: 0 });
    expect((await api.topicMembers('ops')).map((m) => m.display_name)).toEqual(['owner']);
    expect((await api.members()).find((m) => m.display_name === 'owner')).toMatchObject({ rest_active: true, online: true });
    expect((await api.myTopics()).map((t) => t.name)).toEqual(['general', 'ops']);
    expect((await api.activity(1)).map((m) => m.id)).toEqual([second.message.id]);
    expect((await api.search('noon')).map((m) => m.id)).toEqual([first.message.id]);
    expect(await api.notifications()).toEqual([]);
    expect(await api.myNotifications({ unread: true })).toEqual([]);
    expect(await api.markNotificationsRead()).toEqual({ marked: 0 });
    expect(await api.leaveTopic('ops')).toEqual({ left: true });
  });

  it('surfaces the broker’s codes as ProtocolErrors, and checks bodies before sending them', async () => {
    expect((await rejection(api.history('nope'))).code).toBe('E_NOT_FOUND');
    expect((await rejection(api.createTopic({ name: 'general' }))).code).toBe('E_CONFLICT');
    expect((await rejection(api.apiKeys())).code).toBe('E_FORBIDDEN'); // no admin capability
    expect((await rejection(api.addTopicMember('general', 'nobody'))).code).toBe('E_UNKNOWN_TARGET');
    const offline = new MeshApi('http://127.0.0.1:9', 'cmk_x');
    expect((await rejection(offline.createTopic({ name: 'Not A Name' }))).code).toBe('E_SCHEMA'); // never reached the network
    expect((await rejection(offline.post('general', { text: '' }))).code).toBe('E_SCHEMA');
  });

  it('streams a topic live and resumes from lastEventId; aborting ends it quietly', async () => {
    const ac = new AbortController();
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    const got: string[] = [];
    const reading = (async () => {
      for await (const m of api.stream('general', { signal: ac.signal, onOpen: () => opened() })) {
        got.push(m.message.text ?? '');
        if (got.length === 2) ac.abort();
      }
    })();
    await open;
    const a = await api.post('general', { text: 'one' });
    await api.post('general', { text: 'two' });
    await reading;
    expect(got).toEqual(['one', 'two']);

    const replay: string[] = [];
    const ac2 = new AbortController();
    for await (const m of api.stream('general', { lastEventId: a.message.id, signal: ac2.signal })) {
      replay.push(m.message.text ?? '');
      ac2.abort();
    }
    expect(replay).toEqual(['two']);
  });

  it('lists and revokes keys with the member key; a revoked key is refused from its next request', async () => {
    expect((await listApiKeys(tb.url, mesh.owner, mesh.meshId)).map((k) => [k.id, k.revoked_at])).toEqual([[keyId, null]]);
    const revoked = await revokeApiKey(tb.url, mesh.owner, mesh.meshId, keyId);
    expect(revoked.revoked_at).not.toBeNull();
    const error = await rejection(api.me());
    expect(error.code).toBe('E_UNAUTHORIZED');
    expect(error.message).toMatch(/revoked/);
    expect((await rejection(revokeApiKey(tb.url, mesh.owner, mesh.meshId, '0123456789abcdef'))).code).toBe('E_NOT_FOUND');
  });
});

describe('MeshApi, e2e topics over REST', () => {
  let server: Server;
  let base: string;
  const asked: string[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      asked.push(`${req.method} ${req.url}`);
      res.writeHead(409, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'E_EPOCH_STALE', message: 'the current key epoch of #ops is 3', current_epoch: 3 } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('carries current_epoch of an error body into err.details, as the WebSocket client does', async () => {
    const api = new MeshApi(base, 'cmk_test');
    const body = { key_epoch: 2, nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(24), sig: 'A'.repeat(86), mentions: [] };
    const error = await rejection(api.topicSendSealed('ops', 'rest-unit-0001', body, { replyTo: '7' }));
    expect([error.code, error.details]).toEqual(['E_EPOCH_STALE', { current_epoch: 3 }]);
    expect(asked.at(-1)).toBe('POST /api/v1/topics/ops/messages');
  });

  it('serves topic scopes only, and checks bodies before anything leaves', async () => {
    const api = new MeshApi(base, 'cmk_test');
    const count = asked.length;
    expect((await rejection(api.getEpochs('mesh'))).code).toBe('E_SCHEMA');
    expect((await rejection(api.addSeals('topic:ops', 1, [{ recipient: 'x', sealer: 'y', sealed: 'z', sig: 's' }]))).code).toBe('E_SCHEMA');
    expect((await rejection(api.postSealed('ops', { body_version: 2, client_id: 'short', key_epoch: 1, nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(24), sig: 'A'.repeat(86) }))).code).toBe('E_SCHEMA');
    expect(asked.length).toBe(count);
  });
});
