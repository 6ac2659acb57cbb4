import { decodeBody } from '@claudemesh/core/body';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PluginHost, loadHostConfig } from '@claudemesh/plugin';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from './broker.js';
import { cli, json, type CliResult } from '../../apps/cli/test/helpers/cli.js';

/**
 * One end-to-end scenario for every chat gateway (docs/gateways.md): a real broker, the agent alice
 * as a real CLI member, the gateway plugin run by the real plugin host as its own process against a
 * local fake of its chat API, driven by the chat library the plugin uses. Each gateway's spec gives
 * a driver: how a chat user writes (through the fake), what the fake was asked to send.
 */
export const HANG_MS = 90_000;

export interface ChatSaid {
  /** The surface's id of the message (what a reply in its thread names). */
  messageId: string;
  /** The chat it was said in. */
  chat: string;
  /** Delivers the very same event again, as the service does when it thinks it was not taken (where the fake can). */
  redeliver?: () => Promise<void>;
}

export interface ChatSent {
  chat: string;
  text: string;
  thread?: string;
}

export interface ChatDriver {
  /** e.g. `gateway-telegram`. */
  plugin: string;
  /** How the attribution names the surface: `telegram`, `slack`, `whatsapp`. */
  surface: string;
  /** The chat the scenario talks in, and the `chats` mapping of the gateway's config (YAML flow). */
  chat: string;
  chatsYaml: string;
  /** The surface's block of the gateway's config (YAML flow, one line), pointing at the fake. */
  surfaceYaml(): string;
  /** A chat user writes; resolved once the fake handed it over (not once the gateway took it). */
  say(o: { user: string; name: string; text: string; thread?: string }): Promise<ChatSaid>;
  /** What the gateway had the fake send (answered ok), in order. */
  sent(): ChatSent[];
  /** The next `n` sends answer 429 with retry-after `seconds`. */
  throttle(n: number, seconds: number): void;
  /** How many sends were answered 429 so far. */
  throttled(): number;
  close(): Promise<void>;
}

interface Msg { id: string; text: string | null; reply_to?: string | null; sender: { display_name: string } }

