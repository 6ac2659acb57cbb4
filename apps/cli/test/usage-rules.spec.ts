import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandFactory } from 'nest-commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliModule } from '../src/cli.module.js';
import { fromCommander, walk, type CompletionNode } from '../src/completions/index.js';
import { suggest } from '../src/did-you-mean.js';
import { CommandTree, applyUsageRules } from '../src/usage-rules.js';
import { cli } from './helpers/cli.js';

/** Commands that hand options they do not know on (to claude, or from Claude Code's status line call). */
const PASS_THROUGH = new Set(['launch', 'status-line', 'open']);

/** Runs `fn` over items, `limit` at a time (each call spawns the CLI). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** A misspelling of `name` (two letters swapped, or one dropped) that is no command of the group. */
function typoOf(name: string, taken: Set<string>): string {
  const tries = [name.length > 3 ? `${name[0]}${name[2]}${name[1]}${name.slice(3)}` : `${name}${name.at(-1)}`, name.slice(0, -1), `${name}x`];
  return tries.find((t) => !taken.has(t) && t.length > 1)!;
}

/** What a usage rule reported for one command line, parsed by the live tree in this process. */
interface Outcome {
  usage?: { message: string; command: string };
  exit?: number;
}

/**
 * The usage rule of docs/cli.md ("Exit codes"), over the WHOLE live command tree: every command
 * group rejects a misspelt subcommand with "did you mean", every command with a required argument
 * fails without it, every command fails on an unknown option — all as usage errors (exit 2). The
 * tree is cli.module.ts itself with the rules main.ts applies, parsed here command line by command
 * line (a process per line would cost minutes); the real CLI then proves the wiring — exit code 2,
 * one message — for one line of each kind. A verb added later is covered without a change here.
 */
