import { loadMeshes, type KeyringSnapshot } from '@claudemesh/core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { keyringPath } from '../src/topic-keyring.js';
import { cli, json, type CliResult } from './helpers/cli.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };
const SLOW = 120_000;

interface InboxLine {
  text: string;
  to: string;
}

/**
 * `@group` and `*` under the mesh scope's key epochs through the real CLI (docs/protocol.md §5.2
 * `send`): the owner's first broadcast creates epoch 1 in its keyring file, members read it with
 * `inbox`, and after a revocation a member's next group send rotates; the revoked member's
 * keyring never gets the new key.
 */
describe('claudemesh send @group and * under mesh epochs', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const who = {} as Record<'olive' | 'bob' | 'carol', string>;
  let meshId = '';
  const ok = async (name: keyof typeof who, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(who[name], args, { ...direct, ...env });
    expect(r.code, `${name} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const inbox = async (name: keyof typeof who): Promise<InboxLine[]> =>
    (await ok(name, ['inbox', '--all', '--json'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as InboxLine);
  const sql = <T>(query: string, params: unknown[] = []): Promise<T[]> => tb.broker.app.get(DataSource).query(query, params);
  const epochs = async () =>
    (await sql<{ epoch: number; reason: string }>(`SELECT epoch, manifest::json->>'reason' AS reason FROM epoch_manifests WHERE mesh_id = $1 AND scope = 'mesh' ORDER BY epoch`, [meshId]))
      .map((r) => [Number(r.epoch), r.reason]);
  const lastRow = async () => (await sql<{ target: string; key_epoch: number | null }>('SELECT target, key_epoch FROM messages WHERE mesh_id = $1 ORDER BY id DESC LIMIT 1', [meshId]))[0]!;
  const ringEpochs = (name: keyof typeof who): string[] => {
    const snapshot = JSON.parse(readFileSync(keyringPath(who[name], meshId), 'utf8')) as KeyringSnapshot;
    return Object.keys(snapshot.scopes['mesh']?.keys ?? {});
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    for (const name of ['olive', 'bob', 'carol'] as const) {
      who[name] = mkdtempSync(join(tmpdir(), 'cmh-mesh-epochs-'));
      homes.push(who[name]);
    }
    await ok('olive', ['mesh', 'create', 'epochs', '--broker', tb.url, '--name', 'olive'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    meshId = loadMeshes(who.olive)[0]!.mesh_id;
    const { link } = json<{ link: string }>(await ok('olive', ['mesh', 'invite', '--uses', '2', '--json']));
    await ok('bob', ['join', link, '--name', 'bob']);
    await ok('carol', ['join', link, '--name', 'carol']);
    await ok('bob', ['group', 'join', '@ops']);
    await ok('carol', ['group', 'join', '@ops']);
  }, SLOW);
  afterAll(async () => {
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it("seals the owner's first broadcast under a new mesh epoch; inbox opens it; a revocation rotates at the next group send", async () => {
    await ok('olive', ['send', '*', 'all hands at 10']);
    expect(await epochs()).toEqual([[1, 'create']]);
    expect(await lastRow()).toEqual({ target: '*', key_epoch: 1 });
    expect(ringEpochs('olive')).toEqual(['1']);
    expect((await inbox('bob')).map((m) => [m.to, m.text])).toEqual([['*', 'all hands at 10']]);
    expect((await inbox('carol')).map((m) => m.text)).toEqual(['all hands at 10']);
    expect(ringEpochs('bob')).toEqual(['1']);

    await ok('olive', ['member', 'revoke', 'carol', '-y']);
    await ok('bob', ['send', '@ops', 'carol is gone; new plan']);
    expect(await epochs()).toEqual([[1, 'create'], [2, 'member_removed']]);
    expect(await lastRow()).toEqual({ target: '@ops', key_epoch: 2 });
    expect(ringEpochs('bob')).toEqual(['1', '2']);
    await ok('olive', ['send', '*', 'and a broadcast']);
    expect(await epochs()).toHaveLength(2);
    expect((await inbox('olive')).map((m) => m.text)).toEqual([]);
    expect((await inbox('bob')).map((m) => m.text)).toEqual(['all hands at 10', 'and a broadcast']);
    // carol's keyring holds epoch 1 only; the broker refuses her now.
    expect(ringEpochs('carol')).toEqual(['1']);
    expect((await cli(who.carol, ['inbox'], direct)).code).not.toBe(0);
  }, SLOW);
});
