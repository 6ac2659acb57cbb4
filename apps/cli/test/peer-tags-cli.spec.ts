import type { MeshClient } from '@claudemesh/core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult, Notification } from '@modelcontextprotocol/sdk/types.js';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, HANG_MS, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { CHANNEL_METHOD } from '../src/mcp/channel.js';
import { CLI, cli, json, type CliResult } from './helpers/cli.js';
import { sdkMemberOf } from './helpers/sdk-member.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };

interface TagAnswer {
  mesh_id: string;
  mesh_name: string;
  tags: Array<{ tag: string; derived: boolean; from?: string }>;
  repo_tag: boolean;
  changed?: string[];
  daemon?: string;
}

/** Polls the broker (through alice's own session) until `predicate` holds of a member's advertised tags. */
async function untilTags(alice: MeshClient, name: string, predicate: (tags: string[]) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const peer = (await alice.listPeers()).find((p) => p.display_name === name);
    if (predicate(peer?.sessions.flatMap((s) => s.tags ?? []) ?? [])) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function textOf(result: unknown): string {
  const content = (result as CallToolResult).content[0];
  return content?.type === 'text' ? content.text : '';
}

/**
 * `peer tag add|remove|list|repo` (docs/cli.md "Tags"): kept in tags.json, advertised by the real
 * daemon's session and by a real push-pipe (`claudemesh mcp`) — which adds `repo:<name>` from the
 * git remote of its workspace — and reached by another peer's real `message send tag:…`.
 */
describe('claudemesh peer tag', () => {
  let tb: TestBroker;
  const homes = {} as Record<'alice' | 'bob' | 'carol', string>;
  const dirs: string[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  let alice: MeshClient;
  // Run from the home (no git work tree there), so no repo: tag is derived unless a test asks for one.
  const run = (who: keyof typeof homes, args: string[], env: Record<string, string> = {}): Promise<CliResult> => runIn(homes[who], homes[who], args, env);
  const ok = async (who: keyof typeof homes, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await run(who, args, env);
    expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const aliceSends = (to: string, text: string): Promise<CliResult> => run('alice', ['message', 'send', to, text], direct);

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    for (const n of ['alice', 'bob', 'carol'] as const) {
      homes[n] = mkdtempSync(join(tmpdir(), `cmh-ptag-${n}-`));
      dirs.push(homes[n]);
    }
    await ok('alice', ['mesh', 'create', 'tagged', '--broker', tb.url, '--name', 'alice'], { ...direct, CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const { link } = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '2', '--json'], direct));
    await ok('bob', ['join', link, '--name', 'bob'], direct);
    await ok('carol', ['join', link, '--name', 'carol'], direct);
    alice = (await sdkMemberOf(homes.alice)).client;
    closers.push(() => alice.close());
  }, 120_000);
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    for (const h of Object.values(homes)) await cli(h, ['daemon', 'stop']);
    await tb?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('add makes the daemon’s session advertise a tag at once, so tag: sends reach it; remove stops them; kept across a daemon restart', { timeout: 180_000 }, async () => {
    await untilDaemonConnected(homes.bob);
    const added = json<TagAnswer>(await ok('bob', ['peer', 'tag', 'add', 'role:reviewer', 'lang:go', 'role:reviewer', '--json']));
    expect(added).toEqual({ mesh_id: added.mesh_id, mesh_name: 'tagged', tags: [{ tag: 'role:reviewer', derived: false }, { tag: 'lang:go', derived: false }], repo_tag: true, changed: ['role:reviewer', 'lang:go'], daemon: 'advertised' });
    // Kept in the home, 0600, as the file docs/cli.md describes.
    const file = join(homes.bob, 'tags.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, meshes: { [added.mesh_id]: { tags: ['role:reviewer', 'lang:go'] } } });

    // "advertised" means the broker has it: the very next send finds bob.
    const sent = await aliceSends('tag:role:reviewer', 'PR 12 needs a review');
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toBe('sent to 1 peer(s) with tag role:reviewer: bob\n');
    let inbox = '';
    const deadline = Date.now() + HANG_MS;
    while (!inbox.includes('PR 12 needs a review') && Date.now() < deadline) inbox = (await ok('bob', ['inbox', '--json'])).stdout;
    expect(inbox).toContain('PR 12 needs a review');

    // Adding again changes nothing; the text form lists what is kept.
    const again = await ok('bob', ['peer', 'tag', 'add', 'lang:go']);
    expect(again.stdout).toMatch(/^nothing added\nTAG +SOURCE\nrole:reviewer +added\nlang:go +added\nadvertised now by the daemon’s session/);

    const removed = json<TagAnswer>(await ok('bob', ['peer', 'tag', 'remove', 'role:reviewer', '--json']));
    expect(removed).toMatchObject({ tags: [{ tag: 'lang:go', derived: false }], changed: ['role:reviewer'], daemon: 'advertised' });
    const gone = await aliceSends('tag:role:reviewer', 'anyone?');
    expect(gone.code).toBe(4);
    expect(gone.stderr).toMatch(/no live peer advertises tag role:reviewer: nothing was sent/);

    // A restarted daemon advertises what tags.json holds.
    await ok('bob', ['daemon', 'stop']);
    await untilTags(alice, 'bob', (t) => t.length === 0, 'bob’s session to go');
    await ok('bob', ['daemon', 'start']);
    await untilDaemonConnected(homes.bob);
    await untilTags(alice, 'bob', (t) => t.includes('lang:go'), 'the restarted daemon to advertise lang:go');
    expect((await aliceSends('tag?:lang:go', 'a go question')).stdout).toBe('sent to 1 peer(s) with tag lang:go (one, the least busy): bob\n');

    // `send tag:` with alice's daemon running: the fast path leaves tag targets to the command tree.
    await untilDaemonConnected(homes.alice);
    const fast = await run('alice', ['send', 'tag:lang:go', 'sent while a daemon runs']);
    expect(fast.code, fast.stderr).toBe(0);
    expect(fast.stdout).toBe('sent to 1 peer(s) with tag lang:go: bob\n');

    // A change made without telling the daemon (CLAUDEMESH_DAEMON=off) is picked up from the file.
    await ok('bob', ['peer', 'tag', 'add', 'team:infra'], direct);
    await untilTags(alice, 'bob', (t) => t.includes('team:infra'), 'the daemon to notice tags.json changed');
  });

  it('checks tags as the protocol does and exits as docs/cli.md says', async () => {
    const bad = await run('bob', ['peer', 'tag', 'add', 'Role:Reviewer'], direct);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"Role:Reviewer" is not a tag; a tag is name or name:value, lowercase/);
    expect((await run('bob', ['peer', 'tag', 'add'], direct)).code).toBe(2);
    const missing = await run('bob', ['peer', 'tag', 'remove', 'lang:rust', 'lang:go'], direct);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/no tag lang:rust to remove; yours: lang:go, team:infra/);
    // Nothing was removed: all or nothing.
    expect(json<TagAnswer>(await ok('bob', ['peer', 'tag', 'list', '--json'], direct)).tags.map((t) => t.tag)).toEqual(['lang:go', 'team:infra']);
    const many = Array.from({ length: 31 }, (_, i) => `t${i}`);
    const over = await run('bob', ['peer', 'tag', 'add', ...many], direct);
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/at most 32 tags and this would make 33/);
    expect((await run('bob', ['peer', 'tag', 'repo', 'maybe'], direct)).code).toBe(2);
    const none = mkdtempSync(join(tmpdir(), 'cmh-ptag-none-'));
    dirs.push(none);
    expect((await runIn(none, none, ['peer', 'tag', 'list'], direct)).code).toBe(3);
    // A broken file is reported with the fix, never silently replaced.
    const file = join(homes.carol, 'tags.json');
    writeFileSync(file, '{ not json');
    const broken = await run('carol', ['peer', 'tag', 'add', 'x'], direct);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/tags\.json is not valid JSON .*; fix it, or delete it/);
    expect(readFileSync(file, 'utf8')).toBe('{ not json');
    rmSync(file);
  });

  it('a push-pipe advertises repo:<name> from its workspace’s git remote and the kept tags, follows changes, and offers the tag tools', { timeout: 180_000 }, async () => {
    // Carol's Claude Code workspace: a git work tree whose origin is acme/Billing.
    const workspace = mkdtempSync(join(tmpdir(), 'cmh-ptag-ws-'));
    dirs.push(workspace);
    mkdirSync(join(workspace, '.git'));
    writeFileSync(join(workspace, '.git', 'config'), '[core]\n\tbare = false\n[remote "origin"]\n\turl = git@github.com:acme/Billing.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n');
    mkdirSync(join(workspace, 'src'));

    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--tools'],
      cwd: join(workspace, 'src'),
      env: { ...env, CLAUDEMESH_HOME: homes.carol, CLAUDEMESH_DAEMON: 'off', CLAUDEMESH_MCP_WATCH_MS: '100' },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const pipe = new Client({ name: 'peer-tags-spec', version: '0.0.0' });
    const channel: Notification[] = [];
    pipe.fallbackNotificationHandler = async (n) => {
      if (n.method === CHANNEL_METHOD) channel.push(n);
    };
    await pipe.connect(transport);
    closers.push(() => pipe.close());

    await untilTags(alice, 'carol', (t) => t.includes('repo:billing'), `carol’s pipe to advertise repo:billing (stderr: ${stderr})`);
    const sent = await aliceSends('tag:repo:billing', 'the invoice job failed');
    expect(sent.stdout).toBe('sent to 1 peer(s) with tag repo:billing: carol\n');
    await waitFor(() => channel.some((n) => JSON.stringify(n.params).includes('the invoice job failed')), 'the tag send pushed into carol’s session');

    // peer tag list, run in the workspace, marks the derived tag.
    const listed = await run('carol', ['peer', 'tag', 'list', '--json'], direct);
    expect(json<TagAnswer>(listed).tags).toEqual([]);
    const inWorkspace = await runIn(join(workspace, 'src'), homes.carol, ['peer', 'tag', 'list', '--json'], direct);
    expect(json<TagAnswer>(inWorkspace)).toMatchObject({ tags: [{ tag: 'repo:billing', derived: true, from: workspace }], repo_tag: true });
    expect((await runIn(workspace, homes.carol, ['peer', 'tag', 'list'], direct)).stdout).toMatch(new RegExp(`^TAG +SOURCE\nrepo:billing +derived from the git remote of ${workspace}\n$`));

    // A tag added by the CLI without a daemon reaches the pipe through tags.json.
    const added = json<TagAnswer>(await run('carol', ['peer', 'tag', 'add', 'role:oncall', '--json'], direct));
    expect(added.daemon).toBe('off');
    await untilTags(alice, 'carol', (t) => t.includes('role:oncall') && t.includes('repo:billing'), 'the pipe to pick up role:oncall');
    expect((await aliceSends('tag?:role:oncall', 'the pager went off')).stdout).toBe('sent to 1 peer(s) with tag role:oncall (one, the least busy): carol\n');
    await waitFor(() => channel.some((n) => JSON.stringify(n.params).includes('the pager went off')), 'the anycast pushed into carol’s session');

    // The MCP tools: list, add, remove (a derived tag says how to turn it off), send to a tag.
    expect((await pipe.listTools()).tools.map((t) => t.name)).toEqual(expect.arrayContaining(['add_tags', 'remove_tags', 'list_tags']));
    const list = await pipe.callTool({ name: 'list_tags', arguments: {} });
    expect(JSON.parse(textOf(list))).toEqual({ tags: [{ tag: 'role:oncall', derived: false }, { tag: 'repo:billing', derived: true, from: workspace }], repo_tag: true, advertised: ['role:oncall', 'repo:billing'] });
    const add = await pipe.callTool({ name: 'add_tags', arguments: { tags: ['lang:ts'] } });
    expect(add.isError, textOf(add)).toBeFalsy();
    expect(JSON.parse(textOf(add))).toMatchObject({ added: ['lang:ts'], advertised: ['role:oncall', 'lang:ts', 'repo:billing'] });
    await untilTags(alice, 'carol', (t) => t.includes('lang:ts'), 'lang:ts from the tool');
    const derived = await pipe.callTool({ name: 'remove_tags', arguments: { tags: ['repo:billing'] } });
    expect(derived.isError).toBe(true);
    expect(textOf(derived)).toMatch(/repo:billing is derived from the git remote of .*; to stop deriving it: claudemesh peer tag repo off/);
    expect((await pipe.callTool({ name: 'add_tags', arguments: { tags: ['Not A Tag'] } })).isError).toBe(true);
    const removed = await pipe.callTool({ name: 'remove_tags', arguments: { tags: ['lang:ts'] } });
    expect(JSON.parse(textOf(removed))).toMatchObject({ removed: ['lang:ts'], advertised: ['role:oncall', 'repo:billing'] });
    // The tool kept it like the CLI does.
    expect(json<TagAnswer>(await run('carol', ['peer', 'tag', 'list', '--json'], direct)).tags).toEqual([{ tag: 'role:oncall', derived: false }]);

    // send_message takes tag: and tag?: targets.
    await ok('bob', ['peer', 'tag', 'add', 'role:reviewer']);
    const toTag = await pipe.callTool({ name: 'send_message', arguments: { to: 'tag:role:reviewer', text: 'from the pipe, to reviewers' } });
    expect(toTag.isError, textOf(toTag)).toBeFalsy();
    expect(JSON.parse(textOf(toTag))).toMatchObject({ tag: 'role:reviewer', mode: 'all', sent: [{ display_name: 'bob' }], dropped: [], refused: [] });
    const nobody = await pipe.callTool({ name: 'send_message', arguments: { to: 'tag?:lang:cobol', text: 'anyone?' } });
    expect(nobody.isError).toBe(true);
    expect(textOf(nobody)).toMatch(/no live peer advertises tag lang:cobol.*\[E_UNKNOWN_TARGET\]/);
    const malformed = await pipe.callTool({ name: 'send_message', arguments: { to: 'tag:Lang:Go', text: 'x' } });
    expect(malformed.isError).toBe(true);
    expect(textOf(malformed)).toMatch(/invalid arguments for send_message: to: "Lang:Go" is not a tag/);

    // Opting out of the derived tag drops it from the live session.
    const off = json<TagAnswer>(await run('carol', ['peer', 'tag', 'repo', 'off', '--json'], direct));
    expect(off.repo_tag).toBe(false);
    await untilTags(alice, 'carol', (t) => !t.includes('repo:billing') && t.includes('role:oncall'), 'repo:billing to be dropped');
    expect((await aliceSends('tag:repo:billing', 'still there?')).code).toBe(4);
    expect((await runIn(workspace, homes.carol, ['peer', 'tag', 'list'], direct)).stdout).toMatch(/^TAG +SOURCE\nrole:oncall +added\nrepo: tags are not derived in tagged \(turn it back on: claudemesh peer tag repo on\)\n$/);
    await pipe.close();
  });
});

/** The real CLI in its own process, run in `cwd` (peer tag derives repo: from it); never throws on a non-zero exit. */
function runIn(cwd: string, home: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, CLAUDEMESH_HOME: home, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Waits until the daemon of `home` runs with its mesh session connected (it starts on demand). */
async function untilDaemonConnected(home: string): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const status = await runIn(home, home, ['daemon', 'start']).then(() => runIn(home, home, ['daemon', 'status', '--json']));
    const info = JSON.parse(status.stdout || '{}') as { meshes?: Array<{ connected: boolean }> };
    if (info.meshes?.length && info.meshes.every((m) => m.connected)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for the daemon of ${home}: ${status.stdout}${status.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
