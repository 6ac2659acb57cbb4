import { decodeBody, encodeBody, issueInvite, loadMeshes, MeshClient, saveMesh, type InboundMessage, type TopicMessage } from '@claudemesh/core';
import { cryptoReady, encodeInviteLink, fromB64u, generateIdentity, parseIdentity, serializeIdentity } from '@claudemesh/crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult, Notification } from '@modelcontextprotocol/sdk/types.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { CHANNEL_METHOD, isChannelMeta, type ChannelNotification } from '../src/mcp/channel.js';
import { ChannelPipe } from '../src/mcp/pipe.js';
import { callTool } from '../src/mcp/tools.js';
import { LocalStore } from '../src/store/local-store.js';

const CLI = fileURLToPath(new URL('../bin/claudemesh.js', import.meta.url));
const run = promisify(execFile);
const REQUIRED_META = ['from_name', 'from_member', 'from_session', 'message_id', 'client_id', 'mesh', 'mesh_id', 'kind', 'to', 'priority', 'sent_at'];

function envFor(home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return { ...env, CLAUDEMESH_HOME: home };
}

async function cli(home: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: envFor(home) });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Polls an async predicate (broker state) until it holds. */
async function eventually(predicate: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function textOf(result: unknown): string {
  const content = (result as CallToolResult).content[0];
  return content?.type === 'text' ? content.text : '';
}

interface JsonRpc {
  jsonrpc: string;
  id?: number;
  method?: string;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/** The pipe driven frame by frame over raw stdio, exactly in the order Claude Code sends them. */
function spawnRaw(home: string, children: ChildProcess[], args: string[] = []) {
  const child = spawn(process.execPath, [CLI, 'mcp', ...args], { env: envFor(home), stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const frames: JsonRpc[] = [];
  const notJson: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      frames.push(JSON.parse(line) as JsonRpc);
    } catch {
      notJson.push(line);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const send = (frame: object) => child.stdin!.write(`${JSON.stringify(frame)}\n`);
  const response = async (id: number): Promise<JsonRpc> => {
    await waitFor(() => frames.some((f) => f.id === id), `the answer to request ${id}`);
    return frames.find((f) => f.id === id)!;
  };
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, frames, notJson, exited, send, response, stderr: () => stderr };
}

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'claude-code', version: '2.1.332' } } };

/** A real MCP client on a spawned `claudemesh mcp`, collecting every channel notification raw. */
async function startPipe(home: string, args: string[] = [], env: Record<string, string> = {}) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', ...args], env: { ...envFor(home), ...env }, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'mcp-spec', version: '0.0.0' });
  const channel: Notification[] = [];
  client.fallbackNotificationHandler = async (n) => {
    if (n.method === CHANNEL_METHOD) channel.push(n);
  };
  await client.connect(transport);
  return { client, channel, stderr: () => stderr };
}

function inbound(id: string, text: string, overrides: Partial<InboundMessage> = {}): InboundMessage {
  return {
    messageId: id,
    clientId: `client-${id.padStart(4, '0')}`,
    kind: 'dm',
    from: { memberPubkey: 'a'.repeat(64), sessionPubkey: 'b'.repeat(64), displayName: 'bob' },
    to: 'c'.repeat(64),
    body: new TextEncoder().encode(text),
    text,
    sentAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    ...overrides,
  };
}

