import { issueInvite } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { cli, json } from './helpers/cli.js';

const SKILL_FILE = fileURLToPath(new URL('../skill/SKILL.md', import.meta.url));
const REGENERATE = 'npm run build && node apps/cli/bin/claudemesh.js skill > apps/cli/skill/SKILL.md';

/** Splits a command line the way sh would for these examples: words, '…' and "…" quoting. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** Every `claudemesh …` line of the guide: in ```sh blocks (comments dropped) and in inline code. */
function examples(skill: string): string[] {
  const guide = skill.slice(0, skill.indexOf('## Command reference'));
  const found: string[] = [];
  for (const block of guide.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split('\n')) {
      const command = line.replace(/\s{2,}#.*$/, '').trim();
      if (command.startsWith('claudemesh ')) found.push(command);
    }
  }
  for (const span of guide.replace(/```[\s\S]*?```/g, '').matchAll(/`(claudemesh [^`]+)`/g)) found.push(span[1]!);
  return found;
}

/** The skill Claude reads is generated from the command tree, and every example in it runs. */
describe('the Claude Code skill', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'cmh-skill-'));
    dirs.push(d);
    return d;
  };
  const skill = readFileSync(SKILL_FILE, 'utf8');

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'skill-mesh');
  });
  afterAll(async () => {
    for (const d of dirs) await cli(d, ['daemon', 'stop']);
    await tb?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it(`is what the CLI generates from its command tree (regenerate: ${REGENERATE})`, async () => {
    const generated = await cli(dir(), ['skill']);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout, `apps/cli/skill/SKILL.md is stale: run ${REGENERATE}`).toBe(skill);
    // install writes that same text
    const home = dir();
    expect((await cli(join(home, 'cm'), ['install'], { HOME: home, PATH: '/usr/bin:/bin' })).code).toBe(0);
    expect(readFileSync(join(home, '.claude', 'skills', 'claudemesh', 'SKILL.md'), 'utf8')).toBe(skill);
  });

  it('teaches what the CLI does: inbox peeks and --read marks read; topics, mentions, message status and groups', () => {
    expect(skill).toMatch(/^---\nname: claudemesh\ndescription: \S.*\n---\n/);
    expect(skill).toContain('claudemesh inbox                        # unread messages (id, time, sender); only looks, marks nothing read');
    expect(skill).toContain('claudemesh inbox --read                 # shows them and marks them read');
    expect(skill).not.toMatch(/inbox` prints waiting messages .* and marks them read/);
    for (const verb of ['topic send', 'topic history', 'topic read', 'notification list', 'message status', 'group join', 'group leave', 'whoami rename']) expect(skill).toContain(`claudemesh ${verb}`);
    expect(skill).toContain('`@name`');
    // The reference names each verb with its own flags, e.g. the ones a reply needs.
    expect(skill).toContain('- `claudemesh message send <to> <text...>` [-p, --priority <priority>] [-r, --reply-to <message-id>]');
    expect(skill).toContain('- `claudemesh topic send <name> [text...]` [-r, --reply-to <id>]');
  });

  it('runs every command line of its guide against a real broker, each exiting 0', { timeout: 240_000 }, async () => {
    const invite = async () => encodeInviteLink((await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner })).invite, mesh.meshKey);
    const alice = dir();
    const bob = dir();
    const env = { HOME: dir(), PATH: process.env['PATH'] ?? '' };
    expect((await cli(alice, ['join', await invite(), '--name', 'alice'], env)).code).toBe(0);
    expect((await cli(bob, ['join', await invite(), '--name', 'bob'], env)).code).toBe(0);
    // What the placeholders stand for: a DM alice sent, a topic message, a peer, a group.
    const sent = json<{ message_id: string }>(await cli(alice, ['send', 'bob', 'hello from the skill test', '--json'], env)).message_id;
    const posted = json<{ message: { id: string } }>(await cli(bob, ['topic', 'send', 'general', 'a topic message to answer', '--json'], env)).message.id;
    expect((await cli(bob, ['send', 'alice', 'something for the inbox'], env)).code).toBe(0);
    // A group exists once someone is in it.
    expect((await cli(bob, ['group', 'join', 'reviewers'], env)).code).toBe(0);
    // A tag reaches live sessions only: bob's daemon advertises the one the guide sends to.
    expect((await cli(bob, ['peer', 'tag', 'add', 'role:reviewer'], env)).code).toBe(0);
    for (let i = 0; i < 600; i++) {
      const peers = json<Array<{ display_name: string; sessions: Array<{ tags?: string[] }> }>>(await cli(alice, ['peers', '--json'], env));
      if (peers.find((p) => p.display_name === 'bob')?.sessions.some((s) => s.tags?.includes('role:reviewer'))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const fill = (args: string[]): string[] => {
      const topic = args[0] === 'topic';
      return args.map((a) =>
        a
          .replace(/<(name|from_name)>/g, 'bob')
          .replace(/<group>/g, 'reviewers')
          .replace(/<topic>/g, 'general')
          .replace(/<answer>/g, 'on it')
          .replace(/<message[-_]id>/g, topic ? posted : sent),
      );
    };

    const lines = examples(skill);
    expect(lines.length).toBeGreaterThan(20);
    const ran: string[] = [];
    for (const line of lines) {
      const args = fill(words(line).slice(1));
      // `launch` starts Claude Code itself (every argument is claude's): its own help is what can be checked here.
      const run = args[0] === 'launch' ? await cli(alice, ['help', 'launch'], env) : await cli(alice, args, env);
      expect(run.code, `${line}\n→ claudemesh ${args.join(' ')}\n${run.stderr}`).toBe(0);
      ran.push(args.slice(0, 2).join(' '));
    }
    expect(ran).toEqual(expect.arrayContaining(['inbox --read', 'message status', 'topic send', 'group join', 'notification list', 'peer tag']));
  });
});