describe('usage errors across the command tree', () => {
  let home: string;
  let nodes: Array<{ path: string[]; node: CompletionNode }>;
  let parse: (args: string[]) => Promise<Outcome>;
  let close: () => Promise<void>;
  const saved = { home: process.env['CLAUDEMESH_HOME'], daemon: process.env['CLAUDEMESH_DAEMON'] };
  const run = (args: string[]) => cli(home, args, { CLAUDEMESH_DAEMON: 'off', CLAUDEMESH_CLAUDE_BIN: '/nonexistent/claude' });

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'cmh-usage-'));
    // Should a rule fail and a verb run, it runs against an empty home and never starts a daemon.
    process.env['CLAUDEMESH_HOME'] = home;
    process.env['CLAUDEMESH_DAEMON'] = 'off';
    const app = await CommandFactory.createWithoutRunning(CliModule, { logger: false });
    const root = app.get(CommandTree).root;
    nodes = walk(fromCommander(root)).filter(({ path }) => path.at(-1) !== 'help');
    class Stop extends Error {
      constructor(readonly outcome: Outcome) {
        super('stop');
      }
    }
    applyUsageRules(
      root,
      (usage) => {
        throw new Stop({ usage });
      },
      (exit) => {
        throw new Stop({ exit });
      },
    );
    root.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    parse = async (args) => {
      try {
        await root.parseAsync(args, { from: 'user' });
        return {};
      } catch (error) {
        if (error instanceof Stop) return error.outcome;
        throw error;
      }
    };
    close = () => app.close();
  });
  afterAll(async () => {
    await close?.();
    for (const [key, value] of [['CLAUDEMESH_HOME', saved.home], ['CLAUDEMESH_DAEMON', saved.daemon]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    rmSync(home, { recursive: true, force: true });
  });

  it('walks a tree with the command groups and verbs this test relies on', () => {
    const spelled = nodes.map((n) => n.path.join(' '));
    expect(spelled).toEqual(expect.arrayContaining(['', 'peer', 'peer list', 'topic', 'topic create', 'message send', 'send', 'daemon', 'me']));
    expect(nodes.length).toBeGreaterThan(60);
  });

  it('rejects a misspelt subcommand of every group with a suggestion of the right one', async () => {
    const groups = nodes.filter((n) => n.node.children.some((c) => c.name !== 'help'));
    expect(groups.length).toBeGreaterThan(10);
    for (const { path, node } of groups) {
      const children = node.children.filter((c) => c.name !== 'help');
      const taken = new Set(children.flatMap((c) => [c.name, ...c.aliases]));
      const target = children.find((c) => c.name.length >= 4) ?? children[0]!;
      const typo = typoOf(target.name, taken);
      const at = `claudemesh ${[...path, typo].join(' ')}`;
      const { usage } = await parse([...path, typo]);
      expect(usage?.message, at).toContain(`unknown command "${typo}"`);
      expect(usage?.message, at).toMatch(new RegExp(`did you mean [^\\n]*\\b${target.name}\\b`));
      expect(usage?.command, at).toBe(['claudemesh', ...path].join(' '));
    }
  });

  it('fails naming the missing argument for every command with a required one', async () => {
    const needy = nodes.filter((n) => n.node.arguments.some((a) => a.startsWith('<')));
    expect(needy.length).toBeGreaterThan(20);
    for (const { path, node } of needy) {
      const at = `claudemesh ${path.join(' ')}`;
      const { usage } = await parse(path);
      expect(usage?.message, at).toBe(`missing required argument "${node.arguments[0]!.replace(/[<>.]/g, '')}"`);
      expect(usage?.command, at).toBe(at);
    }
  });

  it('fails on an unknown option for every command but the pass-through ones', async () => {
    const strict = nodes.filter(({ path }) => !PASS_THROUGH.has(path[0] ?? ''));
    for (const { path } of strict) {
      const at = `claudemesh ${[...path, '--no-such-flag'].join(' ')}`;
      const { usage } = await parse([...path, '--no-such-flag']);
      expect(usage?.message, at).toMatch(/^unknown option "--no-such-flag"/);
    }
  });

  it('tells option values from commands: a default subcommand still runs with its options, an option before the command is named as such', async () => {
    // `me` runs `me show`: its --mesh value is no misspelt command (the verb itself then fails: nothing joined).
    await expect(parse(['me', '--mesh', 'lst', '--json'])).rejects.toThrow(/no mesh joined|no single mesh/);
    expect((await parse(['me', '--mesh', 'team', 'lst'])).usage?.message).toBe('unknown command "lst" for claudemesh me');
    expect((await parse(['peer', '--json', 'list'])).usage?.message).toBe('unknown option "--json" before the command; options go after it: claudemesh peer list --json');
  });

  it('through the real CLI: exit 2 with the message printed once, for each kind of usage error', { timeout: 120_000 }, async () => {
    const cases: Array<[string[], string]> = [
      [['peer', 'lst'], 'claudemesh: unknown command "lst" for claudemesh peer; did you mean list or ls?\n  next: claudemesh peer --help\n'],
      [['topic', 'craete'], 'claudemesh: unknown command "craete" for claudemesh topic; did you mean create?\n  next: claudemesh topic --help\n'],
      [['pees'], 'claudemesh: unknown command "pees" for claudemesh; did you mean peer or peers?\n  next: claudemesh --help\n'],
      [['send'], 'claudemesh: missing required argument "to"\n  next: claudemesh send --help\n'],
      [['peer', 'verify'], 'claudemesh: missing required argument "peer"\n  next: claudemesh peer verify --help\n'],
      [['peer', 'list', '--jsn'], 'claudemesh: unknown option "--jsn"; did you mean --json?\n  next: claudemesh peer list --help\n'],
      [['peer', 'list', 'bob'], 'claudemesh: too many arguments for list (expected 0, got 1)\n  next: claudemesh peer list --help\n'],
    ];
    const results = await mapLimit(cases, 2, async ([args]) => run(args));
    cases.forEach(([args, stderr], i) => expect(results[i], args.join(' ')).toEqual({ code: 2, stdout: '', stderr }));
    // Asking for the menu is not an error: help on stdout, exit 0.
    const [bare, group] = await Promise.all([run([]), run(['peer'])]);
    expect(bare).toMatchObject({ code: 0, stderr: '' });
    expect(bare.stdout).toMatch(/^Usage: claudemesh /);
    expect(group).toMatchObject({ code: 0, stderr: '' });
    expect(group.stdout).toMatch(/^Usage: claudemesh peer /);
  });

  it('runs a command that has subcommands and acts on its own (whoami, mesh invite) when none is named, and still names a misspelt one', { timeout: 120_000 }, async () => {
    // Bare, they run their verb (which then fails here: nothing joined), they do not print help.
    const [whoami, invite, typo] = await Promise.all([run(['whoami']), run(['mesh', 'invite', '--json']), run(['whoami', 'renmae', 'x'])]);
    expect(whoami).toMatchObject({ code: 3, stdout: '' });
    expect(whoami.stderr).toMatch(/no mesh joined/);
    expect(invite).toMatchObject({ code: 3, stdout: '' });
    expect(invite.stderr).toMatch(/no mesh joined/);
    expect(typo).toMatchObject({ code: 2, stdout: '' });
    expect(typo.stderr).toMatch(/unknown command "renmae" for claudemesh whoami; did you mean rename\?/);
  });

  it('suggests by edit distance and prefix, ignoring case', () => {
    expect(suggest('lst', ['list', 'ls', 'verify'])).toEqual(['list', 'ls']);
    expect(suggest('craete', ['create', 'list'])).toEqual(['create']);
    expect(suggest('BOB', ['bob', 'alice'])).toEqual(['bob']);
    expect(suggest('zzz', ['bob', 'alice'])).toEqual([]);
  });
});
