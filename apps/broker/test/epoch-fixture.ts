import { EpochKeyring, type MeshClient, type SealedTopicTransport } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import type { DbKind } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';

/** What the key-epoch tests of a describe share: its broker, a mesh with members ann and ben, and helpers. */
export interface EpochFixture {
  /** Set in beforeAll. */
  tb: TestBroker;
  mesh: TestMesh;
  ann: Identity;
  ben: Identity;
  /** The clients the tests opened (connect), closed after the describe. */
  clients: MeshClient[];
  connect(who: Identity): Promise<MeshClient>;
  /** A keyring for `me`: epoch 1 of a scope is ann's to make (the tests' authorities). */
  ring(me: Identity): EpochKeyring;
  /** A public end-to-end topic created by ann (through the service: the tests' shortcut). */
  createTopic(name: string): Promise<void>;
}

/** Inside a describe: a broker started with `env`, a mesh `meshName` with ann and ben, closed after the describe. */
export function useEpochFixture(kind: DbKind, meshName: string, env: Record<string, string> = {}): EpochFixture {
  const f = { clients: [] as MeshClient[] } as EpochFixture;
  beforeAll(async () => {
    f.tb = await startTestBroker(kind, env);
    f.mesh = await createTestMesh(f.tb, meshName);
    [f.ann, f.ben] = [await addMember(f.tb, f.mesh, 'ann'), await addMember(f.tb, f.mesh, 'ben')];
  });
  afterAll(async () => {
    await Promise.all(f.clients.map((c) => c.close()));
    await f.tb?.close();
  });
  f.connect = async (who) => {
    const c = await connectClient(f.tb, f.mesh, who);
    f.clients.push(c);
    return c;
  };
  f.ring = (me) => new EpochKeyring({ me, meshId: f.mesh.meshId, authorities: (_s, epoch) => (epoch === 1 ? [f.ann.publicKey] : []) });
  f.createTopic = async (name) => {
    const state = (await f.tb.broker.app.get(MeshDirectory).get(f.mesh.meshId))!;
    await f.tb.broker.app.get(TopicsService).create({ state, member: state.byPubkey.get(f.ann.publicKey)!, topics: null }, { name, visibility: 'public', description: '', encryption: 'e2e' });
  };
  return f;
}

/** A MeshClient as the e2e helpers take it, its methods bound so one can be wrapped, without its publish order (as over REST). */
export function transportOf(c: MeshClient): SealedTopicTransport {
  return {
    getEpochs: (s, after) => c.getEpochs(s, after),
    publishEpoch: (signed, seals) => c.publishEpoch(signed, seals),
    addSeals: (s, epoch, seals) => c.addSeals(s, epoch, seals),
    topicSendSealed: (topic, id, body, options) => c.topicSendSealed(topic, id, body, options),
  };
}
