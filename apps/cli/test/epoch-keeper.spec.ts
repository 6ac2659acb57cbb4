import { loadMeshes, type PeerInfo } from '@claudemesh/core';
import { parseIdentity } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { EpochKeeper } from '../src/daemon/epoch-keeper.js';
import { cli, json, type CliResult } from './helpers/cli.js';
import { sdkMemberOf } from './helpers/sdk-member.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };
const SLOW = 180_000;

type Name = 'alice' | 'bob' | 'erin';

/**
 * The daemon's EpochKeeper when its peer list lags the broker's view of the mesh: a joiner the
 * broker names (`rotate.joined` of `epoch_get`) who joined after the pass read its peer list. The
 * keeper reads the list again before rotating, and never makes an epoch that adds nobody (which
 * the broker would answer with a request for yet another rotation).
 */
describe("the daemon's epoch keeper and a joiner its peer list does not show yet", () => {
  let tb: TestBroker;
  const who = {} as Record<Name, string>;
  const closers: Array<() => Promise<unknown>> = [];
  const ok = async (name: Name, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(who[name], args, { ...direct, ...env });
    expect(r.code, `${name} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const keyOf = (name: Name): string => parseIdentity(loadMeshes(who[name])[0]!.identity).publicKey;

  /** alice's keeper on a connection whose peer list leaves out erin for the first `staleReads` reads (all of them when Infinity). */
  const keeperOfAlice = async (staleReads: number) => {
    const alice = await sdkMemberOf(who.alice);
    closers.push(() => alice.client.close());
    const real = alice.client.listPeers.bind(alice.client);
    let reads = 0;
    alice.client.listPeers = async (): Promise<PeerInfo[]> => {
      const peers = await real();
      reads += 1;
      return reads <= staleReads ? peers.filter((p) => p.member_pubkey !== keyOf('erin')) : peers;
    };
    const log: string[] = [];
    const keeper = new EpochKeeper(loadMeshes(who.alice)[0]!, who.alice, alice.client, (line) => log.push(line));
    return { keeper, log, reads: () => reads };
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    for (const name of ['alice', 'bob', 'erin'] as const) who[name] = mkdtempSync(join(tmpdir(), 'cmh-keeper-'));
    await ok('alice', ['mesh', 'create', 'keeper', '--broker', tb.url, '--name', 'alice'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const { link } = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '3', '--json']));
    await ok('bob', ['join', link, '--name', 'bob']);
    await ok('alice', ['topic', 'create', 'ops', '--e2e']);
    // alice's CLI makes epoch 1 (alice and bob) and keeps its key in her keyring file, where the keeper reads it.
    await ok('alice', ['topic', 'send', 'ops', 'before erin']);
    await ok('erin', ['join', link, '--name', 'erin']);
  }, SLOW);
  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await tb?.close();
    for (const h of Object.values(who)) rmSync(h, { recursive: true, force: true });
  });

  it('makes no epoch while the joiner stays unknown to it, and says so once', async () => {
    const { keeper, log } = await keeperOfAlice(Infinity);
    const bob = await sdkMemberOf(who.bob);
    closers.push(() => bob.client.close());
    expect((await bob.client.getEpochs('topic:ops')).rotate).toMatchObject({ reason: 'member_added', joined: [keyOf('erin')] });
    for (let pass = 0; pass < 2; pass++) {
      keeper.sweep();
      await keeper.idle();
    }
    expect((await bob.client.getEpochs('topic:ops')).currentEpoch).toBe(1);
    expect(log.filter((l) => l.includes('not rotated yet'))).toEqual(['keeper: topic:ops: not rotated yet: the 1 joiner(s) the broker names are not in this member\'s peer list']);
    expect(log.join('\n')).not.toContain('rotated the key');
  }, SLOW);

  it('reads its peer list again when the broker names a joiner it lacks, and lists the joiner in the one epoch it makes', async () => {
    const { keeper, log, reads } = await keeperOfAlice(1);
    keeper.sweep();
    await keeper.idle();
    expect(reads()).toBe(2);
    expect(log).toContain('keeper: rotated the key of topic:ops to epoch 2 (member_added: 1 joined)');
    const erin = await sdkMemberOf(who.erin);
    closers.push(() => erin.client.close());
    const page = await erin.client.getEpochs('topic:ops');
    expect(page.currentEpoch).toBe(2);
    expect(page.manifests.at(-1)!.manifest.members).toContain(keyOf('erin'));
    expect(page.rotate).toBeUndefined();
    // Nothing more to do: another pass makes no epoch.
    keeper.sweep();
    await keeper.idle();
    expect((await erin.client.getEpochs('topic:ops')).currentEpoch).toBe(2);
  }, SLOW);
});
