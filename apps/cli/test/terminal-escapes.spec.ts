import { MeshApi, MeshClient, createApiKey, issueShortInvite } from '@claudemesh/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { cli, json, type CliResult } from './helpers/cli.js';

/**
 * A hostile member fills everything others print with terminal control sequences: an OSC that
 * retitles the terminal, a clear screen and cursor home, colours, a C1 CSI, BEL, CR, DEL and a bidi
 * override. Another member's text output must show them (visibly escaped) but never emit them;
 * `--json` must return exactly what was sent.
 */
const FORGED = '\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b[32mowner ✓ verified\x1b[0m\x9b2J\r\x7f\u202eevil';
/** Multi-line text for message bodies; a mesh name and a summary are one line. */
const BODY = `hello\n${FORGED}\nbye`;
/** A mesh name is one line: no CR or LF, the rest is there. */
const MESH_NAME = `team${FORGED.replace('\r', '')}`;

/** Any byte a terminal would act on: C0 but newline and tab, DEL, C1, the bidi embeddings, overrides and isolates. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Polls an asynchronous condition (each try runs a CLI process); the timeout only detects a hang. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const expectClean = (r: CliResult, what: string): void => {
  expect(r.code, `${what}: ${r.stderr}`).toBe(0);
  expect(RAW_CONTROL.test(r.stdout), `${what} printed a raw control character: ${JSON.stringify(r.stdout)}`).toBe(false);
  expect(RAW_CONTROL.test(r.stderr), `${what} printed a raw control character on stderr: ${JSON.stringify(r.stderr)}`).toBe(false);
};

describe('text from other members never drives the terminal; --json stays exact', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let home: string;
  let mallory: MeshClient;
  const tree = { CLAUDEMESH_DAEMON: 'off' };
  const fast = { CLAUDEMESH_FAST: 'only' };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    // The mesh's owner is the hostile member: it names the mesh, and writes summaries, DMs, broadcasts and topics.
    mesh = await createTestMesh(tb, MESH_NAME);
    home = mkdtempSync(join(tmpdir(), 'cmh-escapes-'));
    // A short code: the mesh name comes from the broker (a v1 link's signed payload refuses control characters).
    const { link } = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: mesh.owner });
    const joined = await cli(home, ['join', link, '--name', 'victor'], tree);
    expect(joined.code, joined.stderr).toBe(0);
    expect(RAW_CONTROL.test(joined.stdout)).toBe(false);

    mallory = new MeshClient({ url: tb.wsUrl, meshId: mesh.meshId, identity: mesh.owner, meshKey: mesh.meshKey });
    await mallory.connect();
    await mallory.setSummary(FORGED);
    await mallory.joinGroup('ops');
    await mallory.send('victor', BODY);
    await mallory.send('*', BODY);
    const key = await createApiKey(tb.url, mesh.owner, mesh.meshId, { label: 'mallory', capabilities: ['read', 'send'] });
    await new MeshApi(tb.url, key.secret).createTopic({ name: 'ops', description: FORGED, encryption: 'plaintext' });
    await mallory.topicSend('general', `@victor ${BODY}`);
    await mallory.topicSend('ops', BODY);
  });
  afterAll(async () => {
    if (home) await cli(home, ['daemon', 'stop']);
    await mallory?.close();
    await tb?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('inbox, peers, topic history and the other views show the sequences escaped, in the command tree', async () => {
    await until(async () => (await cli(home, ['inbox', '--all', '--json'], tree)).stdout.split('\n').filter(Boolean).length === 2, 'the DM and the broadcast in the local inbox');
    const inbox = await cli(home, ['inbox', '--all'], tree);
    expectClean(inbox, 'inbox');
    expect(inbox.stdout).toContain('␛]0;pwned␇␛[2J␛[H␛[32mowner ✓ verified␛[0m\\u009b2J␍␡\\u202eevil');
    // A message body keeps its lines, indented under its entry so none passes for an entry of its own.
    expect(inbox.stdout).toMatch(/owner: hello\n {4}␛\]0;pwned/);

    const peers = await cli(home, ['peers'], tree);
    expectClean(peers, 'peers');
    expect(peers.stdout).toMatch(/^NAME +TYPE +ROLE +KEY +GROUPS +STATUS$/m);
    expect(peers.stdout).toMatch(/^owner +ai +owner +[0-9a-f]{16}… +@ops +online idle — ␛\]0;pwned␇/m);

    for (const args of [['topic', 'history', 'general'], ['topic', 'history', 'ops'], ['topic', 'list'], ['notification', 'list'], ['me'], ['me', 'activity'], ['me', 'topics'], ['member', 'list'], ['mesh', 'list'], ['whoami'], ['doctor'], ['status-line']]) {
      const r = await cli(home, args, tree);
      // doctor fails on the Claude Code check alone here (no claude installed): its output still counts.
      expectClean(args[0] === 'doctor' ? { ...r, code: 0 } : r, args.join(' '));
      if (args[0] !== 'doctor') expect(r.stdout, args.join(' ')).toContain('␛');
    }
  }, 300_000);

  it('the fast path prints exactly what the command tree prints', async () => {
    expect((await cli(home, ['daemon', 'start'])).code).toBe(0);
    for (const args of [['inbox', '--all'], ['peers'], ['message', 'inbox', '--all']]) {
      const viaFast = await cli(home, args, fast);
      expectClean(viaFast, `${args.join(' ')} (fast path)`);
      expect(viaFast).toEqual(await cli(home, args, { CLAUDEMESH_FAST: 'off' }));
    }
  }, 300_000);

  it('message status names the recipient with its short key, for a DM sent to it', async () => {
    const sent = json<{ message_id: string }>(await cli(home, ['send', 'owner', 'status please', '--json'], tree));
    const status = await cli(home, ['message', 'status', sent.message_id], tree);
    expectClean(status, 'message status');
    const key = mesh.owner.publicKey.slice(0, 16);
    expect(status.stdout).toMatch(new RegExp(`^#${sent.message_id} to owner \\(${key}…\\) \\(dm, sent `));
    expect(status.stdout).toMatch(new RegExp(`^ {2}owner +${key}… +(queued|delivered|read)`, 'm'));
    expect(status.stdout).not.toContain(mesh.owner.publicKey);
  }, 300_000);

  it('--json returns exactly the text that was sent', async () => {
    const inbox = (await cli(home, ['inbox', '--all', '--json'], tree)).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { text: string; to: string });
    expect(inbox.map((m) => m.text)).toEqual([BODY, BODY]);
    const peers = json<Array<{ display_name: string; groups: string[]; sessions: Array<{ summary: string | null }> }>>(await cli(home, ['peers', '--json'], tree));
    expect(peers.find((p) => p.display_name === 'owner')).toMatchObject({ groups: ['ops'], sessions: [expect.objectContaining({ summary: FORGED })] });
    const history = (await cli(home, ['topic', 'history', 'ops', '--json'], tree)).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { text: string });
    expect(history.map((m) => m.text)).toEqual([BODY]);
    const topics = json<Array<{ name: string; description: string }>>(await cli(home, ['topic', 'list', '--json'], tree));
    expect(topics.find((t) => t.name === 'ops')?.description).toBe(FORGED);
    expect(json<Array<{ mesh_name: string }>>(await cli(home, ['mesh', 'list', '--json'], tree))[0]!.mesh_name).toBe(MESH_NAME);
  }, 300_000);
});
