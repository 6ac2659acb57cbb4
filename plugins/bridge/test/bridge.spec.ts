import { decodeBody } from '@claudemesh/core/body';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PluginHost, loadHostConfig } from '@claudemesh/plugin';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { cli, json, type CliResult } from '../../../apps/cli/test/helpers/cli.js';

/**
 * The bridge plugin, run by the real plugin host as its own process, between two meshes on one
 * broker (docs/plugins.md "Bridge"): real CLI members on each side, e2e `#general` on both.
 */
const PLUGINS = fileURLToPath(new URL('../../', import.meta.url));
const HANG_MS = 90_000;
const direct = { CLAUDEMESH_DAEMON: 'off' };

/** Every line the hosts and bridges print, shown when a wait times out. */
const logs: string[] = [];

interface Msg { id: string; text: string | null; sender: { display_name: string } }

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 800)}\n${logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('bridge plugin', () => {
  let tb: TestBroker;
  const dir = mkdtempSync(join(tmpdir(), 'cmh-bridge-'));
  const home = (name: string): string => join(dir, name);
  const hosts: PluginHost[] = [];
  const ok = async (who: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(home(who), args, { ...direct, ...env });
    expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  const history = async (who: string): Promise<Msg[]> =>
    (await ok(who, ['topic', 'history', 'general', '--json', '--limit', '200'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Msg);
  /** What a reader sees: the text, and for a forwarded message who wrote it in which mesh. */
  const seen = (m: Msg): string => {
    const body = decodeBody(m.text ?? '');
    return body.forwarded ? `${body.forwarded.from}@${body.forwarded.mesh}: ${body.text}` : `${m.sender.display_name}: ${m.text}`;
  };
  const runHost = async (instance: string, bridgeHome: string, config: string): Promise<PluginHost> => {
    const file = join(dir, `${instance}.yaml`);
    writeFileSync(file, `plugins:\n  - instance: ${instance}\n    plugin: bridge\n    home: ${bridgeHome}\n    health: { interval_ms: 200 }\n    restart: { backoff_ms: 100 }\n    config:\n${config}`);
    const host = new PluginHost({ loaded: loadHostConfig(file), hostVersion: '0.1.0', pluginsDir: PLUGINS, home: dir, log: (l) => logs.push(l) });
    hosts.push(host);
    await host.start();
    // Answering its health ping means it started: connected, and its lanes' cursors set.
    await until(async () => host.status()[0]!, (st) => st.state === 'running', `${instance} to run`);
    return host;
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    await ok('alice', ['mesh', 'create', 'alpha', '--broker', tb.url, '--name', 'alice'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    await ok('bob', ['mesh', 'create', 'beta', '--broker', tb.url, '--name', 'bob'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const alpha = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '5', '--json'])).link;
    const beta = json<{ link: string }>(await ok('bob', ['mesh', 'invite', '--uses', '5', '--json'])).link;
    for (const b of ['bridge1', 'bridge2']) {
      await ok(b, ['join', alpha, '--name', b]);
      await ok(b, ['join', beta, '--name', b]);
    }
    // #general of each mesh gets its key from the first post.
    await ok('alice', ['topic', 'send', 'general', 'alpha is open']);
    await ok('bob', ['topic', 'send', 'general', 'beta is open']);
  }, HANG_MS);
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()));
  });
  afterAll(async () => {
    await tb?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards #general both ways with who wrote it where, never back to where it came from, and stores no plaintext', async () => {
    await runHost('bridge', home('bridge1'), '      routes: [{ from: { mesh: alpha, topic: general }, to: { mesh: beta, topic: general } }]\n');
    await ok('alice', ['topic', 'send', 'general', 'deploy at noon, say the reviewers']);
    const beta = await until(() => history('bob'), (h) => h.some((m) => seen(m) === 'alice@alpha: deploy at noon, say the reviewers'), 'alice in beta');
    expect(beta.at(-1)!.sender.display_name).toBe('bridge1');
    await ok('bob', ['topic', 'send', 'general', 'beta agrees']);
    await until(() => history('alice'), (h) => h.some((m) => seen(m) === 'bob@beta: beta agrees'), 'bob in alpha');
    // Nothing came back: alpha holds alice's own post once, beta bob's once.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await history('alice')).map(seen)).toEqual(['alice: alpha is open', 'alice: deploy at noon, say the reviewers', 'bob@beta: beta agrees']);
    expect((await history('bob')).map(seen)).toEqual(['bob: beta is open', 'alice@alpha: deploy at noon, say the reviewers', 'bob: beta agrees']);
    // A message an older bridge marked as already two hops away is not forwarded again.
    await ok('alice', ['topic', 'send', 'general', '__cmh2:seen twice already']);
    await ok('alice', ['topic', 'send', 'general', 'after the old marker']);
    await until(() => history('bob'), (h) => h.some((m) => seen(m) === 'alice@alpha: after the old marker'), 'the next one');
    expect((await history('bob')).some((m) => (m.text ?? '').includes('seen twice'))).toBe(false);

    const rows = await tb.broker.app.get(DataSource).query<Array<{ row: string }>>('SELECT row_to_json(m)::text AS row FROM topic_messages m');
    expect(rows.length).toBeGreaterThan(6);
    for (const { row } of rows) {
      expect(row).not.toContain('reviewers');
      expect(row).not.toContain('beta agrees');
    }
  }, HANG_MS * 2);

  it('two bridges in a ring (alpha → beta, beta → alpha) do not loop', async () => {
    await runHost('ab', home('bridge1'), '      routes: [{ from: { mesh: alpha, topic: general }, to: { mesh: beta, topic: general }, both_ways: false }]\n');
    await runHost('ba', home('bridge2'), '      routes: [{ from: { mesh: beta, topic: general }, to: { mesh: alpha, topic: general }, both_ways: false }]\n');
    const before = { alpha: (await history('alice')).length, beta: (await history('bob')).length };
    await ok('alice', ['topic', 'send', 'general', 'round we go']);
    await ok('bob', ['topic', 'send', 'general', 'and back']);
    await until(() => history('bob'), (h) => h.some((m) => seen(m) === 'alice@alpha: round we go'), 'alpha → beta');
    await until(() => history('alice'), (h) => h.some((m) => seen(m) === 'bob@beta: and back'), 'beta → alpha');
    await new Promise((r) => setTimeout(r, 1500));
    const alpha = (await history('alice')).slice(before.alpha).map(seen);
    const beta = (await history('bob')).slice(before.beta).map(seen);
    expect(alpha.sort()).toEqual(['alice: round we go', 'bob@beta: and back']);
    expect(beta.sort()).toEqual(['alice@alpha: round we go', 'bob: and back']);
  }, HANG_MS * 2);

  it('killed with SIGKILL mid-traffic and restarted by the host: every message crosses exactly once', async () => {
    const host = await runHost('bridge', home('bridge1'), '      routes: [{ from: { mesh: alpha, topic: general }, to: { mesh: beta, topic: general }, both_ways: false }]\n');
    const sent = Array.from({ length: 30 }, (_, i) => `burst ${String(i).padStart(2, '0')}`);
    const posting = (async () => {
      for (const text of sent) await ok('alice', ['topic', 'send', 'general', text]);
    })();
    await until(() => history('bob'), (h) => h.some((m) => seen(m) === 'alice@alpha: burst 05'), 'the first forwards');
    process.kill(host.status()[0]!.pid!, 'SIGKILL');
    await posting;
    await until(async () => host.status()[0]!, (s) => s.restarts >= 1, 'the host to restart the bridge');
    const beta = await until(() => history('bob'), (h) => h.some((m) => seen(m) === 'alice@alpha: burst 29'), 'the last forward');
    await new Promise((r) => setTimeout(r, 1000));
    const bursts = (await history('bob')).map(seen).filter((t) => t.startsWith('alice@alpha: burst'));
    expect(beta.length).toBeGreaterThan(0);
    // Each exactly once (forwards in flight together may land a place apart: window 16).
    expect([...bursts].sort()).toEqual(sent.map((t) => `alice@alpha: ${t}`));
  }, HANG_MS * 3);

  it('forwards @group traffic from the pushes it gets as the group\'s member: attributed, once each, across a SIGKILL', async () => {
    interface Inboxed { text: string; from_name: string; fwd_from: string | null; fwd_mesh: string | null }
    const inbox = async (): Promise<string[]> => (await ok('bob', ['inbox', '--all', '--json'])).stdout.split('\n').filter(Boolean).map((l) => {
      const m = JSON.parse(l) as Inboxed;
      return m.fwd_from ? `${m.fwd_from}@${m.fwd_mesh} via ${m.from_name}: ${m.text}` : `${m.from_name}: ${m.text}`;
    });
    await ok('bob', ['group', 'join', 'reviewers']);
    const host = await runHost('groups', home('bridge2'), '      routes: [{ from: { mesh: alpha, group: reviewers }, to: { mesh: beta, group: reviewers }, both_ways: false }]\n');
    await ok('alice', ['message', 'send', '@reviewers', 'review PR 12 please']);
    await until(inbox, (l) => l.includes('alice@alpha via bridge2: review PR 12 please'), 'the @reviewers message in beta');

    const sent = Array.from({ length: 12 }, (_, i) => `group burst ${String(i).padStart(2, '0')}`);
    const posting = (async () => {
      for (const text of sent) await ok('alice', ['message', 'send', '@reviewers', text]);
    })();
    await until(inbox, (l) => l.some((t) => t.includes('group burst 02')), 'the first group forwards');
    process.kill(host.status()[0]!.pid!, 'SIGKILL');
    await posting;
    await until(async () => host.status()[0]!, (st) => st.restarts >= 1, 'the host to restart the bridge');
    await until(inbox, (l) => l.some((t) => t.includes('group burst 11')), 'the last group forward');
    await new Promise((r) => setTimeout(r, 1000));
    const bursts = (await inbox()).filter((t) => t.includes('group burst'));
    expect([...bursts].sort()).toEqual(sent.map((t) => `alice@alpha via bridge2: ${t}`));
    expect((await inbox()).filter((t) => t.includes('review PR 12'))).toHaveLength(1);
  }, HANG_MS * 3);
});
