import type { InboundMessage, MeshClient } from '@claudemesh/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { ApiKeysService } from '../src/apikeys/api-keys.service.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService, type TopicScope } from '../src/topics/topics.service.js';
import { httpRequest, RawSocket } from './raw-http.js';
import { SseClient } from './sse-client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Slow and idle clients against the HTTP server's timeouts (docs/protocol.md §8.4), with tiny limits. */
describe('HTTP timeouts', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const sockets: RawSocket[] = [];
  const clients: Array<SseClient | MeshClient> = [];
  const open = async (): Promise<RawSocket> => {
    const s = await RawSocket.open(tb.broker.port);
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded', {
      CLAUDEMESH_HTTP_HEADERS_TIMEOUT_MS: '300',
      CLAUDEMESH_HTTP_REQUEST_TIMEOUT_MS: '800',
      CLAUDEMESH_HTTP_IDLE_TIMEOUT_MS: '400',
      CLAUDEMESH_HTTP_KEEP_ALIVE_TIMEOUT_MS: '300',
      // No heartbeat during these tests: only the idle-timeout exemption keeps a quiet stream open.
      CLAUDEMESH_SSE_HEARTBEAT_MS: '3600000',
    });
    mesh = await createTestMesh(tb, 'slow');
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => tb?.close());

  it('closes a connection that trickles its request headers a byte at a time, answering E_SCHEMA "request incomplete"', async () => {
    const s = await open();
    const request = `GET /healthz HTTP/1.1\r\nHost: broker\r\nX-Slow: ${'a'.repeat(2_000)}\r\n\r\n`;
    s.trickle(request, 20);
    await s.waitClose();
    expect(s.answer()).toMatchObject({ status: 400, body: { error: { code: 'E_SCHEMA', message: 'request incomplete' } } });
  });

  it('closes a connection that sends its headers, then trickles its body', async () => {
    const s = await open();
    const body = JSON.stringify({ padding: 'x'.repeat(2_000) });
    s.write(`POST /api/v1/join HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    s.trickle(body, 20);
    await s.waitClose();
    expect(s.answer()).toMatchObject({ status: 400, body: { error: { code: 'E_SCHEMA', message: 'request incomplete' } } });
  });

  it('closes a connection that never sends a byte', async () => {
    const s = await open();
    await s.waitClose();
    expect(s.received).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('closes an idle keep-alive connection after its last answer', async () => {
    const s = await open();
    s.write('GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n');
    await s.waitClose();
    expect(s.answer().status).toBe(200);
  });

  it('keeps a quiet SSE stream open past the idle timeout and delivers to it', async () => {
    const topics = tb.broker.app.get(TopicsService);
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    const owner: TopicScope = { state, member: state.byPubkey.get(mesh.owner.publicKey)!, topics: null };
    const key = await tb.broker.app.get(ApiKeysService).create(state, owner.member, { label: 'stream', capabilities: ['read'] });
    const stream = await SseClient.open(`${tb.url}/api/v1/topics/general/stream`, { key: key.secret });
    clients.push(stream);
    expect(stream.status).toBe(200);
    await sleep(1_500); // several idle timeouts with no byte either way
    const { message } = await topics.post(owner, 'general', { text: 'after the quiet' });
    await waitFor(() => stream.events.length === 1 || stream.ended, 'the message on the stream');
    expect(stream.ended).toBe(false);
    expect(stream.messages().map((m) => m.id)).toEqual([message.id]);
  });

  it('keeps a quiet WebSocket session past the idle timeout', async () => {
    const bob = await addMember(tb, mesh, 'bob');
    const inbox: InboundMessage[] = [];
    const receiver = await connectClient(tb, mesh, bob, {}, inbox);
    const sender = await connectClient(tb, mesh, mesh.owner);
    clients.push(receiver, sender);
    await sleep(1_500);
    await sender.send('bob', 'after the quiet');
    await waitFor(() => inbox.length === 1, 'the DM');
    expect(inbox[0]!.text).toBe('after the quiet');
  });
});

/** Connection caps, total and per address (docs/protocol.md §8.4). Loopback 127.0.0.2, .3, … act as other clients. */
describe('HTTP connection caps', () => {
  let tb: TestBroker;
  const sockets: RawSocket[] = [];
  const open = async (from: string): Promise<RawSocket> => {
    const s = await RawSocket.open(tb.broker.port, from);
    sockets.push(s);
    return s;
  };
  const closeAll = async (): Promise<void> => {
    for (const s of sockets.splice(0)) s.destroy();
    await waitFor(() => tb.broker.connections.total === 0, 'the broker to see every socket closed');
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded', { CLAUDEMESH_HTTP_MAX_CONNECTIONS: '7', CLAUDEMESH_HTTP_MAX_CONNECTIONS_PER_IP: '4' });
  });
  afterEach(closeAll);
  afterAll(async () => tb?.close());

  it('refuses a flood of idle connections from one address beyond its cap with 429 E_RATE_LIMITED, and still serves another address', async () => {
    for (let i = 0; i < 4; i++) await open('127.0.0.1');
    await waitFor(() => tb.broker.connections.total === 4, 'four idle connections held');
    const refused = await open('127.0.0.1');
    await refused.waitClose();
    expect(refused.answer()).toMatchObject({ status: 429, body: { error: { code: 'E_RATE_LIMITED', message: expect.stringMatching(/4 connections/) } } });

    const served = await httpRequest(`${tb.url}/healthz`, { localAddress: '127.0.0.2' });
    expect(served.status).toBe(200);
    expect(JSON.parse(served.body)).toMatchObject({ status: 'ok' });
  });

  it('refuses connections beyond the broker’s total with 503 E_UNAVAILABLE', async () => {
    for (let i = 0; i < 4; i++) await open('127.0.0.1');
    for (let i = 0; i < 3; i++) await open('127.0.0.3');
    await waitFor(() => tb.broker.connections.total === 7, 'seven idle connections held');
    const refused = await open('127.0.0.4');
    await refused.waitClose();
    expect(refused.answer()).toMatchObject({ status: 503, body: { error: { code: 'E_UNAVAILABLE', message: expect.stringMatching(/maximum of 7/) } } });
    expect(tb.broker.connections.total).toBe(7);
  });

  it('gives an address its connections back when they close', async () => {
    for (let i = 0; i < 4; i++) await open('127.0.0.1');
    await waitFor(() => tb.broker.connections.byAddress.get('127.0.0.1') === 4, 'four connections from 127.0.0.1');
    await closeAll();
    expect((await httpRequest(`${tb.url}/healthz`, { localAddress: '127.0.0.1' })).status).toBe(200);
  });
});
