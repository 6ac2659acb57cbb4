import { TopicMessage } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { TopicStreamController } from '../src/api/topic-stream.controller.js';
import { ApiKeysService } from '../src/apikeys/api-keys.service.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { MeshesService } from '../src/meshes/meshes.service.js';
import { TopicsService, type TopicScope } from '../src/topics/topics.service.js';
import { SseClient, type OpenOptions } from './sse-client.js';

/** Short timings and a small buffer limit. */
const SSE_ENV = { CLAUDEMESH_SSE_HEARTBEAT_MS: '250', CLAUDEMESH_SSE_RECHECK_MS: '200', CLAUDEMESH_SSE_MAX_BUFFER_BYTES: String(64 * 1024) };

/** `GET /api/v1/topics/:name/stream` over real HTTP, on both databases (docs/topics.md §SSE). */
describe.each(dbKinds())('topic SSE stream on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let topics: TopicsService;
  let keys: ApiKeysService;
  let controller: TopicStreamController;
  const scope = {} as Record<'owner' | 'alice' | 'bob', TopicScope>;
  let bobKey: string;
  const clients: SseClient[] = [];

  const streamUrl = (name: string): string => `${tb.url}/api/v1/topics/${name}/stream`;
  const open = async (name: string, o: OpenOptions): Promise<SseClient> => {
    const c = await SseClient.open(streamUrl(name), o);
    clients.push(c);
    return c;
  };
  const post = async (who: TopicScope, name: string, text: string): Promise<string> => (await topics.post(who, name, { text })).message.id;
  const keyFor = async (who: TopicScope, body: Parameters<ApiKeysService['create']>[2]): Promise<string> => (await keys.create(who.state, who.member, body)).secret;

  beforeAll(async () => {
    tb = await startTestBroker(kind, SSE_ENV);
    mesh = await createTestMesh(tb, 'sse');
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    topics = tb.broker.app.get(TopicsService);
    keys = tb.broker.app.get(ApiKeysService);
    controller = tb.broker.app.get(TopicStreamController);
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    scope.owner = { state, member: state.byPubkey.get(mesh.owner.publicKey)!, topics: null };
    scope.alice = { state, member: state.byPubkey.get(alice.publicKey)!, topics: null };
    scope.bob = { state, member: state.byPubkey.get(bob.publicKey)!, topics: null };
    bobKey = await keyFor(scope.bob, { label: 'reader', capabilities: ['read'] });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => tb?.close());

  it('pushes each committed message as id / event / data, with event-stream headers and heartbeats', async () => {
    const c = await open('general', { key: bobKey });
    expect(c.status).toBe(200);
    expect(c.res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(c.res.headers['x-accel-buffering']).toBe('no');
    // A stream is written outside the framework: it still names its request (docs/self-hosting.md "Logs").
    expect(c.res.headers['x-request-id']).toMatch(/^[0-9a-f]{12}$/);
    expect(c.res.headers['cache-control']).toMatch(/no-cache/);
    await waitFor(() => controller.open.streams === 1, 'the stream to attach');
    const ids = [await post(scope.alice, 'general', 'one'), await post(scope.alice, 'general', 'two @bob')];
    await waitFor(() => c.events.length === 2, 'two events');
    expect(c.events.map((e) => [e.id, e.event])).toEqual(ids.map((id) => [id, 'message']));
    const parsed = c.events.map((e) => TopicMessage.parse(JSON.parse(e.data)));
    expect(parsed.map((m) => [m.id, m.text, m.topic, m.sender.display_name])).toEqual([[ids[0], 'one', 'general', 'alice'], [ids[1], 'two @bob', 'general', 'alice']]);
    expect(parsed[1]!.mentions).toEqual([scope.bob.member.pubkey]);
    const before = c.comments.filter((x) => x === 'heartbeat').length;
    await waitFor(() => c.comments.filter((x) => x === 'heartbeat').length >= before + 2, 'two heartbeats', 3_000);
    expect(c.events).toHaveLength(2);
  });

  it('answers a request that fails before the stream with the JSON error and its status', async () => {
    await topics.create(scope.alice, { name: 'hidden', visibility: 'private', description: '', encryption: 'plaintext' });
    const sendOnly = await keyFor(scope.bob, { label: 'poster', capabilities: ['send'] });
    const generalOnly = await keyFor(scope.bob, { label: 'scoped', capabilities: ['read'], topics: ['general'] });
    const cases: Array<[string, OpenOptions, number, string, RegExp?]> = [
      ['general', {}, 401, 'E_UNAUTHORIZED', /Bearer/],
      ['general', { key: 'cmk_nope' }, 401, 'E_UNAUTHORIZED', /malformed/],
      ['general', { key: sendOnly }, 403, 'E_FORBIDDEN', /read capability/],
      ['no-such-topic', { key: bobKey }, 404, 'E_NOT_FOUND'],
      ['hidden', { key: bobKey }, 403, 'E_FORBIDDEN', /private/],
      ['hidden', { key: generalOnly }, 403, 'E_FORBIDDEN', /limited to #general/],
      ['Not_A_Name', { key: bobKey }, 400, 'E_SCHEMA'],
      ['general', { key: bobKey, lastEventId: 'abc' }, 400, 'E_SCHEMA', /Last-Event-ID/],
      ['general', { key: bobKey, query: 'last_event_id=0' }, 400, 'E_SCHEMA'],
      ['general', { key: bobKey, query: 'since=1' }, 400, 'E_SCHEMA'],
    ];
    for (const [name, o, status, code, message] of cases) {
      const c = await open(name, o);
      const what = `${name} ${JSON.stringify(o)}`;
      expect(c.status, what).toBe(status);
      expect(c.res.headers['content-type'], what).toMatch(/application\/json/);
      const body = await c.json();
      expect(body.error.code, what).toBe(code);
      if (message) expect(body.error.message, what).toMatch(message);
    }
    expect(controller.open.streams).toBe(0);
  });

  it('resumes after Last-Event-ID (header, or ?last_event_id= on a first connect): the history, then live', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await post(scope.alice, 'general', `resume ${i}`));
    const byHeader = await open('general', { key: bobKey, lastEventId: ids[1] });
    const byQuery = await open('general', { key: bobKey, query: `last_event_id=${ids[3]}` });
    await waitFor(() => byHeader.events.length === 3 && byQuery.events.length === 1, 'the replays');
    ids.push(await post(scope.alice, 'general', 'resume live'));
    await waitFor(() => byHeader.events.length === 4 && byQuery.events.length === 2, 'the live message');
    expect(byHeader.events.map((e) => e.id)).toEqual(ids.slice(2));
    expect(byQuery.events.map((e) => e.id)).toEqual(ids.slice(4));
    expect(byHeader.messages().map((m) => m.text)).toEqual(['resume 2', 'resume 3', 'resume 4', 'resume live']);
  });

  it('resumes without a gap or a repeat while messages are being posted concurrently', { timeout: 90_000 }, async () => {
    await topics.create(scope.alice, { name: 'busy', visibility: 'public', description: '', encryption: 'plaintext' });
    const posted: string[] = [];
    const total = 160;
    let n = 0;
    // The client starts from what it read of the history, as a reconnecting client would.
    let lastEventId: string | null = await post(scope.alice, 'busy', 'before the rush');
    const first = await open('busy', { key: bobKey, lastEventId });
    await waitFor(() => controller.open.streams === 1, 'the first stream');
    const posting = Promise.all(
      [scope.alice, scope.owner, scope.alice, scope.owner].map(async (who) => {
        while (n < total) posted.push(await post(who, 'busy', `busy ${n++}`));
      }),
    );
    // Reconnect every few events with the browser's Last-Event-ID, until everything arrived.
    const received: string[] = [];
    const withId: string[] = [];
    let current = first;
    let reconnects = 0;
    // Generous: on a loaded machine 160 serialized posts plus the reconnects take a while.
    const deadline = Date.now() + 60_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 15 + Math.random() * 30));
      current.close();
      for (const e of current.events) {
        received.push((JSON.parse(e.data) as { id: string }).id);
        if (e.id !== null) withId.push(e.id);
      }
      lastEventId = current.lastEventId ?? lastEventId;
      if ((posted.length === total && new Set(received).size >= total) || Date.now() > deadline) break;
      current = await open('busy', { key: bobKey, lastEventId });
      reconnects += 1;
    }
    await posting;
    expect(reconnects).toBeGreaterThan(3);
    expect(new Set(received).size, 'no repeat').toBe(received.length);
    expect([...received].sort((a, b) => Number(a) - Number(b)), 'no gap').toEqual([...posted].sort((a, b) => Number(a) - Number(b)));
    expect(withId, 'resume points only move forward').toEqual([...withId].sort((a, b) => Number(a) - Number(b)));
  });

  it('never replays or pushes another topic’s or another mesh’s messages', async () => {
    const other = await createTestMesh(tb, 'elsewhere');
    const otherState = (await tb.broker.app.get(MeshDirectory).get(other.meshId))!;
    const stranger: TopicScope = { state: otherState, member: otherState.byPubkey.get(other.owner.publicKey)!, topics: null };
    await topics.create(scope.alice, { name: 'ops', visibility: 'public', description: '', encryption: 'plaintext' });
    const start = await post(stranger, 'general', 'other mesh before');
    await post(scope.alice, 'ops', 'other topic before');
    const mine = await post(scope.alice, 'general', 'this topic before');
    const c = await open('general', { key: bobKey, lastEventId: start });
    await waitFor(() => c.events.some((e) => e.id === mine), 'the replay');
    await post(stranger, 'general', 'other mesh live');
    await post(scope.alice, 'ops', 'other topic live');
    const live = await post(scope.alice, 'general', 'this topic live');
    await waitFor(() => c.events.some((e) => e.id === live), 'the live message');
    const history = await topics.history(scope.bob, 'general', { after: start, limit: 200 });
    expect(c.messages().map((m) => m.id)).toEqual(history.messages.map((m) => m.id));
    expect(c.messages().every((m) => m.topic === 'general' && !/other/.test(m.text ?? ''))).toBe(true);
  });

  it('ends the stream with an error event when the key is revoked or expires, or its member is revoked', async () => {
    const created = await keys.create(scope.bob.state, scope.bob.member, { label: 'to revoke', capabilities: ['read'] });
    const revoked = await open('general', { key: created.secret });
    await waitFor(() => controller.open.streams === 1, 'the stream');
    await keys.revoke(scope.bob.state, scope.bob.member, created.id);
    await revoked.waitEnd(3_000);
    expect(revoked.errorEvent()).toMatchObject({ code: 'E_UNAUTHORIZED', message: expect.stringMatching(/revoked/) });

    const expiring = await keys.create(scope.bob.state, scope.bob.member, { label: 'short', capabilities: ['read'] });
    await tb.broker.app.get(DataSource).query(`UPDATE api_keys SET expires_at = now() + interval '700 milliseconds' WHERE id = $1`, [expiring.id]);
    const expired = await open('general', { key: expiring.secret });
    expect(expired.status).toBe(200);
    await expired.waitEnd(3_000);
    expect(expired.errorEvent()).toMatchObject({ code: 'E_UNAUTHORIZED', message: expect.stringMatching(/expired/) });

    await addMember(tb, mesh, 'carol');
    const carol = scope.bob.state.byName.get('carol')!;
    const carolKey = await keys.create(scope.bob.state, carol, { label: '', capabilities: ['read'] });
    const gone = await open('general', { key: carolKey.secret });
    await waitFor(() => controller.open.streams === 1, 'carol’s stream');
    await tb.broker.app.get(MeshesService).revokeMember(mesh.meshId, mesh.owner.publicKey, carol.pubkey);
    await gone.waitEnd(1_000);
    expect(gone.errorEvent()).toMatchObject({ code: 'E_REVOKED' });
    await waitFor(() => controller.open.streams === 0, 'every stream to end');
  });

  it('cuts off a client that stops reading instead of buffering the topic for it; it resumes with Last-Event-ID', async () => {
    await topics.create(scope.alice, { name: 'firehose', visibility: 'public', description: '', encryption: 'plaintext' });
    const slow = await open('firehose', { key: bobKey });
    slow.pause();
    await waitFor(() => controller.open.streams === 1, 'the stream');
    const text = 'lorem ipsum dolor sit amet '.repeat(550); // ~15 KB a message
    let posted: string[] = [];
    for (let i = 0; i < 800 && controller.open.streams === 1; i += 4) {
      posted.push(...(await Promise.all([0, 1, 2, 3].map((k) => post(scope.alice, 'firehose', `${i + k} ${text}`)))));
    }
    await waitFor(() => controller.open.streams === 0, 'the broker to cut the stream');
    posted = posted.sort((a, b) => Number(a) - Number(b));
    slow.resume();
    await slow.waitEnd();
    const got = slow.messages().map((m) => m.id);
    expect(slow.errorEvent()).toMatchObject({ code: 'E_SLOW_CONSUMER', message: expect.stringMatching(/Last-Event-ID/) });
    expect(slow.events.at(-1)!.event).toBe('error');
    expect(got.length).toBeLessThan(posted.length);
    expect(got).toEqual(posted.slice(0, got.length));
    // What the slow client missed is in the history: a resume replays it at the client's pace.
    const resumed = await open('firehose', { key: bobKey, lastEventId: slow.lastEventId! });
    await waitFor(() => resumed.events.length === posted.length - got.length, 'the resumed replay', 20_000);
    expect([...got, ...resumed.messages().map((m) => m.id)]).toEqual(posted);
  }, 90_000);

  it('drops its subscriptions when clients disconnect', async () => {
    const cs = await Promise.all([open('general', { key: bobKey }), open('general', { key: bobKey }), open('busy', { key: bobKey })]);
    await waitFor(() => controller.open.streams === 3 && controller.open.feeds === 2, 'three streams on two feeds');
    for (const c of cs) c.close();
    await waitFor(() => controller.open.streams === 0 && controller.open.feeds === 0, 'no stream and no feed left');
  });

  it('ends open streams with an error event when the broker shuts down', async () => {
    const c = await open('general', { key: bobKey });
    await waitFor(() => controller.open.streams === 1, 'the stream');
    await tb.broker.close();
    await c.waitEnd(2_000);
    expect(c.errorEvent()).toMatchObject({ code: 'E_UNAVAILABLE' });
  });
});
