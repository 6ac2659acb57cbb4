import { ProtocolError, revokeMember, type EpochEvent, type MeshClient } from '@claudemesh/core';
import {
  firstEpoch, generateIdentity, nextEpoch, openEpochSeal, sealEpochKey, signManifest, topicScope, verifyManifestChain, type EpochManifest, type Identity,
  type NewEpoch, type SignedEpochManifest,
} from '@claudemesh/crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { ApiKeysService } from '../src/apikeys/api-keys.service.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService, type TopicScope } from '../src/topics/topics.service.js';
import { api } from './bearer-api.js';
import { buildHello } from './hello-frames.js';

type Name = 'alice' | 'bob' | 'carol' | 'dave' | 'erin';

/** Key epochs over the WebSocket (docs/protocol.md §5.6): ordering, validation, seals, pushes. */
describe.each(dbKinds())('key epochs over WebSocket on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let topics: TopicsService;
  const ids = {} as Record<Name, Identity>;
  const open: MeshClient[] = [];
  let topicCount = 0;

  /** A connected client and every epoch push it gets. */
  const connect = async (who: Identity): Promise<{ client: MeshClient; got: EpochEvent[] }> => {
    const got: EpochEvent[] = [];
    const client = await connectClient(tb, mesh, who);
    client.on('epoch', (e) => got.push(e));
    open.push(client);
    return { client, got };
  };
  const ownerScope = async (): Promise<TopicScope> => {
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    return { state, member: state.byPubkey.get(mesh.owner.publicKey)!, topics: null };
  };
  /** A fresh public topic per test, so epochs of one test never meet another's. */
  const newTopic = async (visibility: 'public' | 'private' = 'public', members: Name[] = []): Promise<string> => {
    const name = `epochs-${++topicCount}`;
    const scope = await ownerScope();
    await topics.create(scope, { name, visibility, description: '' });
    for (const m of members) await topics.addMember(scope, name, m);
    return name;
  };
  const keysOf = (...names: Name[]): string[] => names.map((n) => ids[n].publicKey);
  const first = (topic: string, creator: Name, members: Name[]): NewEpoch =>
    firstEpoch({ meshId: mesh.meshId, scope: topicScope(topic), members: keysOf(...members), creator: ids[creator] });
  const codeOf = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return 'ok';
    } catch (error) {
      return (error as ProtocolError).code;
    }
  };
  const quiet = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'epochs-ws');
    for (const n of ['alice', 'bob', 'carol', 'dave', 'erin'] as const) ids[n] = await addMember(tb, mesh, n);
    topics = tb.broker.app.get(TopicsService);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => tb?.close());

  it('stores epoch 1 with its seals; each member opens its own seal with its identity and gets the same key; pushes reach only listed members', async () => {
    const topic = await newTopic();
    const alice = await connect(ids.alice);
    const bob = await connect(ids.bob);
    const carol = await connect(ids.carol);
    const dave = await connect(ids.dave); // a member of the mesh and of the public topic, but not listed
    const e1 = first(topic, 'alice', ['alice', 'bob', 'carol']);
    const seals = [sealEpochKey(e1.context, ids.alice.publicKey, ids.alice), sealEpochKey(e1.context, ids.bob.publicKey, ids.alice)];
    const ack = await alice.client.publishEpoch(e1.signed, seals);
    expect(ack).toEqual({ scope: `topic:${topic}`, epoch: 1, manifestHash: e1.context.manifestHash });

    await waitFor(() => bob.got.length === 1 && carol.got.length === 1 && alice.got.length === 1, 'epoch_new to every listed member');
    expect(bob.got[0]).toMatchObject({ scope: `topic:${topic}`, epoch: 1, manifest: { manifest: e1.signed.manifest, sig: e1.signed.sig }, seal: { recipient: ids.bob.publicKey } });
    expect(carol.got[0]!.seal).toBeUndefined();
    await quiet();
    expect(dave.got).toEqual([]);

    const keys: string[] = [];
    for (const [who, c] of [['alice', alice.client], ['bob', bob.client]] as const) {
      const page = await c.getEpochs(`topic:${topic}`);
      expect(page).toMatchObject({ currentEpoch: 1, hasMore: false, missing: [ids.carol.publicKey] });
      const chain = verifyManifestChain(page.manifests, { authorities: [ids.alice.publicKey] });
      expect(chain.ok).toBe(true);
      expect(page.seals).toHaveLength(1);
      const { epoch: _epoch, ...seal } = page.seals[0]!;
      const opened = openEpochSeal(seal, { manifest: page.manifests[0]!.manifest as EpochManifest, recipient: ids[who] });
      keys.push(Buffer.from(opened.epochKey).toString('hex'));
    }
    expect(keys[0]).toBe(keys[1]);
    expect(keys[0]).toBe(Buffer.from(e1.context.epochKey).toString('hex'));
    // A reader of the topic that is not listed sees the manifests, but no seal and no `missing`.
    const seen = await dave.client.getEpochs(`topic:${topic}`);
    expect(seen).toMatchObject({ currentEpoch: 1, seals: [] });
    expect(seen.missing).toBeUndefined();
  });

  it('re-seals for a member that lacked a seal: pushed live as epoch_seal_new and served by epoch_get; a second seal for it is ok and dropped', async () => {
    const topic = await newTopic();
    const alice = await connect(ids.alice);
    const bob = await connect(ids.bob);
    const carol = await connect(ids.carol);
    const e1 = first(topic, 'alice', ['alice', 'bob', 'carol']);
    await alice.client.publishEpoch(e1.signed, [sealEpochKey(e1.context, ids.alice.publicKey, ids.alice), sealEpochKey(e1.context, ids.bob.publicKey, ids.alice)]);
    await waitFor(() => carol.got.length === 1, 'epoch_new to carol');
    expect((await carol.client.getEpochs(`topic:${topic}`)).missing).toEqual([ids.carol.publicKey]);

    // Bob opened his seal, so he holds the key and re-seals it for carol.
    const bobPage = await bob.client.getEpochs(`topic:${topic}`);
    const { epoch: _e, ...bobSeal } = bobPage.seals[0]!;
    const context = openEpochSeal(bobSeal, { manifest: bobPage.manifests[0]!.manifest as EpochManifest, recipient: ids.bob });
    const forCarol = sealEpochKey(context, ids.carol.publicKey, ids.bob);
    await bob.client.addSeals(`topic:${topic}`, 1, [forCarol]);
    await waitFor(() => carol.got.length === 2, 'epoch_seal_new to carol');
    expect(carol.got[1]).toEqual({ scope: `topic:${topic}`, epoch: 1, seal: { epoch: 1, ...forCarol } });

    const page = await carol.client.getEpochs(`topic:${topic}`);
    expect(page.missing).toEqual([]);
    expect(page.seals).toEqual([{ epoch: 1, ...forCarol }]);
    expect(Buffer.from(openEpochSeal(forCarol, { manifest: page.manifests[0]!.manifest as EpochManifest, recipient: ids.carol }).epochKey)).toEqual(Buffer.from(e1.context.epochKey));

    // A second seal for carol (from alice) is answered ok; the first one stays, and nothing is pushed.
    await alice.client.addSeals(`topic:${topic}`, 1, [sealEpochKey(e1.context, ids.carol.publicKey, ids.alice)]);
    expect((await carol.client.getEpochs(`topic:${topic}`)).seals).toEqual([{ epoch: 1, ...forCarol }]);
    await quiet();
    expect(carol.got).toHaveLength(2);

    // Only a member of the epoch seals, only as itself, only to members of the epoch.
    const dave = await connect(ids.dave);
    expect(await codeOf(dave.client.addSeals(`topic:${topic}`, 1, [sealEpochKey(e1.context, ids.carol.publicKey, ids.dave)]))).toBe('E_FORBIDDEN');
    expect(await codeOf(bob.client.addSeals(`topic:${topic}`, 1, [sealEpochKey(e1.context, ids.carol.publicKey, ids.alice)]))).toBe('E_FORBIDDEN');
    const outsider = { ...sealEpochKey({ ...e1.context, members: new Set([...e1.context.members, ids.dave.publicKey]) }, ids.dave.publicKey, ids.bob) };
    expect(await codeOf(bob.client.addSeals(`topic:${topic}`, 1, [outsider]))).toBe('E_EPOCH_INVALID');
    expect(await codeOf(bob.client.addSeals(`topic:${topic}`, 2, [forCarol]))).toBe('E_NOT_FOUND');
  });

  it('accepts exactly one of two concurrent epoch 2 built on epoch 1; the other gets E_EPOCH_CONFLICT with the current epoch, and its retry on top is epoch 3', async () => {
    const topic = await newTopic();
    const alice = await connect(ids.alice);
    const bob = await connect(ids.bob);
    const members: Name[] = ['alice', 'bob', 'carol'];
    const e1 = first(topic, 'alice', members);
    await alice.client.publishEpoch(e1.signed, []);
    // Epoch 1 of a scope is accepted once.
    const again = first(topic, 'alice', members);
    expect(await codeOf(alice.client.publishEpoch(again.signed, []))).toBe('E_EPOCH_CONFLICT');

    const byAlice = nextEpoch(e1.signed.manifest, { members: keysOf(...members), reason: 'manual', creator: ids.alice });
    const byBob = nextEpoch(e1.signed.manifest, { members: keysOf(...members), reason: 'manual', creator: ids.bob });
    const results = await Promise.allSettled([alice.client.publishEpoch(byAlice.signed, []), bob.client.publishEpoch(byBob.signed, [])]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(ProtocolError);
    expect(lost[0]!.reason).toMatchObject({ code: 'E_EPOCH_CONFLICT', details: { current_epoch: 2 } });

    // The loser fetches the chain, builds on the winner's epoch 2 and publishes epoch 3.
    const loser = results[0]!.status === 'rejected' ? 'alice' : 'bob';
    const loserClient = loser === 'alice' ? alice.client : bob.client;
    const page = await loserClient.getEpochs(`topic:${topic}`);
    const chain = verifyManifestChain(page.manifests, { authorities: [ids.alice.publicKey] });
    expect(chain.ok && chain.manifest.epoch).toBe(2);
    const e3 = nextEpoch(page.manifests[1]!.manifest as EpochManifest, { members: keysOf(...members), reason: 'manual', creator: ids[loser] });
    expect(await loserClient.publishEpoch(e3.signed, [])).toMatchObject({ epoch: 3 });
    const all = await bob.client.getEpochs(`topic:${topic}`);
    expect(all.manifests.map((m) => m.manifest.epoch)).toEqual([1, 2, 3]);
    expect(verifyManifestChain(all.manifests, { authorities: [ids.alice.publicKey] }).ok).toBe(true);
    expect((await bob.client.getEpochs(`topic:${topic}`, 2)).manifests.map((m) => m.manifest.epoch)).toEqual([3]);
  });

  it('refuses forged manifests and seals, and stores nothing for them', async () => {
    const topic = await newTopic();
    const alice = await connect(ids.alice);
    const scope = `topic:${topic}`;
    const e1 = first(topic, 'alice', ['alice', 'bob']);
    const refused = async (signed: SignedEpochManifest, seals = [] as ReturnType<typeof sealEpochKey>[]): Promise<string> => codeOf(alice.client.publishEpoch(signed, seals));

    // Bad signature: a member added after signing.
    const tampered = { ...e1.signed, manifest: { ...e1.signed.manifest, members: keysOf('alice', 'bob', 'carol').sort() } };
    expect(await refused(tampered)).toBe('E_EPOCH_INVALID');
    // Wrong mesh, signed by its creator.
    const otherMesh = firstEpoch({ meshId: '00000000-0000-4000-8000-000000000000', scope, members: keysOf('alice'), creator: ids.alice });
    expect(await refused(otherMesh.signed)).toBe('E_EPOCH_INVALID');
    // Created by a key that is not a member of the mesh (published by alice).
    const stranger = generateIdentity();
    const byStranger = firstEpoch({ meshId: mesh.meshId, scope, members: [stranger.publicKey, ids.alice.publicKey], creator: stranger });
    expect(await refused(byStranger.signed)).toBe('E_FORBIDDEN');
    // Lists a stranger.
    expect(await refused(firstEpoch({ meshId: mesh.meshId, scope, members: [stranger.publicKey, ids.alice.publicKey], creator: ids.alice }).signed)).toBe('E_EPOCH_INVALID');
    // A seal whose sealer is not in the manifest.
    const byDave = sealEpochKey({ ...e1.context, members: new Set([...e1.context.members, ids.dave.publicKey]) }, ids.bob.publicKey, ids.dave);
    expect(await refused(e1.signed, [byDave])).toBe('E_FORBIDDEN');
    // A seal signed for another manifest.
    const other = first(topic, 'alice', ['alice', 'bob']);
    expect(await refused(e1.signed, [sealEpochKey(other.context, ids.bob.publicKey, ids.alice)])).toBe('E_EPOCH_INVALID');
    expect(await alice.client.getEpochs(scope)).toMatchObject({ currentEpoch: 0, manifests: [], seals: [], hasMore: false });

    await alice.client.publishEpoch(e1.signed, []);
    // Broken chain: epoch 2 whose prev_epoch_hash is not epoch 1's, signed by its creator.
    const next = nextEpoch(e1.signed.manifest, { members: keysOf('alice', 'bob'), reason: 'manual', creator: ids.alice });
    const broken = signManifest({ ...next.signed.manifest, prev_epoch_hash: 'A'.repeat(43) }, ids.alice);
    expect(await refused(broken)).toBe('E_EPOCH_CONFLICT');
    // Skips an epoch.
    expect(await refused(signManifest({ ...next.signed.manifest, epoch: 3 }, ids.alice))).toBe('E_EPOCH_CONFLICT');
    // Someone else's manifest, even a valid one, is published by its creator only.
    const bobNext = nextEpoch(e1.signed.manifest, { members: keysOf('alice', 'bob'), reason: 'manual', creator: ids.bob });
    expect(await refused(bobNext.signed)).toBe('E_FORBIDDEN');
    // Carol is not in epoch 1, so she may not make epoch 2 of the topic.
    const carol = await connect(ids.carol);
    const carolNext = nextEpoch(e1.signed.manifest, { members: keysOf('alice', 'bob', 'carol'), reason: 'manual', creator: ids.carol });
    expect(await codeOf(carol.client.publishEpoch(carolNext.signed, []))).toBe('E_FORBIDDEN');
    expect((await alice.client.getEpochs(scope)).manifests.map((m) => m.manifest.epoch)).toEqual([1]);
  });

  it('keeps private topics to their members, and the mesh scope to owners and admins for its first epoch', async () => {
    const topic = await newTopic('private', ['alice', 'bob']);
    const alice = await connect(ids.alice);
    const carol = await connect(ids.carol);
    expect(await codeOf(alice.client.publishEpoch(first(topic, 'alice', ['alice', 'carol']).signed, []))).toBe('E_FORBIDDEN');
    await alice.client.publishEpoch(first(topic, 'alice', ['alice', 'bob']).signed, []);
    expect(await codeOf(carol.client.getEpochs(`topic:${topic}`))).toBe('E_FORBIDDEN');
    expect(await codeOf(alice.client.getEpochs('topic:no-such-topic'))).toBe('E_NOT_FOUND');

    const meshEpoch = (creator: Identity): NewEpoch => firstEpoch({ meshId: mesh.meshId, scope: 'mesh', members: [creator.publicKey, ids.alice.publicKey], creator });
    expect(await codeOf(alice.client.publishEpoch(meshEpoch(ids.alice).signed, []))).toBe('E_FORBIDDEN');
    const owner = await connect(mesh.owner);
    expect(await owner.client.publishEpoch(meshEpoch(mesh.owner).signed, [])).toMatchObject({ scope: 'mesh', epoch: 1 });
  });

  it('refuses a revoked member in a manifest, and a revoked member cannot fetch epochs any more', async () => {
    const topic = await newTopic();
    const alice = await connect(ids.alice);
    const erin = await connect(ids.erin);
    await alice.client.publishEpoch(first(topic, 'alice', ['alice', 'erin']).signed, []);
    expect((await erin.client.getEpochs(`topic:${topic}`)).currentEpoch).toBe(1);
    await revokeMember(tb.url, mesh.owner, mesh.meshId, ids.erin.publicKey);
    const e1 = (await alice.client.getEpochs(`topic:${topic}`)).manifests[0]!.manifest as EpochManifest;
    // Revoked members are not "missing": nobody owes them a seal.
    expect((await alice.client.getEpochs(`topic:${topic}`)).missing).toEqual([ids.alice.publicKey]);
    const withErin = nextEpoch(e1, { members: keysOf('alice', 'erin'), reason: 'manual', creator: ids.alice });
    expect(await codeOf(alice.client.publishEpoch(withErin.signed, []))).toBe('E_FORBIDDEN');

    // Erin's session was closed; a new hello is refused before any frame.
    const raw = await RawPeer.connect(tb.wsUrl);
    raw.send(buildHello(mesh.meshId, ids.erin, raw.challenge));
    expect(await raw.next('error')).toMatchObject({ code: 'E_REVOKED' });
    raw.send({ type: 'epoch_get', req_id: 'g1', scope: `topic:${topic}` });
    await raw.waitClosed();
    expect(raw.frames.some((f) => f['type'] === 'epochs')).toBe(false);
  });

  it("serves a topic's epochs over REST to an API key: its member's seals, and only the topics the key may see", async () => {
    const topic = await newTopic();
    const alice = await connect(ids.alice);
    const e1 = first(topic, 'alice', ['alice', 'bob']);
    const forBob = sealEpochKey(e1.context, ids.bob.publicKey, ids.alice);
    await alice.client.publishEpoch(e1.signed, [forBob]);
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    const keys = tb.broker.app.get(ApiKeysService);
    const bobKey = await keys.create(state, state.byPubkey.get(ids.bob.publicKey)!, { label: 'bob-bot', capabilities: ['read'] });
    const page = await api<{ current_epoch: number; manifests: Array<{ manifest: EpochManifest; sig: string }>; seals: unknown[]; missing?: string[] }>(tb, bobKey.secret, 'GET', `/topics/${topic}/epochs`);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ scope: `topic:${topic}`, current_epoch: 1, seals: [{ epoch: 1, ...forBob }], missing: [ids.alice.publicKey], has_more: false });
    expect(verifyManifestChain(page.body.manifests, { authorities: [ids.alice.publicKey] }).ok).toBe(true);
    expect((await api(tb, bobKey.secret, 'GET', `/topics/${topic}/epochs?after_epoch=1`)).body).toMatchObject({ current_epoch: 1, manifests: [] });
    const scoped = await keys.create(state, state.byPubkey.get(ids.bob.publicKey)!, { label: 'bob-general', capabilities: ['read'], topics: ['general'] });
    expect((await api<{ error: { code: string } }>(tb, scoped.secret, 'GET', `/topics/${topic}/epochs`)).body.error.code).toBe('E_FORBIDDEN');
  });

  it('pages a long chain: has_more until the last epoch, and after_epoch resumes where the page ended', async () => {
    const topic = await newTopic();
    const alice = await connect(ids.alice);
    let last = first(topic, 'alice', ['alice', 'bob']);
    await alice.client.publishEpoch(last.signed, []);
    for (let epoch = 2; epoch <= 70; epoch++) {
      last = nextEpoch(last.signed.manifest, { members: keysOf('alice', 'bob'), reason: 'scheduled', creator: ids.alice });
      await alice.client.publishEpoch(last.signed, []);
    }
    const seen: SignedEpochManifest[] = [];
    let after = 0;
    for (;;) {
      const page = await alice.client.getEpochs(`topic:${topic}`, after);
      expect(page.currentEpoch).toBe(70);
      seen.push(...page.manifests);
      after = page.manifests[page.manifests.length - 1]!.manifest.epoch;
      if (!page.hasMore) break;
      expect(page.manifests.length).toBeGreaterThan(1);
    }
    expect(seen.map((m) => m.manifest.epoch)).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
    expect(verifyManifestChain(seen, { authorities: [ids.alice.publicKey] }).ok).toBe(true);
  });

  it('lets exactly one of four racing publishers of the same epoch win, on its own connection each', async () => {
    const topic = await newTopic();
    const racers: Name[] = ['alice', 'bob', 'carol', 'dave'];
    const clients = await Promise.all(racers.map((n) => connect(ids[n])));
    const e1 = first(topic, 'alice', racers);
    await clients[0]!.client.publishEpoch(e1.signed, []);
    const next = racers.map((n) => nextEpoch(e1.signed.manifest, { members: keysOf(...racers), reason: 'manual', creator: ids[n] }));
    const results = await Promise.allSettled(clients.map((c, i) => c.client.publishEpoch(next[i]!.signed, [])));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
      expect(r.reason).toMatchObject({ code: 'E_EPOCH_CONFLICT', details: { current_epoch: 2 } });
    }
    const page = await clients[0]!.client.getEpochs(`topic:${topic}`);
    const winner = results.findIndex((r) => r.status === 'fulfilled');
    expect(page.manifests.map((m) => m.manifest.created_by)).toEqual([ids.alice.publicKey, ids[racers[winner]!].publicKey]);
  });
});
