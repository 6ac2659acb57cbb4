import { loadMeshes, meshMembersWithKeys, syncEpochs, topicSendEncrypted, type TopicMessage } from '@claudemesh/core';
import { parseIdentity } from '@claudemesh/crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult, Notification } from '@modelcontextprotocol/sdk/types.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { CHANNEL_METHOD, isChannelMeta } from '../src/mcp/channel.js';
import { isTerminalSafe } from '../src/terminal-text.js';
import { keyringPath } from '../src/topic-keyring.js';
import { CLI, cli, json, type CliResult } from './helpers/cli.js';
import { sdkMemberOf } from './helpers/sdk-member.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };
const SLOW = 180_000;
/** A wide bound for what a background process does "soon": the condition is polled, never timed. */
const EVENTUALLY_MS = 60_000;

type Name = 'alice' | 'bob' | 'dave' | 'erin';

interface Row {
  id: string;
  topic: string;
  text?: string | null;
  body_version: number;
  opened_text?: string | null;
  undecryptable_reason?: string;
  ciphertext?: string;
}

const lines = <T>(r: CliResult): T[] => r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = EVENTUALLY_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * End-to-end encrypted topics and the long-running parts of the CLI: the daemon re-seals epoch
 * keys for listed members that lack them (nobody at a keyboard), the MCP push-pipe hands Claude
 * opened text (never ciphertext) and seals what its topic_send tool posts, and the `me` and
 * notification views show opened text beside the broker's row.
 */
