import type { InboundMessage } from '@claudemesh/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { cli, json, type CliResult } from './helpers/cli.js';
import { sdkMemberOf } from './helpers/sdk-member.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };

/** `claudemesh message send tag:…` (docs/protocol.md §5.7) from the real CLI to SDK peers that advertise tags. */
describe('claudemesh message send tag:', () => {
  let tb: TestBroker;
  const homes = {} as Record<'alice' | 'bob' | 'carol', string>;
  const ok = async (who: keyof typeof homes, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(homes[who], args, { ...direct, ...env });
    expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    for (const n of ['alice', 'bob', 'carol'] as const) homes[n] = mkdtempSync(join(tmpdir(), `cmh-tag-${n}-`));
    await ok('alice', ['mesh', 'create', 'tags', '--broker', tb.url, '--name', 'alice'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const { link } = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '2', '--json']));
    await ok('bob', ['join', link, '--name', 'bob']);
    await ok('carol', ['join', link, '--name', 'carol']);
  }, 120_000);
  afterAll(async () => {
    await tb?.close();
    for (const h of Object.values(homes)) rmSync(h, { recursive: true, force: true });
  });

  it('sends to every live peer with the tag, or one with tag?:, and says so; a tag nobody carries exits 4', async () => {
    const bob = await sdkMemberOf(homes.bob);
    const carol = await sdkMemberOf(homes.carol);
    const got = { bob: [] as InboundMessage[], carol: [] as InboundMessage[] };
    bob.client.on('message', (m) => got.bob.push(m));
    carol.client.on('message', (m) => got.carol.push(m));
    try {
      await bob.client.setTags(['repo:billing']);
      await carol.client.setTags(['repo:billing', 'role:reviewer']);
      const all = await ok('alice', ['message', 'send', 'tag:repo:billing', 'the', 'invoice', 'job', 'failed']);
      expect(all.stdout).toBe('sent to 2 peer(s) with tag repo:billing: bob, carol\n');
      await waitFor(() => got.bob.length === 1 && got.carol.length === 1, 'both copies');
      expect(got.bob[0]!.text).toContain('the invoice job failed');

      const one = json<{ mode: string; sent: Array<{ display_name: string }> }>(await ok('alice', ['message', 'send', 'tag?:role:reviewer', 'review', 'please', '--json']));
      expect(one).toMatchObject({ mode: 'any', sent: [{ display_name: 'carol' }] });
      await waitFor(() => got.carol.length === 2, 'carol');

      const none = await cli(homes.alice, ['message', 'send', 'tag:lang:go', 'anyone?'], direct);
      expect(none.code).toBe(4);
      expect(none.stderr).toMatch(/no live peer advertises tag lang:go: nothing was sent/);
      expect((await cli(homes.alice, ['message', 'send', 'tag:Lang:Go', 'x'], direct)).code).toBe(2);
    } finally {
      await bob.client.close();
      await carol.client.close();
    }
  }, 120_000);
});
