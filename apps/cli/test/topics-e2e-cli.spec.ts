import { WAITING_FOR_KEY, loadMeshes, meshMembersWithKeys, openTopicMessage, openTopicMessages, topicSendEncrypted, type TopicMessage } from '@claudemesh/core';
import { topicScope } from '@claudemesh/crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { keyringPath } from '../src/topic-keyring.js';
import { CLI, cli, json, type CliResult } from './helpers/cli.js';
import { sdkMemberOf } from './helpers/sdk-member.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };
const SLOW = 120_000;

interface Msg {
  id: string;
  topic: string;
  text: string | null;
  body_version: number;
  key_epoch?: number;
  undecryptable_reason?: string | null;
  sender: { display_name: string };
}

const lines = <T>(r: CliResult): T[] => r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

/**
 * End-to-end encrypted topics through the real CLI (docs/cli.md "End-to-end encrypted topics"):
 * the CLI seals and opens with a keyring on disk, an SDK client with its own keyring reads and
 * writes the same topic, a member who joined after the key was made waits for one, and the
 * broker's database holds none of the text.
 */
describe('claudemesh topics, end-to-end encrypted', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const who = {} as Record<'alice' | 'bob' | 'carol' | 'dave', string>;
  let link = '';
  const ok = async (name: keyof typeof who, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(who[name], args, { ...direct, ...env });
    expect(r.code, `${name} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  /** An SDK member from a CLI home's stored keys, with its own keyring (in memory). */
  const sdkMember = (name: keyof typeof who) => sdkMemberOf(who[name]);

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    for (const name of ['alice', 'bob', 'carol', 'dave'] as const) {
      who[name] = mkdtempSync(join(tmpdir(), 'cmh-e2e-'));
      homes.push(who[name]);
    }
    await ok('alice', ['mesh', 'create', 'e2e-a', '--broker', tb.url, '--name', 'alice'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    ({ link } = json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--uses', '3', '--json'])));
    await ok('bob', ['join', link, '--name', 'bob']);
    await ok('carol', ['join', link, '--name', 'carol']);
    // dave joins later (below), so epoch 1 does not list him.
  }, SLOW);
  afterAll(async () => {
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('creates an e2e topic; CLI and SDK members post and read each other; a late member waits for a key; the broker stores no text', async () => {
    // No flag: a new topic is end-to-end encrypted, and so is #general of a new mesh.
    const created = json<{ name: string; encryption: string }>(await ok('alice', ['topic', 'create', 'ops', '--json']));
    expect(created).toMatchObject({ name: 'ops', encryption: 'e2e' });
    expect((await ok('alice', ['topic', 'create', 'plain', '--plaintext'])).stdout).toMatch(/created #plain \(public\) in "e2e-a", plaintext: the broker \(and anyone operating it\) can read every message/);
    expect((await cli(who.alice, ['topic', 'create', 'both', '--plaintext', '--e2e'], direct)).code).toBe(2);
    expect((await ok('bob', ['topic', 'list'])).stdout).toMatch(/#ops .*\(e2e\)/);
    expect(json<Array<{ name: string; encryption: string }>>(await ok('bob', ['topic', 'list', '--json'])).map((t) => [t.name, t.encryption]))
      .toEqual([['general', 'e2e'], ['ops', 'e2e'], ['plain', 'plaintext']]);

    const secret = 'the rollout key is hunter2, @bob';
    const sent = json<{ message: Msg; duplicate: boolean }>(await ok('alice', ['topic', 'send', 'ops', secret, '--json']));
    expect(sent).toMatchObject({ duplicate: false, message: { topic: 'ops', text: secret, body_version: 2, key_epoch: 1 } });
    expect((await ok('alice', ['topic', 'send', 'ops', 'second', 'post'])).stdout).toMatch(/^posted #\S+ to #ops\n$/);

    // The keyring: private, and it survives across runs (alice reads her own posts).
    const ring = keyringPath(who.alice, loadMeshes(who.alice)[0]!.mesh_id);
    expect(statSync(ring).mode & 0o777).toBe(0o600);
    expect(statSync(join(who.alice, 'keyrings')).mode & 0o777).toBe(0o700);
    expect(lines<Msg>(await ok('alice', ['topic', 'history', 'ops', '--json'])).map((m) => m.text)).toEqual([secret, 'second post']);

    // bob reads it with the CLI: plaintext shown, a mention notified.
    const bobText = (await ok('bob', ['topic', 'history', 'ops'])).stdout;
    expect(bobText).toContain(`alice: ${secret}`);
    expect(bobText).toContain('alice: second post');
    expect((await ok('bob', ['notification', 'list'])).stdout).toMatch(/alice mentioned you in #/);

    // bob's CLI indexed what it opened: me search finds it on this machine (the broker cannot).
    const hits = lines<Msg & { local?: boolean }>(await ok('bob', ['me', 'search', 'hunter2', '--json']));
    expect(hits.map((h) => [h.topic, h.text, h.local])).toEqual([['ops', secret, true]]);
    expect((await ok('bob', ['me', 'search', 'hunter2'])).stdout).toContain(`alice: ${secret}`);

    // bob follows the topic; an SDK client reads and posts; tail and history show its post.
    const tail = spawn(process.execPath, [CLI, 'topic', 'tail', 'ops', '--json'], { env: { ...process.env, CLAUDEMESH_HOME: who.bob, ...direct } });
    const tailExit = new Promise((resolve) => tail.once('exit', resolve));
    let tailed = '';
    let tailErr = '';
    tail.stdout.on('data', (b: Buffer) => (tailed += b.toString()));
    tail.stderr.on('data', (b: Buffer) => (tailErr += b.toString()));
    const waitFor = async (what: () => boolean, label: string): Promise<void> => {
      for (const end = Date.now() + 20_000; !what(); await new Promise((r) => setTimeout(r, 50))) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${label}; tail stdout: ${tailed} stderr: ${tailErr}`);
      }
    };
    await waitFor(() => tailErr.includes('following #ops'), 'the tail to start');
    const carol = await sdkMember('carol');
    try {
      const page = await carol.client.topicHistory('ops');
      expect((await openTopicMessages(carol.client, carol.ring, page.messages)).map((m) => m.text)).toEqual([secret, 'second post']);
      await topicSendEncrypted(carol.client, carol.ring, 'ops', 'from the SDK', { members: () => meshMembersWithKeys(carol.client) });
      await waitFor(() => tailed.includes('from the SDK'), 'the tail to show the SDK post');
      expect(JSON.parse(tailed.split('\n')[0]!)).toMatchObject({ topic: 'ops', body_version: 2, text: 'from the SDK', sender: { display_name: 'carol' } });
    } finally {
      await carol.client.close();
      tail.kill('SIGTERM');
      await tailExit;
    }
    expect(lines<Msg>(await ok('bob', ['topic', 'history', 'ops', '--json'])).map((m) => [m.sender.display_name, m.text])).toEqual([
      ['alice', secret],
      ['alice', 'second post'],
      ['carol', 'from the SDK'],
    ]);

    // #retro shares its history with who joins later (set at creation).
    expect((await ok('alice', ['topic', 'create', 'retro', '--history', 'shared'])).stdout).toMatch(/history: shared — members who join later are sealed the earlier keys/);
    expect((await ok('alice', ['topic', 'create', 'ops2'])).stdout).toMatch(/history: since join — members who join later read from their join on/);
    expect((await cli(who.alice, ['topic', 'create', 'nope', '--history', 'sometimes'], direct)).code).toBe(2);
    await ok('alice', ['topic', 'send', 'retro', 'what went wrong in the last release']);
    expect((await ok('bob', ['topic', 'list'])).stdout).toMatch(/#retro .*\(e2e, history shared\)/);

    // dave joined after epoch 1 was made: he sees the messages but waits for a key.
    await ok('dave', ['join', link, '--name', 'dave']);
    const daveText = (await ok('dave', ['topic', 'history', 'ops'])).stdout;
    expect(daveText).toContain('alice: (waiting for a key from a member)');
    expect(daveText).not.toContain('hunter2');
    const daveJson = lines<Msg>(await ok('dave', ['topic', 'history', 'ops', '--json']));
    expect(daveJson.map((m) => [m.text, m.undecryptable_reason])).toEqual(Array(3).fill([null, 'waiting for a key from a member']));

    // alice's next post is refused until a new epoch lists dave: her CLI rotates and posts; dave reads
    // from his join on, what came before stays sealed to him.
    expect((await ok('alice', ['topic', 'send', 'ops', 'welcome', 'dave'])).stdout).toMatch(/^posted #\S+ to #ops\n$/);
    expect(lines<Msg>(await ok('dave', ['topic', 'history', 'ops', '--json'])).map((m) => [m.text, m.key_epoch])).toEqual([
      [null, 1], [null, 1], [null, 1], ['welcome dave', 2],
    ]);
    // In #retro the same rotation also seals dave epoch 1: he reads what was said before he came.
    await ok('alice', ['topic', 'send', 'retro', 'welcome to the retro, dave']);
    expect(lines<Msg>(await ok('dave', ['topic', 'history', 'retro', '--json'])).map((m) => [m.text, m.key_epoch])).toEqual([
      ['what went wrong in the last release', 1], ['welcome to the retro, dave', 2],
    ]);

    // carol (the SDK client) is removed. bob's next post rotates her out: epoch 3 does not list her, and
    // her keyring — which opened everything until now — cannot open it, even from the stored row.
    const removed = await ok('alice', ['member', 'revoke', 'carol', '-y']);
    expect(removed.stdout).toMatch(/^removed carol/);
    const afterSent = json<{ message: Msg }>(await ok('bob', ['topic', 'send', 'ops', 'carol is gone, the new plan is plan B', '--json'])).message;
    expect(afterSent.key_epoch).toBe(3);
    const [stored] = await tb.broker.app.get(DataSource).query<Array<{ nonce: Buffer; ciphertext: Buffer; sig: string }>>(
      'SELECT nonce, ciphertext, sig FROM topic_messages WHERE id = $1', [afterSent.id],
    );
    // The CLI's --json line is the broker's message plus the opened text: drop the text, take the sealed fields from the row.
    const taken = { ...afterSent, text: undefined, nonce: stored!.nonce.toString('base64url'), ciphertext: stored!.ciphertext.toString('base64url'), sig: stored!.sig } as unknown as TopicMessage;
    expect(openTopicMessage(carol.ring, taken)).toMatchObject({ text: null, reason: WAITING_FOR_KEY });
    expect(carol.ring.context(topicScope('ops'), 1)).not.toBeNull(); // what she held before stays hers
    expect(carol.ring.currentManifest(topicScope('ops'))?.epoch).toBeLessThan(3);
    for (const reader of ['alice', 'dave'] as const) {
      expect(lines<Msg>(await ok(reader, ['topic', 'history', 'ops', '--json'])).at(-1)).toMatchObject({ text: 'carol is gone, the new plan is plan B', key_epoch: 3 });
    }
    expect((await ok('alice', ['topic', 'history', 'ops'])).stdout).toContain('bob: carol is gone, the new plan is plan B');

    // The broker's rows hold ciphertext only.
    const rows = await tb.broker.app.get(DataSource).query<Array<{ row: string }>>(
      `SELECT row_to_json(m)::text AS row FROM topic_messages m JOIN topics t ON t.id = m.topic_id WHERE t.name = 'ops'`,
    );
    expect(rows).toHaveLength(5);
    for (const { row } of rows) {
      expect(row).not.toContain('hunter2');
      expect(row).not.toContain('second post');
      expect(row).not.toContain('from the SDK');
      expect(row).not.toContain('plan B');
    }
    // What alice's keyring file holds is a verified chain: a fresh run still opens everything.
    expect(JSON.parse(readFileSync(ring, 'utf8'))).toMatchObject({ v: 1, scopes: { 'topic:ops': { keys: { 1: expect.any(String) } } } });
  }, SLOW);

  it('keys a private e2e topic to its members; a keyring that cannot be read is refused, never overwritten', async () => {
    await ok('alice', ['topic', 'create', 'vault', '--private', '--e2e']);
    expect((await ok('alice', ['topic', 'send', 'vault', 'only', 'for', 'members'])).stdout).toMatch(/^posted #\S+ to #vault\n$/);
    // Epoch 1 lists the topic's members (alice alone): bob, added later, waits for a key.
    await ok('alice', ['topic', 'add', 'vault', 'bob']);
    expect((await ok('bob', ['topic', 'history', 'vault'])).stdout).toContain('alice: (waiting for a key from a member)');
    expect((await ok('alice', ['topic', 'history', 'vault'])).stdout).toContain('alice: only for members');

    const path = keyringPath(who.bob, loadMeshes(who.bob)[0]!.mesh_id);
    writeFileSync(path, 'not json');
    const refused = await cli(who.bob, ['topic', 'history', 'vault'], direct);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`cannot read the keyring ${path}`);
    expect(readFileSync(path, 'utf8')).toBe('not json');
  }, SLOW);
});