/** A free TCP port on 127.0.0.1 (for a gateway's webhook server). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export function describeGateway(title: string, makeDriver: () => Promise<ChatDriver>): void {
  describe(title, () => {
    let tb: TestBroker;
    let d: ChatDriver;
    const dir = mkdtempSync(join(tmpdir(), 'cmh-gwe2e-'));
    const home = (name: string): string => join(dir, name);
    const hosts: PluginHost[] = [];
    const logs: string[] = [];
    const until = async <T>(f: () => T | Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> => {
      const deadline = Date.now() + HANG_MS;
      for (;;) {
        const v = await f();
        if (ok(v)) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 600)}\n${logs.slice(-25).join('\n')}`);
        await new Promise((r) => setTimeout(r, 150));
      }
    };
    const ok = async (who: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
      const r = await cli(home(who), args, { CLAUDEMESH_DAEMON: 'off', ...env });
      expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r;
    };
    /** #general as alice (the agent) reads it: decrypted on her side, forwarded ones as `name@surface: text`. */
    const history = async (): Promise<Array<Msg & { seen: string }>> =>
      (await ok('alice', ['topic', 'history', 'general', '--json', '--limit', '200'])).stdout.split('\n').filter(Boolean).map((l) => {
        const m = JSON.parse(l) as Msg;
        const b = decodeBody(m.text ?? '');
        return { ...m, seen: b.forwarded ? `${b.forwarded.from}@${b.forwarded.mesh}: ${b.text}` : `${m.sender.display_name}: ${m.text}` };
      });
    const texts = (): string[] => d.sent().map((s) => s.text);
    const runHost = async (): Promise<PluginHost> => {
      const file = join(dir, 'gw.yaml');
      writeFileSync(file, [
        'plugins:',
        '  - instance: gw',
        `    plugin: ${d.plugin}`,
        `    home: ${home('gw')}`,
        '    health: { interval_ms: 200 }',
        '    restart: { backoff_ms: 100 }',
        '    config:',
        '      mesh: alpha',
        `      chats: ${d.chatsYaml}`,
        '      rate: { per_minute: 600, burst: 100 }',
        '      poll_ms: 300',
        `      ${d.surfaceYaml()}`,
        '',
      ].join('\n'));
      const host = new PluginHost({ loaded: loadHostConfig(file), hostVersion: '0.1.0', pluginsDir: fileURLToPath(new URL('../../plugins/', import.meta.url)), home: dir, log: (l) => logs.push(l) });
      hosts.push(host);
      await host.start();
      await until(() => host.status()[0]!, (st) => st.state === 'running', 'the gateway to run');
      return host;
    };
    /** Links a chat user as `name` with a code alice (owner) issues. */
    /** Links a chat user as `name` with a code alice (owner) issues; the chat they linked in. */
    const link = async (user: string, name: string): Promise<string> => {
      const code = json<{ code: string }>(await ok('alice', ['gateway', 'link', 'gw', '--name', name, '--json'])).code;
      // The gateway learns the code from alice's DM: retried until it has (a code is used once, so only a refusal repeats).
      let chat = '';
      await until(async () => {
        const before = d.sent().length;
        chat = (await d.say({ user, name, text: `link ${code}` })).chat;
        await until(() => d.sent().length, (n) => n > before, 'the answer to the link code');
        return texts().some((t) => t.includes(`you write to the mesh as ${name}@${d.surface}`));
      }, (linked) => linked, `${name} to be linked`);
      return chat;
    };

    beforeAll(async () => {
      d = await makeDriver();
      tb = await startTestBroker('embedded');
      await ok('alice', ['mesh', 'create', 'alpha', '--broker', tb.url, '--name', 'alice'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
      const invite = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '3', '--json'])).link;
      await ok('gw', ['join', invite, '--name', 'gw']);
      await ok('alice', ['topic', 'send', 'general', 'general is open']);
    }, HANG_MS);
    afterEach(async () => {
      await Promise.all(hosts.splice(0).map((h) => h.stop()));
    });
    afterAll(async () => {
      await d?.close();
      await tb?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('human → agent → human: the unlinked are refused, a linked user reaches the agent, the reply lands in its thread, a 429 is waited out, no plaintext stored', async () => {
      const host = await runHost();
      await d.say({ user: '9001', name: 'Mallory', text: 'let me in' });
      await until(texts, (t) => t.some((x) => x.includes('only linked people are heard')), 'the refusal');

      await link('7001', 'Dana');
      const asked = await d.say({ user: '7001', name: 'Dana', text: 'is the deploy green?' });
      const question = (await until(history, (h) => h.some((m) => m.seen === `Dana@${d.surface}: is the deploy green?`), 'the question in #general')).find((m) => m.seen === `Dana@${d.surface}: is the deploy green?`)!;
      expect(question.sender.display_name).toBe('gw');

      // The service delivering the same event again (a retry after a lost acknowledgement): posted once.
      if (asked.redeliver) {
        await asked.redeliver();
        await d.say({ user: '7001', name: 'Dana', text: 'after the redelivery' });
        await until(history, (h) => h.some((m) => m.seen === `Dana@${d.surface}: after the redelivery`), 'the message after the redelivery');
        expect((await history()).filter((m) => m.seen === `Dana@${d.surface}: is the deploy green?`)).toHaveLength(1);
      }

      await ok('alice', ['topic', 'send', 'general', 'green since 10:02', '--reply-to', question.id]);
      const answer = await until(() => d.sent().find((s) => s.text === 'alice: green since 10:02'), (s) => s !== undefined, 'the answer in the chat');
      expect(answer).toMatchObject({ chat: asked.chat, thread: asked.messageId });

      // @name: a DM to that member; its answer goes back to the chat that asked, in its thread.
      const dmAsked = await d.say({ user: '7001', name: 'Dana', text: '@alice can you roll back?' });
      const inbox = await until(async () => (await ok('alice', ['inbox', '--json'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { message_id: string; text: string; fwd_from: string | null }), (xs) => xs.some((x) => x.text === 'can you roll back?'), 'the DM to alice');
      const dm = inbox.find((x) => x.text === 'can you roll back?')!;
      expect(dm.fwd_from).toBe('Dana');
      await ok('alice', ['send', 'gw', 'rolling back now', '--reply-to', dm.message_id]);
      expect(await until(() => d.sent().find((s) => s.text === 'alice: rolling back now'), (s) => s !== undefined, 'the DM answer in the chat')).toMatchObject({ chat: dmAsked.chat, thread: dmAsked.messageId });

      // The round trip as each side saw it (printed for the record: what the fake API got, what alice decrypted).
      console.log([
        `${d.plugin} round trip through the fake ${d.surface} API:`,
        `  chat ${asked.chat} (message ${asked.messageId}) → #general, decrypted by alice: "${question.seen}" (sender ${question.sender.display_name}, id ${question.id})`,
        `  alice → the fake API: chat ${answer!.chat}, thread ${answer!.thread}: "${answer!.text}"`,
        `  chat → @alice DM: "${dm.text}" (fwd_from ${dm.fwd_from}); alice's answer → chat ${dmAsked.chat}, thread ${dmAsked.messageId}: "alice: rolling back now"`,
      ].join('\n'));

      // A 429 from the chat API is waited out (its advertised delay), then sent once.
      const throttledBefore = d.throttled();
      d.throttle(1, 1);
      await ok('alice', ['topic', 'send', 'general', 'after the throttle']);
      await until(texts, (t) => t.includes('alice: after the throttle'), 'the throttled message');
      expect(d.throttled()).toBe(throttledBefore + 1);
      expect(texts().filter((t) => t === 'alice: after the throttle')).toHaveLength(1);

      // plugin status shows the gateway's own state.
      const counters = await until(() => host.status()[0]!.counters, (c) => c !== null && Number(c['linked_users']) === 1, 'the counters');
      expect(counters).toMatchObject({ connected: 'true', chats: 1 });
      expect(Number(counters!['refused_unlinked'])).toBeGreaterThanOrEqual(1);

      // The broker holds ciphertext only: the chat's words and the agent's are nowhere in its tables.
      const ds = tb.broker.app.get(DataSource);
      for (const table of ['topic_messages', 'messages']) {
        const rows = await ds.query<Array<{ row: string }>>(`SELECT row_to_json(t)::text AS row FROM ${table} t`);
        for (const { row } of rows) for (const words of ['deploy green', 'green since', 'roll back', 'rolling back']) expect(row).not.toContain(words);
      }
    }, HANG_MS * 3);

    it('kill -9 mid-conversation, restarted by the host: nothing lost either way; into the mesh nothing doubled, toward the chat at most the one message in flight', async () => {
      const host = await runHost();
      const eveChat = await link('7002', 'Eve');
      /** What Eve's chat shows (where every chat is one person's, as on WhatsApp, the others have their own). */
      const eveSees = (): string[] => d.sent().filter((x) => x.chat === eveChat).map((x) => x.text);
      const n = 12;
      const fromChat = Array.from({ length: n }, (_, i) => `chat says ${String(i).padStart(2, '0')}`);
      const fromAgent = Array.from({ length: n }, (_, i) => `agent says ${String(i).padStart(2, '0')}`);
      const chatSide = (async () => {
        for (const text of fromChat) {
          await d.say({ user: '7002', name: 'Eve', text });
          await new Promise((r) => setTimeout(r, 40));
        }
      })();
      const agentSide = (async () => {
        for (const text of fromAgent) await ok('alice', ['topic', 'send', 'general', text]);
      })();
      await until(history, (h) => h.some((m) => m.seen.startsWith(`Eve@${d.surface}: chat says 0`)), 'the first chat messages');
      process.kill(host.status()[0]!.pid!, 'SIGKILL');
      await Promise.all([chatSide, agentSide]);
      await until(() => host.status()[0]!, (st) => st.restarts >= 1 && st.state === 'running', 'the host to restart the gateway');
      await until(history, (h) => fromChat.every((t) => h.some((m) => m.seen === `Eve@${d.surface}: ${t}`)), 'every chat message in #general');
      await until(eveSees, (t) => fromAgent.every((x) => t.includes(`alice: ${x}`)), 'every agent message in the chat');
      await new Promise((r) => setTimeout(r, 1500));
      const h = await history();
      for (const t of fromChat) expect(h.filter((m) => m.seen === `Eve@${d.surface}: ${t}`), t).toHaveLength(1);
      // Toward the chat the promise is at least once: a message the chat API took in the instant
      // before the kill, whose answer the gateway never read, is sent again after the restart (no
      // chat API takes an idempotency key). So at most one copy more in all; every message at least once.
      const copies = fromAgent.map((t) => eveSees().filter((x) => x === `alice: ${t}`).length);
      expect(Math.min(...copies), JSON.stringify(copies)).toBe(1);
      expect(copies.reduce((a, b) => a + b, 0) - fromAgent.length, JSON.stringify(copies)).toBeLessThanOrEqual(1);
    }, HANG_MS * 3);
  });
}
