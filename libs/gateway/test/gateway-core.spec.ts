import { decodeBody } from '@claudemesh/core/body';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningPlugin } from '@claudemesh/plugin';
import { GatewayCommonConfig, RetryAfter, startGateway, type ChatInbound, type ChatOutbound, type Surface, type SurfaceStatus } from '@claudemesh/gateway';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { cli, json, type CliResult } from '../../../apps/cli/test/helpers/cli.js';

/**
 * The gateway core (docs/gateways.md) between a real broker, real CLI members and a scripted chat
 * surface held in this process: what each chat service's adapter hands over and is handed, so the
 * rules common to the three gateways (linking, refusals, dedupe, threads, rate limits, retries,
 * restarts) are checked once here; each plugin's own tests run its real library against a local
 * fake of its API.
 */
const HANG_MS = 90_000;
const logs: string[] = [];
const direct = { CLAUDEMESH_DAEMON: 'off' };

async function until<T>(f: () => T | Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 800)}\n${logs.slice(-20).join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Surface message ids, unique across the chats of this file (a gateway's home remembers what it saw). */
let nextId = 1000;

/** A chat surface driven by the test: `say` is a chat user writing, `sent` what the gateway wrote to the chat. */
class ScriptedChat implements Surface {
  readonly name = 'telegram' as const;
  readonly maxText = 200;
  sent: Array<ChatOutbound & { messageId: string }> = [];
  /** The next sends that answer 429 with this delay. */
  throttle: number[] = [];
  private deliver: ((m: ChatInbound) => Promise<void>) | null = null;
  async start(deliver: (m: ChatInbound) => Promise<void>): Promise<void> {
    this.deliver = deliver;
  }
  async send(m: ChatOutbound): Promise<{ messageId: string }> {
    const wait = this.throttle.shift();
    if (wait !== undefined) throw new RetryAfter(wait);
    const messageId = String(nextId++);
    this.sent.push({ ...m, messageId });
    return { messageId };
  }
  async stop(): Promise<void> {
    this.deliver = null;
  }
  status(): SurfaceStatus {
    return { connected: this.deliver !== null, mode: 'scripted', last_event_at: null, last_error: null };
  }
  /** A chat user's message, delivered as an adapter would: resolved once the gateway took it. */
  say(m: Partial<ChatInbound> & { user: string; text: string }): Promise<void> {
    const messageId = m.messageId ?? String(nextId++);
    return this.deliver!({ dedupeId: `u${messageId}`, chat: '-100', userName: `User ${m.user}`, attachments: [], direct: false, messageId, ...m });
  }
  textsTo(chat: string): string[] {
    return this.sent.filter((s) => s.chat === chat).map((s) => s.text);
  }
}

interface Msg { id: string; text: string | null; reply_to?: string; sender: { display_name: string } }

describe('gateway core', () => {
  let tb: TestBroker;
  const dir = mkdtempSync(join(tmpdir(), 'cmh-gw-'));
  const home = (name: string): string => join(dir, name);
  const ok = async (who: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(home(who), args, { ...direct, ...env });
    expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const history = async (): Promise<Msg[]> =>
    (await ok('alice', ['topic', 'history', 'general', '--json', '--limit', '200'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Msg);
  const seen = (m: Msg): string => {
    const b = decodeBody(m.text ?? '');
    return b.forwarded ? `${b.forwarded.from}@${b.forwarded.mesh}: ${b.text}` : `${m.sender.display_name}: ${m.text}`;
  };
  const config = GatewayCommonConfig.parse({ mesh: 'alpha', chats: [{ chat: '-100', topic: 'general' }, { chat: 'direct', topic: 'general' }], rate: { per_minute: 1, burst: 4 }, poll_ms: 200 });
  const start = (chat: ScriptedChat): Promise<RunningPlugin> => startGateway({ instance: 'tg', config, home: home('tg'), log: (l) => logs.push(l) }, chat);
  const linkCode = async (who: string, extra: string[] = []): Promise<string> => json<{ code: string }>(await ok(who, ['gateway', 'link', 'tg', '--json', ...extra])).code;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    await ok('alice', ['mesh', 'create', 'alpha', '--broker', tb.url, '--name', 'alice'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const invite = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '5', '--json'])).link;
    await ok('tg', ['join', invite, '--name', 'tg']);
    await ok('bob', ['join', invite, '--name', 'bob']);
    await ok('alice', ['topic', 'send', 'general', 'general is open']);
  }, HANG_MS);
  afterAll(async () => {
    await tb?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('links by one-time code, relays both ways with threads, refuses the unlinked, dedupes, limits and retries', async () => {
    const chat = new ScriptedChat();
    const gw = await start(chat);
    try {
      // Someone not linked is answered once, politely, and nothing reaches the mesh.
      await chat.say({ user: 'mallory', text: 'let me in' });
      await chat.say({ user: 'mallory', text: 'please' });
      expect(chat.textsTo('-100').filter((t) => t.includes('only linked people are heard'))).toHaveLength(1);

      // alice links herself: the code goes to the gateway as a hash, in an e2e DM.
      const code = await linkCode('alice');
      expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
      await until(() => gw.counters!().pending_codes, (n) => n === 1, 'the code to reach the gateway');
      // Typed sloppily (lower case, no dash) it still matches; used once, it is gone.
      await chat.say({ user: '42', text: `/link ${code.toLowerCase().replace('-', '')}` });
      expect(chat.sent.at(-1)!.text).toContain('you write to the mesh as alice@telegram');
      await chat.say({ user: '43', text: `link ${code}` });
      expect(chat.sent.at(-1)!.text).toContain('not valid');

      // Guessing is bounded: 5 wrong codes are answered, the 6th and later are not.
      const notValid = (): number => chat.textsTo('-100').filter((t) => t.includes('not valid')).length;
      const before = notValid();
      for (let i = 0; i < 7; i++) await chat.say({ user: 'guesser', text: `link AAAA-AAA${i}` });
      expect(notValid() - before).toBe(5);

      // bob (a plain member) cannot link someone under another name.
      await ok('bob', ['gateway', 'link', 'tg', '--name', 'Dana', '--json']);
      await until(async () => (await ok('bob', ['inbox', '--json'])).stdout, (s) => s.includes('only an owner or admin'), 'the refusal to bob');

      // A linked user's message lands in #general, attributed; the same update twice is posted once.
      await chat.say({ user: '42', text: 'deploy at noon?', messageId: '500', dedupeId: 'upd-1' });
      await chat.say({ user: '42', text: 'deploy at noon?', messageId: '500', dedupeId: 'upd-1' });
      const h = await until(history, (x) => x.some((m) => seen(m) === 'alice@telegram: deploy at noon?'), 'the chat message in #general');
      expect(h.filter((m) => seen(m) === 'alice@telegram: deploy at noon?')).toHaveLength(1);
      const asked = h.find((m) => seen(m) === 'alice@telegram: deploy at noon?')!;

      // bob answers in the topic, as a reply: the chat gets it in the thread of the question.
      await ok('bob', ['topic', 'send', 'general', 'yes, at noon', '--reply-to', asked.id]);
      const answer = await until(() => chat.sent.find((s) => s.text === 'bob: yes, at noon'), (s) => s !== undefined, 'the reply in the chat');
      expect(answer).toMatchObject({ chat: '-100', thread: '500' });
      // The chat answers bob's message in its thread: a reply in the topic.
      await chat.say({ user: '42', text: 'thanks', thread: answer!.messageId });
      const thanks = (await until(history, (x) => x.some((m) => seen(m) === 'alice@telegram: thanks'), 'the threaded answer')).find((m) => seen(m) === 'alice@telegram: thanks')!;
      expect(thanks.reply_to).toBe((await history()).find((m) => m.text !== null && m.text.includes('yes, at noon'))!.id);

      // `@name …` is a DM to that member; its reply goes back to the chat that asked.
      await chat.say({ user: '42', text: '@bob can you look at PR 7?', messageId: '600' });
      const inbox = await until(async () => (await ok('bob', ['inbox', '--json'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { message_id: string; text: string; forwarded_from?: string }), (xs) => xs.some((x) => x.text === 'can you look at PR 7?'), 'the DM to bob');
      const dm = inbox.find((x) => x.text === 'can you look at PR 7?')!;
      await ok('bob', ['send', 'tg', 'on it', '--reply-to', dm.message_id]);
      expect(await until(() => chat.sent.find((s) => s.text === 'bob: on it'), (s) => s !== undefined, 'bob\'s DM answer in the chat')).toMatchObject({ chat: '-100', thread: '600' });

      // A 429 is waited out, then sent once.
      chat.throttle.push(300);
      await ok('bob', ['topic', 'send', 'general', 'after a throttle']);
      await until(() => chat.textsTo('-100'), (t) => t.includes('bob: after a throttle'), 'the throttled message');
      expect(chat.textsTo('-100').filter((t) => t === 'bob: after a throttle')).toHaveLength(1);

      // Long text is split within the surface's limit, each part numbered.
      await ok('bob', ['topic', 'send', 'general', `long ${'word '.repeat(80)}end`]);
      const parts = await until(() => chat.textsTo('-100').filter((t) => /^\(\d\/\d\) /.test(t)), (p) => p.length >= 2, 'the parts');
      for (const p of parts) expect(p.length).toBeLessThanOrEqual(chat.maxText);

      // The rate limit: a burst of 4 (3 spent above), then one notice and nothing more reaches the mesh.
      for (let i = 0; i < 6; i++) await chat.say({ user: '42', text: `flood ${i}` });
      const flood = (await history()).map(seen).filter((t) => t.startsWith('alice@telegram: flood'));
      expect(flood.length).toBeLessThanOrEqual(2);
      expect(Number(gw.counters!()['rate_limited'])).toBeGreaterThanOrEqual(4);
      expect(chat.textsTo('-100').some((t) => t.includes('messages a minute'))).toBe(true);

      // A chat that is not mapped to a topic is refused.
      await chat.say({ user: '42', text: 'from elsewhere', chat: '-999' });
      expect(chat.textsTo('-999').at(-1)).toContain('not linked to a topic');
      expect((await history()).map(seen)).not.toContain('alice@telegram: from elsewhere');
      const counters = gw.counters!();
      expect(counters).toMatchObject({ linked_users: 1, duplicates: 1 });
      expect(Number(counters['refused_unlinked'])).toBe(2);
    } finally {
      await gw.stop(5000);
    }
  }, HANG_MS * 3);

  it('a restart relays what was said meanwhile once, and never repeats what the chat has', async () => {
    const chat = new ScriptedChat();
    let gw = await start(chat);
    await ok('bob', ['topic', 'send', 'general', 'before the restart']);
    await until(() => chat.textsTo('-100'), (t) => t.includes('bob: before the restart'), 'the first message');
    await gw.stop(5000);
    await ok('bob', ['topic', 'send', 'general', 'while it was down']);
    gw = await start(chat);
    try {
      await until(() => chat.textsTo('-100'), (t) => t.includes('bob: while it was down'), 'the message said while down');
      await ok('bob', ['topic', 'send', 'general', 'after']);
      await until(() => chat.textsTo('-100'), (t) => t.includes('bob: after'), 'the next one');
      for (const t of ['bob: before the restart', 'bob: while it was down', 'bob: after']) expect(chat.textsTo('-100').filter((x) => x === t)).toHaveLength(1);
      // The link survived the restart: alice still speaks here.
      await chat.say({ user: '42', text: 'still linked' });
      await until(history, (x) => x.some((m) => seen(m) === 'alice@telegram: still linked'), 'a post after the restart');
    } finally {
      await gw.stop(5000);
    }
  }, HANG_MS * 2);
});
