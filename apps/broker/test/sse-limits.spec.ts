import { signedRequest } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { TopicStreamController } from '../src/api/topic-stream.controller.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';
import { api, issueKey } from './bearer-api.js';
import { SseClient } from './sse-client.js';

/**
 * SSE streams end when their access ends, through bus events (docs/topics.md §SSE): the periodic
 * re-read is set to ten minutes here, so only the event can end a stream within the test. And one
 * key, or one member, holds a bounded number of streams.
 */
describe.each(dbKinds())('SSE revocation and stream caps on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let controller: TopicStreamController;
  const clients: SseClient[] = [];

  const open = async (key: string, topic = 'general'): Promise<SseClient> => {
    const c = await SseClient.open(`${tb.url}/api/v1/topics/${topic}/stream`, { key });
    clients.push(c);
    return c;
  };
  const readKey = async (who: Identity, label: string): Promise<{ id: string; secret: string }> => issueKey(tb, mesh, who, { label, capabilities: ['read', 'send'] });
  /** Hang detection only: the event ends a stream long before this, the ten-minute re-read long after. */
  const END_WITHIN_MS = 15_000;

  beforeAll(async () => {
    tb = await startTestBroker(kind, { CLAUDEMESH_SSE_RECHECK_MS: '600000', CLAUDEMESH_SSE_MAX_STREAMS_PER_KEY: '2', CLAUDEMESH_SSE_MAX_STREAMS_PER_MEMBER: '3' });
    mesh = await createTestMesh(tb, 'sse-limits');
    alice = await addMember(tb, mesh, 'alice');
    controller = tb.broker.app.get(TopicStreamController);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await waitFor(() => controller.open.streams === 0, 'every stream closed');
  });
  afterAll(async () => tb?.close());

  it('ends a stream with event: error E_UNAUTHORIZED as soon as its key is revoked', async () => {
    const key = await readKey(alice, 'to revoke');
    const stream = await open(key.secret);
    expect(stream.status).toBe(200);
    await waitFor(() => controller.open.streams === 1, 'the stream');
    await signedRequest(tb.url, alice, mesh.meshId, 'DELETE', `/api/v1/meshes/${mesh.meshId}/apikeys/${key.id}`);
    // The bound: the stream has ended on the broker before the revoking request answered.
    expect(controller.open.streams).toBe(0);
    await stream.waitEnd(END_WITHIN_MS);
    expect(stream.errorEvent()).toEqual({ code: 'E_UNAUTHORIZED', message: 'this API key has been revoked' });
    expect(stream.events.at(-1)!.event).toBe('error');
  });

  it('ends a stream with E_REVOKED as soon as its member is revoked', async () => {
    const carol = await addMember(tb, mesh, 'carol');
    const key = await readKey(carol, 'carol');
    const stream = await open(key.secret);
    await waitFor(() => controller.open.streams === 1, 'the stream');
    await signedRequest(tb.url, mesh.owner, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/members/${carol.publicKey}/revoke`);
    expect(controller.open.streams).toBe(0);
    await stream.waitEnd(END_WITHIN_MS);
    expect(stream.errorEvent()).toMatchObject({ code: 'E_REVOKED' });
  });

  it('ends a stream with E_UNAUTHORIZED when its key expires', async () => {
    const key = await readKey(alice, 'expiring');
    await tb.broker.app.get(DataSource).query(`UPDATE api_keys SET expires_at = now() + interval '1 second' WHERE id = $1`, [key.id]);
    const stream = await open(key.secret);
    expect(stream.status).toBe(200);
    await stream.waitEnd(END_WITHIN_MS);
    expect(stream.errorEvent()).toEqual({ code: 'E_UNAUTHORIZED', message: 'this API key has expired' });
  });

  it('ends a stream of a private topic with E_FORBIDDEN as soon as its member leaves the topic', async () => {
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    await tb.broker.app.get(TopicsService).create({ state, member: state.byPubkey.get(alice.publicKey)!, topics: null }, { name: 'inner', visibility: 'private', description: '', encryption: 'plaintext' });
    const key = await readKey(alice, 'inner');
    const stream = await open(key.secret, 'inner');
    await waitFor(() => controller.open.streams === 1, 'the stream');
    expect((await api(tb, key.secret, 'POST', '/topics/inner/leave')).body).toEqual({ left: true });
    expect(controller.open.streams).toBe(0);
    await stream.waitEnd(END_WITHIN_MS);
    expect(stream.errorEvent()).toEqual({ code: 'E_FORBIDDEN', message: 'you left #inner, a private topic' });
  });

  it('refuses a key’s stream beyond its cap with 429 E_RATE_LIMITED, and a member’s beyond the member cap', async () => {
    const first = await readKey(alice, 'first');
    const second = await readKey(alice, 'second');
    const a1 = await open(first.secret);
    const a2 = await open(first.secret);
    const a3 = await open(first.secret);
    expect([a1.status, a2.status, a3.status]).toEqual([200, 200, 429]);
    expect(a3.res.headers['content-type']).toMatch(/application\/json/);
    expect((await a3.json()).error).toMatchObject({ code: 'E_RATE_LIMITED', message: expect.stringMatching(/2 open streams/) });

    // The member's third stream, through another key, fits; its fourth does not.
    const b1 = await open(second.secret);
    const b2 = await open(second.secret);
    expect([b1.status, b2.status]).toEqual([200, 429]);
    expect((await b2.json()).error).toMatchObject({ code: 'E_RATE_LIMITED', message: expect.stringMatching(/3 open streams over all its keys/) });

    // Closing a stream frees its slot.
    a1.close();
    await waitFor(() => controller.open.streams === 2, 'the closed stream to end');
    const again = await open(first.secret);
    expect(again.status).toBe(200);
    // Another member is not affected by alice's streams.
    const owners = await open((await readKey(mesh.owner, 'owner')).secret);
    expect(owners.status).toBe(200);
  });
});
