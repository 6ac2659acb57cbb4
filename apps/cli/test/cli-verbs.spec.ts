import { MeshClient, type InboundMessage, type Receipt } from '@claudemesh/core';
import { fromB64u, parseIdentity } from '@claudemesh/crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { cli, json } from './helpers/cli.js';



/** Polls an async condition (each poll may run the CLI). */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


/** The noun-verb tree end to end: a mesh made, shared and used through the CLI alone. */
describe('claudemesh noun-verb commands against a live broker', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const home = () => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-verbs-'));
    homes.push(h);
    return h;
  };
  let ownerHome: string;
  let bobHome: string;
  let owner: MeshClient;
  const ownerInbox: InboundMessage[] = [];
  const ownerReceipts: Receipt[] = [];

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    ownerHome = home();
    bobHome = home();
  });
  afterAll(async () => {
    await owner?.close();
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('creates a mesh, invites, joins, and lists it locally', async () => {
    const noToken = await cli(ownerHome, ['mesh', 'create', 'team', '--broker', tb.url]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(/admin token/);
    const created = await cli(ownerHome, ['mesh', 'create', 'team', '--broker', tb.url, '--name', 'olive', '--json'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(created.code).toBe(0);
    const { mesh_id } = json<{ mesh_id: string }>(created);

    const invite = await cli(ownerHome, ['mesh', 'invite', '--uses', '2', '--json']);
    expect(invite.code).toBe(0);
    const { link, max_uses } = json<{ link: string; max_uses: number }>(invite);
    expect(max_uses).toBe(2);
    expect((await cli(bobHome, ['join', link, '--name', 'bob'])).code).toBe(0);
    const again = await cli(bobHome, ['join', link, '--name', 'bob2']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already joined "team"/);

    const listed = json<Array<{ mesh_id: string; mesh_name: string; role: string }>>(await cli(bobHome, ['mesh', 'list', '--json']));
    expect(listed).toEqual([expect.objectContaining({ mesh_id, mesh_name: 'team', role: 'member' })]);
    expect((await cli(bobHome, ['list'])).stdout).toMatch(/^team\s+as bob/);
    const me = json<{ display_name: string; role: string; has_mesh_key: boolean }>(await cli(bobHome, ['whoami', '--json']));
    expect(me).toMatchObject({ display_name: 'bob', role: 'member', has_mesh_key: true });
    const memberInvite = await cli(bobHome, ['mesh', 'invite']);
    expect(memberInvite.code).toBe(1);
    expect(memberInvite.stderr).toMatch(/ask its owner/);

    // The owner, from its stored keys, listens through the SDK.
    const file = readdirSync(join(ownerHome, 'meshes'))[0]!;
    const stored = JSON.parse(readFileSync(join(ownerHome, 'meshes', file), 'utf8')) as { identity: { v: 1; seed: string; public_key: string }; mesh_key: string };
    owner = new MeshClient({ url: tb.wsUrl, meshId: mesh_id, identity: parseIdentity(stored.identity), meshKey: fromB64u(stored.mesh_key) });
    owner.on('message', (m) => ownerInbox.push(m));
    owner.on('receipt', (r) => ownerReceipts.push(r));
    await owner.connect();
  });

  it('sends with priority and reply-to inside the ciphertext, and tracks the state per recipient', async () => {
    const first = await owner.send('bob', 'can you review #12?');
    const sent = await cli(bobHome, ['message', 'send', 'olive', 'on', 'it', '--priority', 'now', '--reply-to', first.message_id, '--json']);
    expect(sent.code).toBe(0);
    const ack = json<{ message_id: string; recipients: number }>(sent);
    expect(ack.recipients).toBe(1);
    await waitFor(() => ownerInbox.length === 1, 'the reply at the owner');
    expect(JSON.parse(ownerInbox[0]!.text)).toEqual({ cm: 1, text: 'on it', priority: 'now', reply_to: first.message_id });

    const inbox = await cli(bobHome, ['inbox', '--json']);
    const lines = inbox.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message_id: string; text: string; priority: string; read_at: number | null });
    expect(lines).toEqual([expect.objectContaining({ message_id: first.message_id, text: 'can you review #12?', priority: 'next', read_at: null })]);

    const status = await cli(bobHome, ['message', 'status', ack.message_id, '--json']);
    expect(json<Array<{ recipients: Array<{ display_name: string; state: string }> }>>(status)[0]!.recipients).toEqual([
      expect.objectContaining({ display_name: 'olive', state: 'delivered' }),
    ]);
    owner.markRead([ownerInbox[0]!.messageId]);
    await eventually(async () => (await cli(bobHome, ['message', 'status', ack.message_id])).stdout.includes('read'), 'read state');

    expect((await cli(bobHome, ['message', 'status', '999999'])).code).toBe(4);
    expect((await cli(bobHome, ['message', 'status', 'abc'])).code).toBe(2);
    expect((await cli(bobHome, ['send', 'olive', 'x', '--priority', 'urgent'])).code).toBe(2);
    const unknown = await cli(bobHome, ['send', 'nobody', 'hi']);
    expect(unknown.stderr).toMatch(/next: see who is there: claudemesh peer list/);
  });

  it('joins and leaves groups, sets status and summary, lists peers under both spellings', async () => {
    expect((await cli(bobHome, ['group', 'join', '@reviewers'])).code).toBe(0);
    await owner.send('@reviewers', 'group review at 3');
    await eventually(async () => (await cli(bobHome, ['inbox'])).stdout.includes('olive → @reviewers: group review at 3'), 'group message');
    expect((await cli(bobHome, ['group', 'leave', 'reviewers'])).code).toBe(0);
    await expect(owner.send('@reviewers', 'anyone?')).rejects.toMatchObject({ code: 'E_UNKNOWN_TARGET' });
    expect((await cli(bobHome, ['group', 'join', 'Bad Name'])).code).toBe(2);

    expect((await cli(bobHome, ['status', 'set', 'busy'])).code).toBe(2);
    expect((await cli(bobHome, ['status', 'set', 'working', '--json'])).stdout).toContain('"working"');
    expect((await cli(bobHome, ['summary', 'set', 'reviewing', 'PR', '12'])).stdout).toContain('reviewing PR 12');

    const peers = json<Array<{ display_name: string; online: boolean }>>(await cli(bobHome, ['peer', 'list', '--json']));
    expect(peers.map((p) => [p.display_name, p.online])).toEqual([
      ['olive', true],
      ['bob', true],
    ]);
    const table = (await cli(bobHome, ['peers'])).stdout;
    expect(table).toMatch(/^NAME +TYPE +ROLE +KEY +GROUPS +STATUS\n/);
    expect(table).toMatch(/^olive +ai +owner +[0-9a-f]{16}… +- +online/m);
  });

  it('doctor checks home, keys, store, broker and session, and names the fix for what fails', async () => {
    const ok = await cli(bobHome, ['doctor', '--json']);
    expect(ok.code).toBe(0);
    const checks = json<Array<{ check: string; ok: boolean }>>(ok);
    // Claude Code and the command on PATH are advice; they do not fail doctor.
    expect(checks.filter((c) => c.check !== 'claude code' && c.check !== 'claudemesh on PATH').every((c) => c.ok)).toBe(true);
    expect(checks.map((c) => c.check)).toEqual(expect.arrayContaining(['home', 'meshes', 'keys team', 'local store', 'broker team', 'session team']));
    const empty = await cli(home(), ['doctor']);
    expect(empty.code).toBe(1);
    expect(empty.stdout).toMatch(/✗ meshes\s+no mesh joined\n\s+fix: claudemesh join/);
  });

  it('claudemesh <link> joins and launches Claude Code with the channel, and launches again once joined', async () => {
    const userHome = home();
    const carolHome = home();
    const fake = join(userHome, 'claude');
    writeFileSync(fake, '#!/bin/sh\necho "claude $*"\nexit 7\n', { mode: 0o755 });
    const env = { HOME: userHome, CLAUDEMESH_CLAUDE_BIN: fake };
    const { link } = json<{ link: string }>(await cli(ownerHome, ['mesh', 'invite', '--json']));
    const first = await cli(carolHome, [link, '-y', '--name', 'carol', '--model', 'x'], env);
    expect(first.code).toBe(7);
    expect(first.stdout).toMatch(/joined "team" as carol/);
    expect(first.stdout).toContain('claude --dangerously-load-development-channels server:claudemesh --model x');
    expect(JSON.parse(readFileSync(join(userHome, '.claude.json'), 'utf8'))).toHaveProperty(['mcpServers', 'claudemesh']);
    const again = await cli(carolHome, [link, '-y'], env);
    expect(again.code).toBe(7);
    expect(again.stderr).toMatch(/already joined "team" as carol; launching/);
  });

  it('leaves a mesh only when confirmed, then has nothing joined', async () => {
    const unconfirmed = await cli(bobHome, ['mesh', 'leave']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/-y/);
    expect((await cli(bobHome, ['leave', 'team', '-y'])).code).toBe(0);
    const after = await cli(bobHome, ['peers']);
    expect(after.code).toBe(3);
    expect(after.stderr).toMatch(/claudemesh join/);
    expect((await cli(bobHome, ['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
