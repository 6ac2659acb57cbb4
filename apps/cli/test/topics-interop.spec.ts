import {
  EpochKeyring, MeshApi, MeshClient, createApiKey, loadMeshes, meshMembersWithKeys, openTopicMessages, publishRotation, topicSendEncrypted, wsUrlOf,
  type PeerType, type TopicMessage,
} from '@claudemesh/core';
import { cryptoReady, fromB64u, parseIdentity, topicScope, type Identity } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { cli, json, type CliResult } from './helpers/cli.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };
const SLOW = 180_000;

interface Msg {
  text: string | null;
  key_epoch?: number;
  sender: { display_name: string };
}
const lines = <T>(r: CliResult): T[] => r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

/**
 * Issue 13: the CLI, an SDK WebSocket client and a REST-with-keypair client (an API key whose member
 * holds its keypair, and no WebSocket) in one e2e topic: each posts, each opens the others'
 * messages, the REST client rotates the key; a REST-only human cannot post and reads ciphertext.
 */
describe.each(dbKinds())('e2e topic interop: CLI, SDK WebSocket and REST on %s', (kind) => {
  let tb: TestBroker;
  const homes: string[] = [];
  const who = {} as Record<'alice' | 'bob' | 'carol', string>;
  const ok = async (name: keyof typeof who, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(who[name], args, { ...direct, ...env });
    expect(r.code, `${name} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  /** The member a CLI home holds: its mesh and keypair. */
  const stored = (name: keyof typeof who): { meshId: string; url: string; identity: Identity; meshKey?: string; peerType: PeerType } => {
    const [mesh] = loadMeshes(who[name]);
    return { meshId: mesh!.mesh_id, url: mesh!.broker_url, identity: parseIdentity(mesh!.identity), ...(mesh!.mesh_key ? { meshKey: mesh!.mesh_key } : {}), peerType: mesh!.peer_type };
  };

  beforeAll(async () => {
    await cryptoReady();
    tb = await startTestBroker(kind);
    for (const name of ['alice', 'bob', 'carol'] as const) {
      who[name] = mkdtempSync(join(tmpdir(), 'cmh-interop-'));
      homes.push(who[name]);
    }
    await ok('alice', ['mesh', 'create', 'interop', '--broker', tb.url, '--name', 'alice'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const { link } = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '2', '--json']));
    await ok('bob', ['join', link, '--name', 'bob']);
    await ok('carol', ['join', link, '--name', 'carol']);
  }, SLOW);
  afterAll(async () => {
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('a CLI peer, an SDK WebSocket client and a REST-with-keypair client post and open each other; the REST client rotates; a REST-only human reads ciphertext only', async () => {
    // alice (CLI) creates the topic and posts: the CLI makes epoch 1 for every member with a key.
    await ok('alice', ['topic', 'create', 'ops', '--e2e']);
    await ok('alice', ['topic', 'send', 'ops', 'from the CLI']);

    // bob: REST only, with an API key he minted (signed with his member key) and his keypair for the keyring.
    const b = stored('bob');
    const key = await createApiKey(b.url, b.identity, b.meshId, { label: 'bob rest', capabilities: ['read', 'send'] });
    const bobApi = new MeshApi(b.url, key.secret);
    const members = await bobApi.members();
    const everyone = members.map((m) => m.member_pubkey);
    const admins = members.filter((m) => m.role === 'owner' || m.role === 'admin').map((m) => m.member_pubkey);
    const bobRing = new EpochKeyring({ me: b.identity, meshId: b.meshId, authorities: (_s, epoch) => (epoch === 1 ? everyone : admins) });
    const texts = async (api: MeshApi, ring: EpochKeyring) => (await openTopicMessages(api, ring, (await api.history('ops')).messages)).map((m) => m.text);
    expect(await texts(bobApi, bobRing)).toEqual(['from the CLI']);
    await topicSendEncrypted(bobApi, bobRing, 'ops', 'from REST', { members: () => meshMembersWithKeys(bobApi) });

    // bob rotates over REST: epoch 2, sealed for everyone with a key.
    expect(await publishRotation(bobApi, bobRing, topicScope('ops'), { members: await meshMembersWithKeys(bobApi), reason: 'scheduled' })).toBe(2);

    // carol: the SDK over the WebSocket reads all of it and posts under epoch 2.
    const c = stored('carol');
    const carol = new MeshClient({
      url: wsUrlOf(c.url), meshId: c.meshId, identity: c.identity, ...(c.meshKey ? { meshKey: fromB64u(c.meshKey) } : {}),
      peerType: c.peerType, reconnect: false, clientName: 'interop-test',
    });
    await carol.connect();
    const carolGot: TopicMessage[] = [];
    carol.on('topic', (m) => carolGot.push(m));
    try {
      const carolRing = new EpochKeyring({ me: c.identity, meshId: c.meshId, authorities: (_s, epoch) => (epoch === 1 ? everyone : admins) });
      const page = await carol.topicHistory('ops');
      expect((await openTopicMessages(carol, carolRing, page.messages)).map((m) => m.text)).toEqual(['from the CLI', 'from REST']);
      const sent = await topicSendEncrypted(carol, carolRing, 'ops', 'from the SDK', { members: () => meshMembersWithKeys(carol) });
      expect(sent.key_epoch).toBe(2);

      // alice's CLI opens the REST and SDK posts (syncing to epoch 2), and posts under it; the others open that.
      expect(lines<Msg>(await ok('alice', ['topic', 'history', 'ops', '--json'])).map((m) => [m.sender.display_name, m.text])).toEqual([
        ['alice', 'from the CLI'], ['bob', 'from REST'], ['carol', 'from the SDK'],
      ]);
      const again = json<{ message: Msg }>(await ok('alice', ['topic', 'send', 'ops', 'the CLI again', '--json']));
      expect(again.message).toMatchObject({ key_epoch: 2, text: 'the CLI again' });
      expect(await texts(bobApi, bobRing)).toEqual(['from the CLI', 'from REST', 'from the SDK', 'the CLI again']);
      await waitFor(() => carolGot.length === 1, 'carol to get the CLI post pushed');
      expect((await openTopicMessages(carol, carolRing, carolGot)).map((m) => m.text)).toEqual(['the CLI again']);
    } finally {
      await carol.close();
    }

    // A REST-only human enrolled by alice: told plainly it cannot post here; reads the sealed rows only.
    const a = stored('alice');
    const human = await createApiKey(a.url, a.identity, a.meshId, { label: 'hank', capabilities: ['read', 'send'], human: 'hank' });
    const hank = new MeshApi(a.url, human.secret);
    await expect(hank.post('ops', { text: 'may I?' })).rejects.toMatchObject({ code: 'E_TOPIC_MODE', message: expect.stringMatching(/REST-only member without a keypair/) });
    const seen = (await hank.history('ops')).messages;
    expect(seen.map((m) => [m.body_version, m.text, typeof m.ciphertext])).toEqual(Array(4).fill([2, undefined, 'string']));
    expect((await hank.epochs('ops')).seals).toEqual([]);
  }, SLOW);
});