describe('e2e topics with the daemon, the MCP push-pipe and the me views', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const children: ChildProcess[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  const who = {} as Record<Name, string>;
  let link = '';
  const ok = async (name: Name, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(who[name], args, { ...direct, ...env });
    expect(r.code, `${name} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  /** An SDK member from a CLI home's stored keys, with its own keyring (in memory); closed after the suite. */
  const sdkMember = async (name: Name) => {
    const m = await sdkMemberOf(who[name]);
    closers.push(() => m.client.close());
    return m;
  };
  /** A real MCP client on a spawned `claudemesh mcp --tools`, collecting every channel notification. */
  const startPipe = async (name: Name) => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--tools'], env: { ...(process.env as Record<string, string>), CLAUDEMESH_HOME: who[name], ...direct }, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: 'e2e-spec', version: '0.0.0' });
    const channel: Notification[] = [];
    client.fallbackNotificationHandler = async (n) => {
      if (n.method === CHANNEL_METHOD) channel.push(n);
    };
    await client.connect(transport);
    closers.push(() => client.close());
    await eventually(`${name}'s pipe on the mesh`, () => stderr.includes(`connected to e2e-agents as ${name}`));
    return { client, channel, stderr: () => stderr };
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    for (const name of ['alice', 'bob', 'dave', 'erin'] as const) {
      who[name] = mkdtempSync(join(tmpdir(), 'cmh-e2e-agents-'));
      homes.push(who[name]);
    }
    await ok('alice', ['mesh', 'create', 'e2e-agents', '--broker', tb.url, '--name', 'alice'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    ({ link } = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '4', '--json'])));
    await ok('bob', ['join', link, '--name', 'bob']);
    await ok('alice', ['topic', 'create', 'ops', '--e2e']);
    await ok('bob', ['topic', 'join', 'ops']);
  }, SLOW);
  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  /** alice's daemon, in the foreground to read its log, with a short sweep interval. */
  const startDaemon = async () => {
    const daemon = spawn(process.execPath, [CLI, 'daemon', 'run'], { env: { ...process.env, CLAUDEMESH_HOME: who.alice, CLAUDEMESH_RESEAL_INTERVAL_MS: '1000' }, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(daemon);
    const d = { log: '', process: daemon };
    daemon.stderr!.on('data', (b: Buffer) => (d.log += b.toString()));
    await eventually('the daemon connected', () => /e2e-agents: connected/.test(d.log));
    return d;
  };

  it("a member listed in an epoch without its key gets it from another member's running daemon, and then reads", async () => {
    const daemon = await startDaemon();

    // Another session of alice (the SDK) makes epoch 1 listing bob, but seals it to herself only.
    const alice = await sdkMember('alice');
    const bob = await sdkMember('bob');
    const pending = alice.ring.rotate('topic:ops', { members: [alice.key, bob.key], reason: 'create' });
    await alice.client.publishEpoch(pending.signed, pending.seals.filter((s) => s.recipient === alice.key));
    alice.ring.accept('topic:ops', pending);
    const secret = 'the deploy token is swordfish';
    await topicSendEncrypted(alice.client, alice.ring, 'ops', secret, { members: async () => [alice.key, bob.key] });

    // Nobody acts by hand: alice's daemon seals the key for bob, and bob's CLI then opens the message.
    await eventually('bob to read the message', async () => {
      const r = await cli(who.bob, ['topic', 'history', 'ops', '--json'], direct);
      return r.code === 0 && lines<Row>(r).some((m) => m.text === secret);
    });
    expect(daemon.log).toMatch(/e2e-agents: sealed the key of topic:ops epoch 1 for 1 member without it/);
    const page = await bob.client.getEpochs('topic:ops');
    expect(page.seals).toEqual([expect.objectContaining({ epoch: 1, recipient: bob.key, sealer: alice.key })]);
    // The daemon took the epoch push into alice's keyring file: her CLI finds the key on disk.
    const stored = JSON.parse(readFileSync(keyringPath(who.alice, alice.meshId), 'utf8')) as { scopes: Record<string, { keys: Record<string, string> }> };
    expect(Object.keys(stored.scopes['topic:ops']!.keys)).toEqual(['1']);
    expect(lines<Row>(await ok('alice', ['topic', 'history', 'ops', '--json'])).map((m) => m.text)).toEqual([secret]);
  }, SLOW);

  it("the daemon learns of an e2e topic its keyring never held from a sealed message, and re-seals for it", async () => {
    // The daemon is down while the epoch is made, so no epoch push reaches it, and alice's keyring file lacks the topic.
    await ok('alice', ['daemon', 'stop'], { CLAUDEMESH_DAEMON: 'on' });
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    await ok('alice', ['topic', 'create', 'infra', '--e2e']);
    await ok('dave', ['join', link, '--name', 'dave']);
    for (const name of ['bob', 'dave'] as const) await ok(name, ['topic', 'join', 'infra']);
    const alice = await sdkMember('alice');
    const bob = await sdkMember('bob');
    const dave = await sdkMember('dave');
    const pending = alice.ring.rotate('topic:infra', { members: [alice.key, bob.key, dave.key], reason: 'create' });
    await alice.client.publishEpoch(pending.signed, pending.seals.filter((s) => s.recipient !== bob.key));
    alice.ring.accept('topic:infra', pending);
    expect(JSON.parse(readFileSync(keyringPath(who.alice, alice.meshId), 'utf8'))).not.toHaveProperty(['scopes', 'topic:infra']);

    const daemon = await startDaemon();
    // dave posts: the sealed message names the topic to alice's daemon, which fetches its epochs and seals for bob.
    const secret = 'the infra runbook moved to /srv/run';
    await topicSendEncrypted(dave.client, dave.ring, 'infra', secret, { members: async () => [] });
    await eventually('bob to read the message', async () => {
      const r = await cli(who.bob, ['topic', 'history', 'infra', '--json'], direct);
      return r.code === 0 && lines<Row>(r).some((m) => m.text === secret);
    });
    expect(daemon.log).toMatch(/e2e-agents: sealed the key of topic:infra epoch 1 for 1 member without it/);
  }, SLOW);

  it('the MCP push-pipe pushes e2e topic messages opened (or waiting for a key), never ciphertext, and its topic_send seals', async () => {
    // No daemon re-seals here: dave must stay without a key for as long as the test looks.
    await ok('alice', ['daemon', 'stop'], { CLAUDEMESH_DAEMON: 'on' });
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    await ok('dave', ['topic', 'join', 'ops']);
    const bobPipe = await startPipe('bob');
    const davePipe = await startPipe('dave');
    const alice = await sdkMember('alice');
    // dave joined the mesh after epoch 1 of #ops: the next epoch must list him (protocol §5.6), but
    // its maker seals it to alice and bob only, so his key is still to come.
    await syncEpochs(alice.client, alice.ring, 'topic:ops');
    const pending = alice.ring.rotate('topic:ops', { members: await meshMembersWithKeys(alice.client), reason: 'member_added' });
    const keyOf = (name: Name): string => parseIdentity(loadMeshes(who[name])[0]!.identity).publicKey;
    expect(pending.signed.manifest.members).toContain(keyOf('dave'));
    await alice.client.publishEpoch(pending.signed, pending.seals.filter((x) => x.recipient === alice.key || x.recipient === keyOf('bob')));
    alice.ring.accept('topic:ops', pending);
    const secret = 'rotate the staging certs tonight';
    const posted = await topicSendEncrypted(alice.client, alice.ring, 'ops', secret, { members: () => meshMembersWithKeys(alice.client) });
    expect(posted.key_epoch).toBe(pending.signed.manifest.epoch);
    const isPost = (n: Notification): boolean => (n.params as { meta: Record<string, string> }).meta['message_id'] === posted.id;

    await eventually("bob's channel event", () => bobPipe.channel.some(isPost));
    const atBob = bobPipe.channel.find(isPost)!.params as { content: string; meta: Record<string, string> };
    expect(isChannelMeta(atBob.meta)).toBe(true);
    expect(atBob.content).toBe(`claudemesh #ops message ${posted.id} from alice:\n${secret}`);
    expect(atBob.meta).toMatchObject({ kind: 'topic', topic: 'ops', encryption: 'e2e', from_member: alice.key });
    expect(atBob.meta).not.toHaveProperty('undecryptable');

    // dave is listed but has no seal yet: no key, and he is told so instead of ciphertext.
    await eventually("dave's channel event", () => davePipe.channel.some(isPost));
    const atDave = davePipe.channel.find(isPost)!.params as { content: string; meta: Record<string, string> };
    expect(atDave.content).toBe(`claudemesh #ops message ${posted.id} from alice:\n(encrypted: waiting for a key from a member)`);
    expect(atDave.meta).toMatchObject({ encryption: 'e2e', undecryptable: 'waiting for a key from a member' });
    for (const n of [...bobPipe.channel, ...davePipe.channel]) expect(JSON.stringify(n)).not.toContain(posted.ciphertext!);

    // bob's tool posts sealed: the broker refuses text for an e2e topic, the pipe seals it instead.
    const reply = (await bobPipe.client.callTool({ name: 'topic_send', arguments: { topic: 'ops', text: 'done by the agent', reply_to: posted.id } })) as CallToolResult;
    const replyText = reply.content[0]?.type === 'text' ? reply.content[0].text : '';
    expect(reply.isError, replyText).toBeFalsy();
    const sent = JSON.parse(replyText) as TopicMessage;
    expect(sent).toMatchObject({ topic: 'ops', body_version: 2, key_epoch: posted.key_epoch, text: 'done by the agent', reply_to: posted.id, sender: { display_name: 'bob' } });
    const history = lines<Row>(await ok('alice', ['topic', 'history', 'ops', '--json']));
    expect(history.find((m) => m.id === sent.id)).toMatchObject({ body_version: 2, text: 'done by the agent' });
  }, SLOW);

  it('me activity, me notifications and notification list show the opened text beside the raw row', async () => {
    const alice = await sdkMember('alice');
    const bob = await sdkMember('bob');
    const secret = '@bob the vault combination is 7-4-1';
    const posted = await topicSendEncrypted(alice.client, alice.ring, 'ops', secret, { members: () => meshMembersWithKeys(alice.client), mentions: [bob.key] });

    const activity = lines<Row>(await ok('bob', ['me', 'activity', '--json']));
    const row = activity.find((m) => m.id === posted.id)!;
    expect(row).toMatchObject({ body_version: 2, opened_text: secret, ciphertext: posted.ciphertext });
    expect(row.text ?? null).toBeNull();
    expect((await ok('bob', ['me', 'activity'])).stdout).toContain(`alice: ${secret}`);

    const notes = lines<{ message: Row; opened_text?: string }>(await ok('bob', ['me', 'notifications', '--json']));
    const note = notes.find((n) => n.message.id === posted.id)!;
    expect(note.opened_text).toBe(secret);
    expect(note.message.text ?? null).toBeNull();
    expect((await ok('bob', ['me', 'notifications'])).stdout).toContain(`alice mentioned you in #${posted.id}: ${secret}`);
    expect((await ok('bob', ['notification', 'list'])).stdout).toContain(`alice mentioned you in #${posted.id}: ${secret}`);
    expect(lines<{ opened_text?: string }>(await ok('bob', ['notification', 'list', '--json'])).map((n) => n.opened_text)).toContain(secret);

    // Opened text from a peer reaches a terminal through the sanitiser; --json keeps it exact.
    const hostile = 'red \u001b[31malert\u001b[0m \u0007done';
    const loud = await topicSendEncrypted(alice.client, alice.ring, 'ops', hostile, { members: () => meshMembersWithKeys(alice.client), mentions: [bob.key] });
    for (const args of [['me', 'activity'], ['me', 'notifications'], ['notification', 'list']]) {
      const out = (await ok('bob', args)).stdout;
      expect(out, args.join(' ')).toContain('red ␛[31malert␛[0m ␇done');
      expect(isTerminalSafe(out), args.join(' ')).toBe(true);
    }
    expect(lines<Row>(await ok('bob', ['me', 'activity', '--json'])).find((m) => m.id === loud.id)?.opened_text).toBe(hostile);

    // dave has no key: the views say so, never a guess.
    const daveRow = lines<Row>(await ok('dave', ['me', 'activity', '--json'])).find((m) => m.id === posted.id)!;
    expect(daveRow).toMatchObject({ opened_text: null, undecryptable_reason: 'waiting for a key from a member' });
    expect((await ok('dave', ['me', 'activity'])).stdout).toContain('alice: (encrypted: waiting for a key from a member)');
  }, SLOW);

  it("a joiner gets the key from another member's daemon, which rotates the epoch without anyone posting", async () => {
    const daemon = await startDaemon();
    const bob = await sdkMember('bob');
    await syncEpochs(bob.client, bob.ring, 'topic:ops');
    const before = bob.ring.currentEpoch('topic:ops');
    await ok('erin', ['join', link, '--name', 'erin']);
    await eventually("alice's daemon to rotate #ops for erin", () => /e2e-agents: rotated the key of topic:ops to epoch \d+ \(member_added: 1 joined\)/.test(daemon.log));
    await syncEpochs(bob.client, bob.ring, 'topic:ops');
    expect(bob.ring.currentEpoch('topic:ops')).toBe(before + 1);
    expect(bob.ring.currentManifest('topic:ops')).toMatchObject({ reason: 'member_added', created_by: (await sdkMember('alice')).key });
    // The epoch already lists erin: bob's post needs no rotation (an empty member list would fail one).
    const secret = 'welcome erin, the wiki is at /srv/wiki';
    const posted = await topicSendEncrypted(bob.client, bob.ring, 'ops', secret, { members: async () => [] });
    expect(posted.key_epoch).toBe(before + 1);
    expect(lines<Row>(await ok('erin', ['topic', 'history', 'ops', '--json'])).find((m) => m.id === posted.id)).toMatchObject({ text: secret });
  }, SLOW);
});