describe('ChannelPipe (real local store)', () => {
  const home = mkdtempSync(join(tmpdir(), 'cmh-mcp-unit-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('holds pushes until the client is initialized, stores first, and never pushes a redelivery twice', async () => {
    const store = LocalStore.open(home);
    const pushed: ChannelNotification[] = [];
    const pipe = new ChannelPipe(store, { mesh_id: 'm1', mesh_name: 'unit' }, async (n) => void pushed.push(n), () => undefined);
    expect(pipe.receive(inbound('7', encodeBody('urgent', { priority: 'now', replyTo: '3' })))).toBe(true);
    expect(pipe.receive(inbound('7', 'the same id again'))).toBe(false);
    expect(pushed).toHaveLength(0);
    expect(pipe.pending).toBe(1);
    expect(store.get('m1', '7')).toMatchObject({ text: 'urgent', priority: 'now', reply_to: '3', read_at: null });
    pipe.open();
    expect(pipe.receive(inbound('8', 'to the team', { kind: 'group', to: '@team' }))).toBe(true);
    expect(pipe.receive(inbound('8', 'to the team', { kind: 'group', to: '@team' }))).toBe(false);
    expect(pushed.map((n) => n.params.meta['message_id'])).toEqual(['7', '8']);

    const [dm, group] = pushed as [ChannelNotification, ChannelNotification];
    expect(dm.method).toBe('notifications/claude/channel');
    expect(dm.params.content).toBe('claudemesh message 7 from bob (direct message, priority now, in reply to message 3):\nurgent');
    expect(dm.params.meta).toMatchObject({ priority: 'now', reply_to: '3', sent_at: '2026-01-02T03:04:05.000Z', mesh: 'unit', mesh_id: 'm1', kind: 'dm' });
    expect(group.params.content).toBe('claudemesh message 8 from bob (to @team):\nto the team');
    expect(group.params.meta).not.toHaveProperty('reply_to');
    for (const n of pushed) expect(isChannelMeta(n.params.meta)).toBe(true);
    expect(isChannelMeta({ sent_at: 1 })).toBe(false);
    expect(isChannelMeta({ 'from-name': 'x' })).toBe(false);
    expect(store.unreadCount('m1')).toBe(2);
    store.close();
  });

  it('still pushes what another process stored first while it is unread, but not what was already read', () => {
    const store = LocalStore.open(home);
    const pushed: string[] = [];
    const pipe = new ChannelPipe(store, { mesh_id: 'm2', mesh_name: 'unit' }, async (n) => void pushed.push(n.params.meta['message_id']!), () => undefined);
    pipe.open();
    // e.g. a `claudemesh send` from the same member was connected when the push went out
    expect(store.addInbound('m2', inbound('20', 'seen by the CLI first'))).toBe(true);
    expect(store.addInbound('m2', inbound('21', 'already read'))).toBe(true);
    store.markRead('m2', ['21']);
    expect(pipe.receive(inbound('20', 'seen by the CLI first'))).toBe(true);
    expect(pipe.receive(inbound('21', 'already read'))).toBe(false);
    expect(pipe.receive(inbound('20', 'seen by the CLI first'))).toBe(false);
    expect(pushed).toEqual(['20']);
    store.close();
  });

  it('answers a tool call with isError instead of hanging while the mesh is not connected', async () => {
    await cryptoReady();
    const store = LocalStore.open(home);
    // never connected: requests wait for a connection that does not come
    const client = new MeshClient({ url: 'ws://127.0.0.1:9/ws', meshId: '00000000-0000-4000-8000-000000000000', identity: generateIdentity() });
    const ctx = { client, store, mesh: { mesh_id: 'm3', mesh_name: 'unit' }, timeoutMs: 200 };
    const peers = await callTool(ctx, true, 'list_peers', {});
    expect(peers).toMatchObject({ isError: true, content: [{ type: 'text', text: expect.stringMatching(/^list_peers failed: no answer from the broker within 0.2 s/) }] });
    const sent = await callTool(ctx, true, 'send_message', { to: 'bob', text: 'hi' });
    expect(sent).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/keeps retrying .* do not resend/) }] });
    expect(await callTool(ctx, false, 'list_peers', {})).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/exposes no tools/) }] });
    await client.close();
    store.close();
  });
});

