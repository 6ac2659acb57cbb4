import { MeshClient, issueInvite, type InboundMessage } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_OPTIONS, FAST_VERBS } from '../src/fast/fast-path.js';
import { createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { cli } from './helpers/cli.js';


const slow = { CLAUDEMESH_FAST: 'off' };
/** Fails (exit 99) unless the fast path answers. */
const only = { CLAUDEMESH_FAST: 'only' };

/** Flags as the command tree's --help lists them, without -h/--help. */
function helpFlags(help: string): string[] {
  return [...help.matchAll(/^\s+((?:-\w, )?--[\w-]+)/gm)].map((m) => m[1]!).filter((f) => !f.includes('--help')).sort();
}

describe('the fast path answers hot verbs exactly as the command tree does', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let home: string;
  let owner: MeshClient;
  const ownerInbox: InboundMessage[] = [];

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'fast-mesh');
    home = mkdtempSync(join(tmpdir(), 'cmh-fast-'));
    const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
    expect((await cli(home, ['join', encodeInviteLink(invite, mesh.meshKey), '--name', 'fay'])).code).toBe(0);
    owner = new MeshClient({ url: tb.wsUrl, meshId: mesh.meshId, identity: mesh.owner, meshKey: mesh.meshKey });
    owner.on('message', (m) => ownerInbox.push(m));
    await owner.connect();
    expect((await cli(home, ['daemon', 'start'])).code).toBe(0);
  });
  afterAll(async () => {
    await cli(home, ['daemon', 'stop']);
    await owner?.close();
    await tb?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('declares the same flags as the commands it stands in for', async () => {
    for (const [spelling, verb] of Object.entries(FAST_VERBS)) {
      const help = await cli(home, [...spelling.split(' '), '--help'], slow);
      const fast = Object.entries(FAST_OPTIONS[verb]).map(([name, o]) => `${o.short ? `-${o.short}, ` : ''}--${name}`).sort();
      expect(helpFlags(help.stdout), spelling).toEqual(fast);
    }
  });

  it('prints byte-identical answers for peers, inbox, send and status, and the same errors', async () => {
    for (const args of [['peers'], ['peer', 'list', '--json'], ['inbox'], ['message', 'inbox', '--json']]) {
      const [a, b] = [await cli(home, args, only), await cli(home, args, slow)];
      expect({ args, ...a }).toEqual({ args, ...b });
    }
    await owner.send('fay', 'two ways to read me');
    for (let i = 0; i < 50 && !(await cli(home, ['inbox'])).stdout.includes('two ways'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await cli(home, ['inbox'], only)).toEqual(await cli(home, ['inbox'], slow));
    expect(await cli(home, ['inbox', '--all', '--json'], only)).toEqual(await cli(home, ['inbox', '--all', '--json'], slow));

    const fast = await cli(home, ['send', 'owner', 'fast', 'one', '-p', 'now', '--json'], only);
    const viaTree = await cli(home, ['message', 'send', 'owner', 'tree', 'one', '--priority', 'now', '--json'], slow);
    const [f, t] = [JSON.parse(fast.stdout) as Record<string, unknown>, JSON.parse(viaTree.stdout) as Record<string, unknown>];
    expect(Object.keys(f).sort()).toEqual(Object.keys(t).sort());
    await waitFor(() => ownerInbox.length === 2, 'both sends');
    expect(ownerInbox.map((m) => m.text)).toEqual(['{"cm":1,"text":"fast one","priority":"now"}', '{"cm":1,"text":"tree one","priority":"now"}']);

    const id = String(f['message_id']);
    await new Promise((r) => setTimeout(r, 200));
    expect(await cli(home, ['message', 'status', id], only)).toEqual(await cli(home, ['message', 'status', id], slow));
    expect(await cli(home, ['message', 'status', '999999'], only)).toEqual(await cli(home, ['message', 'status', '999999'], slow));
    expect(await cli(home, ['send', 'nobody', 'hi'], only)).toEqual(await cli(home, ['send', 'nobody', 'hi'], slow));
    // What the fast path does not understand falls through to the command tree's own errors.
    expect((await cli(home, ['send', 'owner', 'x', '--priority', 'urgent'], only)).code).toBe(99);
    expect(await cli(home, ['send', 'owner', 'x', '--priority', 'urgent'])).toEqual(await cli(home, ['send', 'owner', 'x', '--priority', 'urgent'], slow));
    expect(await cli(home, ['peers', '--bogus'])).toEqual(await cli(home, ['peers', '--bogus'], slow));

    await cli(home, ['inbox', '--read']);
    expect((await cli(home, ['inbox'])).stdout).toBe('(no messages)\n');
  });
});
