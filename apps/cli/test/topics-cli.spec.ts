import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, HANG_MS, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { CLI, cli, json, type CliResult } from './helpers/cli.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };
const SLOW = 120_000;

interface Topic {
  name: string;
  visibility: string;
  joined: boolean;
  unread: number;
  members: number;
}
interface Msg {
  id: string;
  topic: string;
  text: string;
  reply_to: string | null;
  sender: { display_name: string; peer_type: string };
  mesh_name?: string;
}
interface Key {
  id: string;
  label: string;
  display_name: string;
  capabilities: string[];
  topics: string[] | null;
  revoked_at: number | null;
  secret?: string;
}

const lines = <T>(r: CliResult): T[] => r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

/** A long-running CLI (topic tail): its stdout lines as they come, its stderr, its exit. */
class Running {
  readonly out: string[] = [];
  err = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(home: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CLAUDEMESH_HOME: home, ...direct, ...env } });
    let partial = '';
    this.child.stdout.on('data', (b: Buffer) => {
      const parts = (partial + b.toString()).split('\n');
      partial = parts.pop()!;
      this.out.push(...parts);
    });
    this.child.stderr.on('data', (b: Buffer) => (this.err += b.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  async until(what: () => boolean, label: string, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!what()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${label}; stdout: ${this.out.join('\n')} stderr: ${this.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
}

/** topic / member / notification / apikey / me through the real CLI against a live broker. */
describe('claudemesh topics, members, notifications, API keys and the workspace views', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const tails: Running[] = [];
  const home = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-topics-'));
    homes.push(h);
    return h;
  };
  const who = {} as Record<'alice' | 'bob' | 'carol', string>;
  const run = (name: keyof typeof who, args: string[], env: Record<string, string> = {}) => cli(who[name], args, { ...direct, ...env });
  const ok = async (name: keyof typeof who, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await run(name, args, env);
    expect(r.code, `${name} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const tail = (name: keyof typeof who, args: string[], env: Record<string, string> = {}): Running => {
    const t = new Running(who[name], ['topic', 'tail', ...args], env);
    tails.push(t);
    return t;
  };
  /** Every key the CLI minted for its verbs in alice's mesh (alice owns it and sees them all). */
  const perRunKeys = async (owner: keyof typeof who = 'alice', mesh?: string): Promise<Key[]> =>
    json<Key[]>(await ok(owner, ['apikey', 'list', '--all', '--json', ...(mesh ? ['--mesh', mesh] : [])])).filter((k) => k.label.startsWith('claudemesh-cli:'));
  const api = (path: string, key: string, init: RequestInit = {}) =>
    fetch(`${tb.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    for (const name of ['alice', 'bob', 'carol'] as const) who[name] = home();
    // This suite is about what plaintext topics do (text over REST, mentions by name, search): a
    // plaintext #general and plaintext topics, asked for as an integration would.
    await ok('alice', ['mesh', 'create', 'topics-a', '--broker', tb.url, '--name', 'alice', '--plaintext-general'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const { link } = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '2', '--json']));
    await ok('bob', ['join', link, '--name', 'bob']);
    await ok('carol', ['join', link, '--name', 'carol']);
  }, SLOW);
  afterAll(async () => {
    for (const t of tails) await t.stop('SIGKILL').catch(() => undefined);
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('creates, lists, joins and leaves topics; posts, threads, pages history and moves read marks', async () => {
    const created = json<Topic>(await ok('alice', ['topic', 'create', 'deploys', '--plaintext', '--description', 'release notes', '--json']));
    expect(created).toMatchObject({ name: 'deploys', visibility: 'public', joined: true, members: 1 });
    const again = await run('alice', ['topic', 'create', '#deploys', '--plaintext']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\[E_CONFLICT\][\s\S]*next: join it instead: claudemesh topic join deploys/);

    const listed = json<Topic[]>(await ok('bob', ['topic', 'list', '--json']));
    expect(listed.map((t) => [t.name, t.joined])).toEqual([['deploys', false], ['general', true]]);
    expect(json<Topic>(await ok('bob', ['topic', 'join', '#deploys', '--json']))).toMatchObject({ joined: true, members: 2 });

    const first = json<{ message: Msg }>(await ok('alice', ['topic', 'send', 'deploys', 'v1.2', 'is', 'out', '--json'])).message;
    expect(first).toMatchObject({ topic: 'deploys', text: 'v1.2 is out', reply_to: null, sender: { display_name: 'alice' } });
    expect(json<Topic[]>(await ok('bob', ['topic', 'list', '--json'])).find((t) => t.name === 'deploys')!.unread).toBe(1);
    const reply = json<{ message: Msg }>(await ok('bob', ['topic', 'send', 'Deploys', 'thanks!', '--reply-to', first.id, '--json'])).message;
    expect(reply.reply_to).toBe(first.id);

    const history = lines<Msg>(await ok('alice', ['topic', 'history', 'deploys', '--json']));
    expect(history.map((m) => [m.id, m.sender.display_name, m.text])).toEqual([[first.id, 'alice', 'v1.2 is out'], [reply.id, 'bob', 'thanks!']]);
    const text = (await ok('alice', ['topic', 'history', 'deploys'])).stdout;
    expect(text).toMatch(new RegExp(`#${reply.id} \\[[^\\]]+\\] ↳ re #${first.id} bob: thanks!`));
    const newest = await ok('alice', ['topic', 'history', 'deploys', '--limit', '1']);
    expect(newest.stdout).toMatch(new RegExp(`^#${reply.id} [\\s\\S]*older: claudemesh topic history deploys --before ${reply.id}\\n$`));
    expect(lines<Msg>(await ok('alice', ['topic', 'history', 'deploys', '--before', reply.id, '--json'])).map((m) => m.id)).toEqual([first.id]);

    // alice's own posts are not unread for her; bob's reply is, until she marks it.
    expect(json<Topic[]>(await ok('alice', ['topic', 'list', '--json'])).find((t) => t.name === 'deploys')!.unread).toBe(1);
    expect(json<{ last_read_id: string; unread: number }>(await ok('alice', ['topic', 'read', 'deploys', '--json']))).toEqual({ topic: 'deploys', last_read_id: reply.id, unread: 0 });
    expect(json<Topic[]>(await ok('alice', ['topic', 'list', '--json'])).find((t) => t.name === 'deploys')!.unread).toBe(0);

    const members = json<Array<{ display_name: string }>>(await ok('bob', ['topic', 'members', 'deploys', '--json']));
    expect(members.map((m) => m.display_name).sort()).toEqual(['alice', 'bob']);
    expect(json<{ left: boolean }>(await ok('bob', ['topic', 'leave', 'deploys', '--json']))).toEqual({ topic: 'deploys', left: true });
    expect(json<Topic[]>(await ok('bob', ['topic', 'list', '--json'])).find((t) => t.name === 'deploys')!.joined).toBe(false);

    // Every verb minted its own key and revoked it when done.
    const keys = await perRunKeys();
    expect(keys.length).toBeGreaterThanOrEqual(14);
    expect(keys.filter((k) => k.revoked_at === null)).toEqual([]);
    expect(keys.find((k) => k.label === 'claudemesh-cli: topic send')).toMatchObject({ capabilities: ['send'], topics: ['deploys'] });
    expect(json<Key[]>(await ok('alice', ['apikey', 'list', '--json']))).toEqual([]);
  }, SLOW);

  it('keeps a private topic to its members: others are refused until a member adds them', async () => {
    await ok('alice', ['topic', 'create', 'secret', '--private', '--plaintext']);
    const refused = await run('carol', ['topic', 'history', 'secret']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/private[\s\S]*\[E_FORBIDDEN\][\s\S]*next: a member of #secret can let you in: claudemesh topic add secret carol/);
    expect((await run('carol', ['topic', 'join', 'secret'])).code).toBe(1);
    expect((await run('carol', ['topic', 'send', 'secret', 'let me in'])).code).toBe(1);
    expect(json<Topic[]>(await ok('carol', ['topic', 'list', '--json'])).map((t) => t.name)).not.toContain('secret');
    const notMember = await run('bob', ['topic', 'add', 'secret', 'bob']);
    expect(notMember.code).toBe(1);
    expect(notMember.stderr).toMatch(/E_FORBIDDEN/);

    const added = json<Array<{ display_name: string }>>(await ok('alice', ['topic', 'add', 'secret', 'carol', '--json']));
    expect(added.map((m) => m.display_name).sort()).toEqual(['alice', 'carol']);
    await ok('carol', ['topic', 'send', 'secret', 'in now']);
    expect(lines<Msg>(await ok('alice', ['topic', 'history', 'secret', '--json'])).map((m) => m.text)).toEqual(['in now']);
  }, SLOW);

  it('answers bad input and missing things with the documented exit codes and a next step', async () => {
    const unknown = await run('bob', ['topic', 'history', 'nope']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/no topic #nope[\s\S]*\[E_NOT_FOUND\][\s\S]*next: see the topics: claudemesh topic list/);
    expect((await run('bob', ['topic', 'send', 'nope', 'hi'])).code).toBe(4);
    expect((await run('bob', ['topic', 'tail', 'nope'])).code).toBe(4);
    expect((await run('alice', ['topic', 'add', 'deploys', 'nobody'])).code).toBe(4);
    const badName = await run('bob', ['topic', 'join', 'Bad Name!']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toMatch(/not a topic name/);
    const empty = await run('bob', ['topic', 'send', 'general']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/nothing to post; usage: claudemesh topic send general <text>/);
    expect((await run('bob', ['me', 'search'])).code).toBe(2);
    expect((await run('bob', ['topic', 'history', 'general', '--limit', '0'])).code).toBe(2);
    expect((await run('bob', ['topic', 'send', 'general', 'x', '--reply-to', 'abc'])).code).toBe(2);
    // A reply to a message of another topic is refused by the broker as bad input.
    const [other] = lines<Msg>(await ok('bob', ['topic', 'history', 'deploys', '--json']));
    const cross = await run('bob', ['topic', 'send', 'general', 'x', '--reply-to', other!.id]);
    expect(cross.code).toBe(2);
    expect(cross.stderr).toMatch(/E_SCHEMA[\s\S]*next: --reply-to must name a message of #general/);
    expect((await run('alice', ['apikey', 'create', '--caps', 'read,teleport'])).code).toBe(2);
    expect((await run('alice', ['apikey', 'create', '--ttl', '5'])).code).toBe(2);
    const unconfirmed = await run('alice', ['apikey', 'revoke', '0123456789abcdef']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/-y/);
    expect((await run('alice', ['apikey', 'revoke', '0123456789abcdef', '-y'])).code).toBe(4);

    // A mesh whose broker is gone: exit 5, and no key was ever minted.
    const lost = home();
    const file = readdirSync(join(who.bob, 'meshes'))[0]!;
    const stored = JSON.parse(readFileSync(join(who.bob, 'meshes', file), 'utf8')) as { broker_url: string };
    const port = await closedPort();
    cpMesh(lost, file, { ...stored, broker_url: `http://127.0.0.1:${port}` });
    const down = await cli(lost, ['topic', 'list'], direct);
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/cannot reach the broker[\s\S]*next:/);
  }, SLOW);

  it('tail follows a topic live (NDJSON), replays --since, and revokes its key when stopped', async () => {
    const live = tail('bob', ['general', '--json']);
    await live.until(() => /following #general/.test(live.err), 'the tail to connect');
    const posted = json<{ message: Msg }>(await ok('alice', ['topic', 'send', 'general', 'hello', 'tail', '--json'])).message;
    await live.until(() => live.out.length >= 1, 'the posted line');
    expect(JSON.parse(live.out[0]!)).toMatchObject({ id: posted.id, topic: 'general', text: 'hello tail', sender: { display_name: 'alice' } });
    const after = json<{ message: Msg }>(await ok('carol', ['topic', 'send', 'general', 'second', '--reply-to', posted.id, '--json'])).message;
    await live.until(() => live.out.length >= 2, 'the reply');
    expect(JSON.parse(live.out[1]!)).toMatchObject({ id: after.id, reply_to: posted.id });
    expect(await live.stop('SIGTERM')).toBe(0);
    expect(live.err).toMatch(/stopped following #general \(SIGTERM\)/);

    // --since replays what came after that id, in text form with the thread marker.
    const replay = tail('carol', ['general', '--since', posted.id]);
    await replay.until(() => replay.out.length >= 1, 'the replayed reply');
    expect(replay.out[0]).toMatch(new RegExp(`^#${after.id} \\[\\d\\d:\\d\\d:\\d\\d\\] ↳ re #${posted.id} carol: second$`));
    expect(await replay.stop('SIGINT')).toBe(0);

    const keys = (await perRunKeys()).filter((k) => k.label === 'claudemesh-cli: topic tail');
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(keys.filter((k) => k.revoked_at === null)).toEqual([]);
    expect(keys.every((k) => k.capabilities.join() === 'read' && k.topics?.length === 1)).toBe(true);
  }, SLOW);

  it('tail switches to a fresh key before the old one expires, without missing a message', async () => {
    const before = (await perRunKeys()).length;
    const live = tail('bob', ['general', '--json'], { CLAUDEMESH_REST_KEY_TTL_S: '10' });
    await live.until(() => /following #general/.test(live.err), 'the tail to connect');
    // The tail mints its second key at 80% of the first one's lifetime (8 s); post once it has.
    const tailKeys = async () => (await perRunKeys()).slice(before).filter((k) => k.label === 'claudemesh-cli: topic tail');
    for (let waited = 0; (await tailKeys()).length < 2; waited += 1_000) {
      if (waited > HANG_MS) throw new Error('the tail never minted its second key');
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const posted = json<{ message: Msg }>(await ok('alice', ['topic', 'send', 'general', 'after', 'the', 'switch', '--json'])).message;
    await live.until(() => live.out.some((l) => (JSON.parse(l) as Msg).id === posted.id), 'the message after the switch');
    expect(await live.stop()).toBe(0);
    const minted = (await perRunKeys()).slice(before).filter((k) => k.label === 'claudemesh-cli: topic tail');
    expect(minted.length).toBeGreaterThanOrEqual(2);
    expect(minted.filter((k) => k.revoked_at === null)).toEqual([]);
  }, SLOW);

  it('records @mentions and replies as notifications; --unread filters and --read marks them', async () => {
    const mention = json<{ message: Msg }>(await ok('alice', ['topic', 'send', 'deploys', '@bob', 'please', 'review', '--json'])).message;
    const notes = lines<{ id: string; kind: string; topic: string; actor: { display_name: string }; message: Msg; read_at: number | null }>(await ok('bob', ['notification', 'list', '--unread', '--json']));
    expect(notes.map((n) => [n.kind, n.topic, n.actor.display_name, n.message.id])).toEqual([['mention', 'deploys', 'alice', mention.id]]);
    await ok('bob', ['topic', 'send', 'deploys', 'on it', '--reply-to', mention.id]);
    const aliceNotes = lines<{ kind: string; actor: { display_name: string } }>(await ok('alice', ['notification', 'list', '--json']));
    expect(aliceNotes[0]).toMatchObject({ kind: 'reply', actor: { display_name: 'bob' } });

    expect((await ok('bob', ['notification', 'list'])).stdout).toMatch(/^\* #deploys alice mentioned you in #\d+: @bob please review\nmark them read/);
    expect((await ok('bob', ['notification', 'list', '--read'])).stdout).toMatch(/marked 1 read/);
    expect(lines(await ok('bob', ['notification', 'list', '--unread', '--json']))).toEqual([]);
    expect(lines(await ok('bob', ['notification', 'list', '--json']))).toHaveLength(1);
  }, SLOW);

  it('apikey create shows the secret once; the key works within its scope until apikey revoke', async () => {
    const r = await ok('alice', ['apikey', 'create', '--label', 'ci bot', '--caps', 'read', '--topics', 'deploys', '--ttl', '1h', '--json']);
    const key = json<Key>(r);
    expect(key).toMatchObject({ label: 'ci bot', display_name: 'alice', capabilities: ['read'], topics: ['deploys'], revoked_at: null });
    expect(key.secret).toMatch(new RegExp(`^cmk_${key.id}_[A-Za-z0-9_-]{43}$`));
    expect(r.stderr).toMatch(/WARNING: this is the only time the key is shown/);
    const listed = json<Key[]>(await ok('alice', ['apikey', 'list', '--json']));
    expect(listed.map((k) => k.id)).toEqual([key.id]);
    expect(listed[0]).not.toHaveProperty('secret');

    const me = await api('/me', key.secret!);
    expect(me.status).toBe(200);
    expect(((await me.json()) as { key: { topics: string[] } }).key.topics).toEqual(['deploys']);
    expect((await api('/topics/general/messages', key.secret!)).status).toBe(403); // outside its topics
    expect((await api('/topics/deploys/messages', key.secret!, { method: 'POST', body: JSON.stringify({ text: 'no send cap' }) })).status).toBe(403);

    const revoked = json<Key>(await ok('alice', ['apikey', 'revoke', key.secret!, '-y', '--json']));
    expect(revoked.revoked_at).not.toBeNull();
    expect((await api('/me', key.secret!)).status).toBe(401);
    // The policy's audit log names the revoked key by id, never by its secret.
    const audit = readFileSync(join(who.alice, 'audit.log'), 'utf8');
    expect(audit).toMatch(new RegExp(`"verb":"revoke".*"${key.id}"`));
    expect(audit).not.toContain(key.secret!.slice(`cmk_${key.id}_`.length));

    const denied = await run('bob', ['apikey', 'create', '--human', 'eve']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/E_FORBIDDEN[\s\S]*only an owner or admin/);
    expect((await run('bob', ['apikey', 'create', '--caps', 'admin'])).code).toBe(1);
    const bobs = json<Key>(await ok('bob', ['apikey', 'create', '--json']));
    expect(bobs.capabilities).toEqual(['read', 'send']);
    await ok('bob', ['apikey', 'revoke', bobs.id, '-y']);
  }, SLOW);

  it('a human enrolled with --human posts with plain fetch; an agent’s tail sees it and member list shows them', async () => {
    const dana = json<Key>(await ok('alice', ['apikey', 'create', '--human', 'dana', '--label', 'dana laptop', '--json']));
    expect(dana).toMatchObject({ display_name: 'dana', capabilities: ['read', 'send'] });
    const live = tail('bob', ['general']);
    await live.until(() => /following #general/.test(live.err), 'the tail to connect');
    const res = await api('/topics/general/messages', dana.secret!, { method: 'POST', body: JSON.stringify({ text: 'hi from curl, @bob' }) });
    expect(res.status).toBe(201);
    const { message } = (await res.json()) as { message: Msg };
    await live.until(() => live.out.length >= 1, 'dana’s line');
    expect(live.out[0]).toMatch(new RegExp(`^#${message.id} \\[[0-9:]+\\] dana \\(human\\): hi from curl, @bob$`));
    expect(await live.stop()).toBe(0);

    const members = json<Array<{ display_name: string; peer_type: string; rest_only: boolean; rest_active: boolean; online: boolean }>>(await ok('carol', ['member', 'list', '--json']));
    expect(members.find((m) => m.display_name === 'dana')).toMatchObject({ peer_type: 'human', rest_only: true, rest_active: true, online: true });
    expect(members.map((m) => m.display_name)).toEqual(expect.arrayContaining(['alice', 'bob', 'carol', 'dana']));
    expect((await ok('carol', ['member', 'list'])).stdout).toMatch(/dana\s+human\s+member\s+online \(REST\)\s+\[REST-only\]/);
  }, SLOW);

  it('me views span every joined mesh unless --mesh is given; writes still want one mesh', async () => {
    await ok('carol', ['mesh', 'create', 'topics-b', '--broker', tb.url, '--name', 'carol-b', '--plaintext-general'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const { link } = json<{ link: string }>(await ok('carol', ['mesh', 'invite', '--mesh', 'topics-b', '--json']));
    await ok('bob', ['join', link, '--name', 'bob']);
    await ok('carol', ['topic', 'send', 'general', '@bob', 'welcome', 'to', 'b', '--mesh', 'topics-b']);

    const summaries = json<Array<{ mesh_name: string; member: { display_name: string; role: string }; topics_joined: number; unread_notifications: number }>>(await ok('bob', ['me', '--json']));
    expect(summaries.map((s) => [s.mesh_name, s.member.display_name, s.member.role]).sort()).toEqual([['topics-a', 'bob', 'member'], ['topics-b', 'bob', 'member']]);
    expect(summaries.find((s) => s.mesh_name === 'topics-b')!.unread_notifications).toBe(1);
    expect((await ok('bob', ['me'])).stdout).toMatch(/topics-b: bob \(member, ai\) — 1 topic joined, 1 unread, 1 unread notification/);

    const topics = json<Array<{ mesh_name: string; name: string }>>(await ok('bob', ['me', 'topics', '--json']));
    // bob left #deploys, then posted there again (posting joins a public topic).
    expect(topics.map((t) => `${t.mesh_name}/${t.name}`).sort()).toEqual(['topics-a/deploys', 'topics-a/general', 'topics-b/general']);
    const notes = lines<{ mesh_name: string; kind: string }>(await ok('bob', ['me', 'notifications', '--unread', '--json']));
    // newest first across meshes: carol's welcome in b, then dana's "@bob" in a
    expect(notes.map((n) => `${n.mesh_name}:${n.kind}`)).toEqual(['topics-b:mention', 'topics-a:mention']);
    const activity = lines<Msg>(await ok('bob', ['me', 'activity', '--limit', '3', '--json']));
    expect(activity[0]).toMatchObject({ mesh_name: 'topics-b', text: '@bob welcome to b' });
    expect(activity.map((m) => m.mesh_name)).toContain('topics-a');
    const found = lines<Msg>(await ok('bob', ['me', 'search', 'welcome', '--json']));
    expect(found.map((m) => `${m.mesh_name}:${m.text}`)).toEqual(['topics-b:@bob welcome to b']);
    expect(lines<Msg>(await ok('bob', ['me', 'search', 'review', '--json'])).map((m) => m.mesh_name)).toEqual(['topics-a']);
    expect(json<unknown[]>(await ok('bob', ['me', '--mesh', 'topics-b', '--json']))).toHaveLength(1);

    const ambiguous = await run('bob', ['topic', 'send', 'general', 'where?']);
    expect(ambiguous.code).toBe(3);
    expect(ambiguous.stderr).toMatch(/--mesh/);
    // Nothing the verbs minted is left unrevoked, in either mesh.
    expect((await perRunKeys('alice')).filter((k) => k.revoked_at === null)).toEqual([]);
    const inB = await perRunKeys('carol', 'topics-b');
    expect(inB.length).toBeGreaterThan(0);
    expect(inB.filter((k) => k.revoked_at === null)).toEqual([]);
  }, SLOW);
});

/** A copy of one mesh file in another home, with some fields changed. */
function cpMesh(to: string, file: string, content: unknown): void {
  mkdirSync(join(to, 'meshes'), { recursive: true, mode: 0o700 });
  writeFileSync(join(to, 'meshes', file), JSON.stringify(content), { mode: 0o600 });
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