describe('claudemesh mcp against a live broker', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let aliceHome: string;
  let bobHome: string;
  const homes: string[] = [];
  const children: ChildProcess[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  const home = () => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-mcp-'));
    homes.push(h);
    return h;
  };
  const invite = async () => encodeInviteLink((await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner })).invite, mesh.meshKey);
  const aliceStore = () => {
    const store = LocalStore.open(aliceHome);
    closers.push(async () => store.close());
    return store;
  };
  /** Bob as an SDK client with the identity the CLI stored for him. */
  const bobClient = async (inbox: InboundMessage[]) => {
    const stored = loadMeshes(bobHome)[0]!;
    const client = new MeshClient({ url: tb.wsUrl, meshId: stored.mesh_id, identity: parseIdentity(stored.identity), meshKey: fromB64u(stored.mesh_key!) });
    client.on('message', (m) => inbox.push(m));
    closers.push(() => client.close());
    await client.connect();
    return client;
  };
  const bobSends = async (to: string, text: string): Promise<string> => {
    const sent = await cli(bobHome, ['send', to, text, '--json']);
    expect(sent.code, sent.stderr).toBe(0);
    return (JSON.parse(sent.stdout) as { message_id: string }).message_id;
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'mcp-mesh');
    aliceHome = home();
    bobHome = home();
    const [alice, bob] = await Promise.all([cli(aliceHome, ['join', await invite(), '--name', 'alice']), cli(bobHome, ['join', await invite(), '--name', 'bob'])]);
    expect(alice.code, alice.stderr).toBe(0);
    expect(bob.code, bob.stderr).toBe(0);
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it("answers Claude Code's opening: server/discover is method-not-found, initialize declares claude/channel, no tools; exits 0 when stdin closes", async () => {
    const raw = spawnRaw(aliceHome, children);
    raw.send({ jsonrpc: '2.0', id: 0, method: 'server/discover', params: {} });
    expect((await raw.response(0)).error?.code).toBe(-32601);
    raw.send(INITIALIZE);
    const init = await raw.response(1);
    expect(init.result).toMatchObject({ capabilities: { experimental: { 'claude/channel': {} }, tools: {} }, serverInfo: { name: 'claudemesh' } });
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    raw.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
    expect((await raw.response(2)).result).toEqual({ tools: [] });
    raw.child.stdin!.end();
    expect(await raw.exited).toBe(0);
    // stdout is the protocol: nothing else may ever appear on it
    expect(raw.notJson).toEqual([]);
    expect(raw.frames.every((f) => f.jsonrpc === '2.0')).toBe(true);
  });

  it('pushes each inbound message as notifications/claude/channel with string-only meta, and leaves it unread', async () => {
    const pipe = await startPipe(aliceHome);
    closers.push(() => pipe.client.close());
    expect(pipe.client.getServerCapabilities()?.experimental?.['claude/channel']).toEqual({});
    expect((await pipe.client.listTools()).tools).toEqual([]);
    await expect(pipe.client.request({ method: 'server/discover' }, z.object({}))).rejects.toMatchObject({ code: -32601 });
    await waitFor(() => pipe.stderr().includes('connected to mcp-mesh as alice'), 'the pipe on the mesh');

    // A second Claude session of the same member, on the same local store, is told too.
    const second = await startPipe(aliceHome);
    closers.push(() => second.client.close());
    await waitFor(() => second.stderr().includes('connected to mcp-mesh as alice'), 'the second pipe on the mesh');

    const dmId = await bobSends('alice', 'hello alice, from the cli');
    await waitFor(() => pipe.channel.length === 1, 'the channel notification for the DM');
    await waitFor(() => second.channel.length === 1, 'the DM at the second session');
    expect(second.channel[0]!.params).toEqual(pipe.channel[0]!.params);
    await second.client.close();
    const params = pipe.channel[0]!.params as { content: unknown; meta: Record<string, unknown> };
    expect(Object.keys(params.meta)).toEqual(expect.arrayContaining(REQUIRED_META));
    for (const [key, value] of Object.entries(params.meta)) {
      expect(key).toMatch(/^[a-z_]+$/);
      expect(typeof value, `meta.${key}`).toBe('string');
    }
    const bob = loadMeshes(bobHome)[0]!;
    expect(params.meta).toMatchObject({ from_name: 'bob', from_member: bob.identity.public_key, message_id: dmId, kind: 'dm', priority: 'next', mesh: 'mcp-mesh', mesh_id: mesh.meshId });
    expect(params.meta).not.toHaveProperty('reply_to');
    expect(params.content).toBe(`claudemesh message ${dmId} from bob (direct message):\nhello alice, from the cli`);

    const broadcastId = await bobSends('*', 'hello everyone');
    await waitFor(() => pipe.channel.length === 2, 'the channel notification for the broadcast');
    expect(pipe.channel[1]!.params).toMatchObject({ content: expect.stringContaining('from bob (to everyone (*)):\nhello everyone'), meta: { kind: 'broadcast', to: '*', message_id: broadcastId } });

    // Pushed is not read: Claude Code never acks, so both wait in alice's inbox.
    const store = aliceStore();
    expect(store.get(mesh.meshId, dmId)).toMatchObject({ text: 'hello alice, from the cli', from_name: 'bob', read_at: null });
    expect(store.inbox(mesh.meshId).map((m) => m.message_id)).toEqual([dmId, broadcastId]);
    expect(pipe.stderr()).not.toMatch(/error/i);
    await pipe.client.close();
  });

  it('with --tools: lists nine tools, sends with a priority, checks and marks messages read locally and at the broker', async () => {
    // Sent while alice has no pipe: it waits in the broker's queue and is pushed after the handshake.
    const queuedId = await bobSends('alice', 'queued while you were away');
    const pipe = await startPipe(aliceHome, ['--tools']);
    closers.push(() => pipe.client.close());
    expect((await pipe.client.listTools()).tools.map((t) => t.name)).toEqual(['list_peers', 'send_message', 'check_messages', 'set_summary', 'set_status', 'topic_send', 'add_tags', 'remove_tags', 'list_tags']);
    await waitFor(() => pipe.channel.some((n) => (n.params as { meta: { message_id: string } }).meta.message_id === queuedId), 'the queued DM pushed after initialize');

    const bobInbox: InboundMessage[] = [];
    const bob = await bobClient(bobInbox);
    const sent = await pipe.client.callTool({ name: 'send_message', arguments: { to: 'bob', text: 'on it', priority: 'now', reply_to: queuedId } });
    expect(sent.isError, textOf(sent)).toBeFalsy();
    const ack = JSON.parse(textOf(sent)) as { message_id: string; recipients: number };
    expect(ack.recipients).toBe(1);
    await waitFor(() => bobInbox.some((m) => m.messageId === ack.message_id), 'the tool-sent DM at bob');
    const got = bobInbox.find((m) => m.messageId === ack.message_id)!;
    expect(got.from.displayName).toBe('alice');
    expect(decodeBody(got.text)).toEqual({ text: 'on it', priority: 'now', replyTo: queuedId });

    const checked = await pipe.client.callTool({ name: 'check_messages', arguments: {} });
    expect(checked.isError, textOf(checked)).toBeFalsy();
    const messages = JSON.parse(textOf(checked)) as Array<{ message_id: string; text: string; from_name: string }>;
    expect(messages.map((m) => m.text)).toEqual(['hello alice, from the cli', 'hello everyone', 'queued while you were away']);
    const store = aliceStore();
    expect(store.unreadCount(mesh.meshId)).toBe(0);
    expect(store.get(mesh.meshId, queuedId)?.read_at).toEqual(expect.any(Number));
    await eventually(async () => {
      const [status] = await bob.messageStatus({ messageIds: [queuedId] });
      return status?.recipients.find((r) => r.display_name === 'alice')?.state === 'read';
    }, 'the broker to record the read');
    expect(JSON.parse(textOf(await pipe.client.callTool({ name: 'check_messages', arguments: {} })))).toEqual([]);

    expect((await pipe.client.callTool({ name: 'set_status', arguments: { status: 'working' } })).isError).toBeFalsy();
    expect((await pipe.client.callTool({ name: 'set_summary', arguments: { summary: 'wiring the push-pipe' } })).isError).toBeFalsy();
    const peers = await pipe.client.callTool({ name: 'list_peers', arguments: {} });
    const alice = (JSON.parse(textOf(peers)) as Array<{ display_name: string; online: boolean; sessions: Array<{ status: string; summary: string }> }>).find((p) => p.display_name === 'alice');
    expect(alice).toMatchObject({ online: true, sessions: [{ status: 'working', summary: 'wiring the push-pipe' }] });

    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['send_message', { to: 'bob' }, /invalid arguments for send_message: text/],
      ['send_message', { to: 'bob', text: 'x', priority: 'urgent' }, /priority/],
      ['set_status', { status: 'sleeping' }, /invalid arguments for set_status: status/],
      ['list_peers', { verbose: true }, /verbose/],
      ['send_message', { to: 'nobody', text: 'hi' }, /E_UNKNOWN_TARGET/],
      ['delete_mesh', {}, /unknown tool delete_mesh; available: list_peers/],
    ];
    for (const [name, args, message] of bad) {
      const result = await pipe.client.callTool({ name, arguments: args });
      expect(result.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
      expect(textOf(result)).toMatch(message);
    }
    // still serving after all of that
    expect((await pipe.client.callTool({ name: 'list_peers', arguments: {} })).isError).toBeFalsy();
    await pipe.client.close();
  });

  it('pushes a topic message posted by another member as a channel event marked with its topic, and posts with topic_send', async () => {
    const pipe = await startPipe(aliceHome, ['--tools']);
    closers.push(() => pipe.client.close());
    await waitFor(() => pipe.stderr().includes('connected to mcp-mesh as alice'), 'the pipe on the mesh');
    const bob = await bobClient([]);
    const bobTopics: TopicMessage[] = [];
    bob.on('topic', (m) => bobTopics.push(m));
    const posted = await bob.topicSend('general', 'standup in 5, @alice');
    const isTopic = (n: Notification): boolean => (n.params as { meta: Record<string, string> }).meta['kind'] === 'topic';
    await waitFor(() => pipe.channel.some(isTopic), 'the topic message as a channel event');
    const params = pipe.channel.find(isTopic)!.params as { content: string; meta: Record<string, unknown> };
    expect(isChannelMeta(params.meta)).toBe(true);
    expect(params.meta).toMatchObject({ kind: 'topic', topic: 'general', message_id: posted.id, from: 'bob', from_name: 'bob', from_member: bob.memberPubkey, mesh_id: mesh.meshId });
    expect(params.content).toBe(`claudemesh #general message ${posted.id} from bob:\nstandup in 5, @alice`);
    // The topic's history is its log: nothing of it lands in the DM inbox.
    expect(aliceStore().inbox(mesh.meshId).map((m) => m.text)).not.toContain('standup in 5, @alice');

    const reply = await pipe.client.callTool({ name: 'topic_send', arguments: { topic: 'general', text: 'on my way', reply_to: posted.id } });
    expect(reply.isError, textOf(reply)).toBeFalsy();
    const stored = JSON.parse(textOf(reply)) as TopicMessage;
    expect(stored).toMatchObject({ topic: 'general', text: 'on my way', reply_to: posted.id, sender: { display_name: 'alice' } });
    await waitFor(() => bobTopics.some((m) => m.id === stored.id), 'the tool-posted topic message at bob');
    const refused = await pipe.client.callTool({ name: 'topic_send', arguments: { topic: 'nowhere', text: 'hi' } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/E_NOT_FOUND/);
    // Pushed once: alice's own post does not come back to her.
    await new Promise((r) => setTimeout(r, 200));
    expect(pipe.channel.filter(isTopic).map((n) => (n.params as { meta: Record<string, string> }).meta['message_id'])).toEqual([posted.id]);
    await pipe.client.close();
  });

  it('starts with no mesh joined: declares the channel, says how to join in one channel event, and picks the mesh up once joined', { timeout: 60_000 }, async () => {
    const fresh = home();
    const pipe = await startPipe(fresh, ['--tools'], { CLAUDEMESH_MCP_WATCH_MS: '100' });
    closers.push(() => pipe.client.close());
    expect(pipe.client.getServerCapabilities()?.experimental?.['claude/channel']).toEqual({});
    expect(pipe.client.getInstructions()).toMatch(/No mesh is joined on this machine yet/);
    await waitFor(() => pipe.channel.length === 1, 'the setup notice');
    const notice = pipe.channel[0]!.params as { content: string; meta: Record<string, unknown> };
    expect(isChannelMeta(notice.meta)).toBe(true);
    expect(notice.meta).toEqual({ kind: 'setup', state: 'not_joined', command: "claudemesh join '<invite link>' --name <your-name>", home: fresh });
    expect(notice.content).toContain("To join, run (in a terminal, or with Bash): claudemesh join '<invite link>' --name <your-name>");
    // A tool call says the same instead of failing obscurely.
    const early = await pipe.client.callTool({ name: 'list_peers', arguments: {} });
    expect(early.isError).toBe(true);
    expect(textOf(early)).toMatch(/list_peers needs a mesh, and none is joined on this machine yet\.\nTo join, run/);

    // Another process joins; the pipe connects by itself and pushes what arrives.
    const joined = await cli(fresh, ['join', await invite(), '--name', 'latecomer']);
    expect(joined.code, joined.stderr).toBe(0);
    await waitFor(() => pipe.channel.length === 2, 'the joined notice');
    expect((pipe.channel[1]!.params as { meta: Record<string, string> }).meta).toMatchObject({ kind: 'setup', state: 'joined', mesh: 'mcp-mesh', display_name: 'latecomer' });
    await waitFor(() => pipe.stderr().includes('connected to mcp-mesh as latecomer'), 'the pipe on the mesh');
    const dmId = await bobSends('latecomer', 'welcome aboard');
    await waitFor(() => pipe.channel.length === 3, 'the DM as a channel event');
    expect(pipe.channel[2]!.params).toMatchObject({ content: `claudemesh message ${dmId} from bob (direct message):\nwelcome aboard`, meta: { kind: 'dm', from_name: 'bob', message_id: dmId } });
    expect((await pipe.client.callTool({ name: 'list_peers', arguments: {} })).isError).toBeFalsy();
    await pipe.client.close();
  });

  it('reports errors before connecting on stderr with a non-zero exit and nothing on stdout', async () => {
    const wrong = await cli(aliceHome, ['mcp', '--mesh', 'no-such-mesh']);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/no single mesh matches "no-such-mesh"/);
    // A key the broker does not know: the hello is refused, and the pipe says so and stops.
    const stranger = home();
    saveMesh(stranger, { ...loadMeshes(aliceHome)[0]!, identity: serializeIdentity(generateIdentity()) });
    const refused = await cli(stranger, ['mcp']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^claudemesh: .*\[E_[A-Z_]+\]$/m);
  });

  it('keeps serving MCP while the broker is unreachable, and still exits 0 when stdin closes', async () => {
    const offline = home();
    saveMesh(offline, { ...loadMeshes(aliceHome)[0]!, broker_url: 'http://127.0.0.1:9' });
    const raw = spawnRaw(offline, children, ['--tools']);
    raw.send(INITIALIZE);
    expect((await raw.response(1)).result).toMatchObject({ capabilities: { experimental: { 'claude/channel': {} } } });
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    raw.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
    expect(((await raw.response(2)).result as { tools: unknown[] }).tools).toHaveLength(9);
    raw.child.stdin!.end();
    expect(await raw.exited).toBe(0);
    expect(raw.notJson).toEqual([]);
  });
});
