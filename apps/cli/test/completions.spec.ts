import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command, Option } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bashScript, fishScript, fromCommander, walk, zshScript, type CompletionNode } from '../src/completions/index.js';

const CLI = fileURLToPath(new URL('../bin/claudemesh.js', import.meta.url));
const COMMANDS_DIR = fileURLToPath(new URL('../src/commands/', import.meta.url));
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, CLAUDEMESH_HOME: join(tmpdir(), 'cmh-completions-none'), CLAUDEMESH_CLAUDE_BIN: '/nonexistent/claude' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs `fn` over items, `limit` at a time (each call spawns the CLI). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

/** What commander's `--help` lists: the subcommands (name and aliases) and the flags. */
function parseHelp(text: string): { commands: Array<{ name: string; aliases: string[] }>; flags: string[] } {
  const section = (title: string): string[] => {
    const lines = text.split('\n');
    const start = lines.indexOf(`${title}:`);
    if (start < 0) return [];
    const rows: string[] = [];
    for (const line of lines.slice(start + 1)) {
      if (!line.startsWith(' ')) break;
      if (/^ {2}\S/.test(line)) rows.push(line.trim());
    }
    return rows;
  };
  const commands = section('Commands').map((row) => {
    const [name, ...aliases] = row.split(/\s/)[0]!.split('|');
    return { name: name!, aliases };
  });
  const flags = section('Options').flatMap((row) => row.split(/\s{2,}/)[0]!.split(/,\s*/).map((f) => f.split(' ')[0]!));
  return { commands, flags };
}

const bashWord = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Calls the generated `_claudemesh` the way bash's programmable completion does: COMP_WORDS split
 * as readline splits them (COMP_WORDBREAKS makes `--mesh=x` three words), COMP_CWORD the word under
 * the cursor (the last one), COMP_LINE/COMP_POINT the line. Returns COMPREPLY per case.
 */
async function complete(scriptFile: string, cases: string[][], fn = '_claudemesh'): Promise<string[][]> {
  const body = cases.map((words) => {
    const line = words.join(' ');
    return [
      `COMP_WORDS=(${words.map(bashWord).join(' ')})`,
      `COMP_CWORD=${words.length - 1}`,
      `COMP_LINE=${bashWord(line)}`,
      `COMP_POINT=${line.length}`,
      'COMPREPLY=(x)',
      fn,
      `printf '%s\\n' "REPLY \${COMPREPLY[*]}"`,
    ].join('\n');
  });
  const { stdout } = await run('bash', ['--norc', '--noprofile', '-c', `set -u\nsource ${bashWord(scriptFile)}\n${body.join('\n')}`]);
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('REPLY'))
    .map((l) => l.slice('REPLY'.length).trim().split(/\s+/).filter(Boolean));
}

function which(bin: string): string | null {
  try {
    return execFileSync('which', [bin], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** Every line's single quotes pair up (a quote inside a word is written '\'' in bash and zsh). */
function quotesBalanced(script: string, escaped: RegExp): boolean {
  return script.split('\n').every((line) => (line.replace(escaped, '').match(/'/g)?.length ?? 0) % 2 === 0);
}

const names = (node: CompletionNode): string[] => node.children.flatMap((c) => [c.name, ...c.aliases]);

describe('claudemesh completions, generated from the live command tree', () => {
  let dir: string;
  const scripts: Record<'bash' | 'zsh' | 'fish', string> = { bash: '', zsh: '', fish: '' };
  let bashFile: string;
  /** The tree as --help shows it, fetched from the real CLI, command by command. */
  const helpTree = new Map<string, { commands: Array<{ name: string; aliases: string[] }>; flags: string[] }>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cmh-completions-'));
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      const r = await cli(['completions', shell]);
      expect(r.code, r.stderr).toBe(0);
      scripts[shell] = r.stdout;
    }
    bashFile = join(dir, 'claudemesh.bash');
    writeFileSync(bashFile, scripts.bash);
    // Walk --help down the tree (every level is one CLI process).
    let level: string[][] = [[]];
    while (level.length > 0) {
      // `help <verb>` at the top: `launch` passes --help on to claude; nested verbs all take --help
      const helps = await mapLimit(level, 4, async (path) => ({ path, help: parseHelp((await cli(path.length === 1 ? ['help', path[0]!] : [...path, '--help'])).stdout) }));
      level = [];
      for (const { path, help } of helps) {
        helpTree.set(path.join(' '), help);
        for (const c of help.commands) if (c.name !== 'help') level.push([...path, c.name]);
      }
    }
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names every verb cli.module.ts registers, as --help lists them, with aliases and flags', () => {
    const root = helpTree.get('')!;
    expect(root.commands.length).toBeGreaterThan(20);
    // every @Command / @SubCommand declared under src/commands is reachable in --help …
    const declared = readdirSync(COMMANDS_DIR)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => [...readFileSync(join(COMMANDS_DIR, f), 'utf8').matchAll(/@(?:Sub)?Command\(\{\s*name: '([^']+)'/g)].map((m) => m[1]!));
    const listed = new Set([...helpTree.values()].flatMap((h) => h.commands.map((c) => c.name)));
    for (const verb of declared) expect(listed, `--help lists ${verb}`).toContain(verb);
    // … and the bash script descends into each of them, by name and by alias, from its parent.
    for (const [parent, help] of helpTree) {
      for (const c of help.commands) {
        const target = parent ? `${parent} ${c.name}` : c.name;
        for (const w of [c.name, ...c.aliases]) expect(scripts.bash, `bash: ${parent || '(root)'} → ${w}`).toContain(`'${parent}:${w}'`);
        expect(scripts.bash).toMatch(new RegExp(`\\) path='${target}' ;;`));
      }
      // every flag of every command is offered at that command
      const row = scripts.bash.split('\n').find((l) => l.trimStart().startsWith(`'${parent}') words=`));
      expect(row, `bash offers for "${parent}"`).toBeDefined();
      const offered = /flags='([^']*)'/.exec(row!)![1]!.split(' ').filter(Boolean);
      expect(new Set(offered), `flags of "${parent}"`).toEqual(new Set(help.flags));
      const subs = /words='([^']*)'/.exec(row!)![1]!.split(' ').filter(Boolean);
      expect(new Set(subs), `subcommands of "${parent}"`).toEqual(new Set(help.commands.flatMap((c) => [c.name, ...c.aliases])));
    }
  });

  it('bash: _claudemesh completes subcommands per position and flags per command', async () => {
    const replies = await complete(bashFile, [
      ['claudemesh', 'me'],
      ['claudemesh', 'mesh', ''],
      ['claudemesh', 'send', '--p'],
      ['claudemesh', 'peer', ''],
      ['claudemesh', 'mesh', 'inv'],
      ['claudemesh', 'mesh', 'invite', '--'],
      ['claudemesh', 'mesh', 'invite', '--uses', ''],
      ['claudemesh', 'mesh', 'invite', '--uses', '3', '--r'],
      ['claudemesh', 'message', 'send', '--mesh', '=', 'team', '--rep'],
      ['claudemesh', 'message', 'send', '-m', 'team', 'olive', '--p'],
      ['claudemesh', 'daemon', 'st'],
      ['claudemesh', 'mesh', 'ls', '--j'],
      ['claudemesh', '-'],
      ['claudemesh', 'zz'],
      ['claudemesh', 'peer', 'tag', ''],
    ]);
    expect(replies[0]!.sort()).toEqual(['me', 'member', 'mesh', 'message']);
    expect(replies[1]!.sort()).toEqual(['create', 'handoff', 'invite', 'leave', 'list', 'ls', 'share', 'stats']);
    expect(replies[2]!.sort()).toEqual(['--policy', '--priority']);
    expect(replies[3]!.sort()).toEqual(['block', 'grant', 'grants', 'list', 'ls', 'revoke', 'tag', 'unblock', 'verify']);
    expect(replies[4]).toEqual(['invite']);
    expect(replies[5]!.sort()).toEqual(['--approval-mode', '--email', '--help', '--invitee-name', '--json', '--mesh', '--policy', '--role', '--ttl', '--uses', '--v1']);
    expect(replies[6]).toEqual([]); // the value of --uses: nothing to offer
    expect(replies[7]).toEqual(['--role']);
    expect(replies[8]).toEqual(['--reply-to']);
    expect(replies[9]!.sort()).toEqual(['--policy', '--priority']);
    expect(replies[10]!.sort()).toEqual(['start', 'status', 'stop']);
    expect(replies[11]).toEqual(['--json']);
    expect(replies[12]!.sort()).toEqual(['--help', '--version', '-V', '-h']);
    expect(replies[13]).toEqual([]);
    expect(replies[14]!.sort()).toEqual(['add', 'list', 'ls', 'remove', 'repo', 'rm']);
  });

  it('bash: the script parses and registers the completion function', async () => {
    await run('bash', ['-n', bashFile]);
    const { stdout } = await run('bash', ['--norc', '--noprofile', '-c', `source ${bashWord(bashFile)}; complete -p claudemesh`]);
    expect(stdout.trim()).toBe('complete -F _claudemesh claudemesh');
  });

  it('zsh: a native #compdef script (no bashcompinit), one function per command with its subcommands and flags', () => {
    const zsh = scripts.zsh;
    expect(zsh.startsWith('#compdef claudemesh\n')).toBe(true);
    expect(zsh).not.toMatch(/bashcompinit|complete -F|COMPREPLY/);
    expect(zsh).toContain('compdef _claudemesh claudemesh');
    expect(quotesBalanced(zsh, /'\\''/g)).toBe(true);
    for (const [parent, help] of helpTree) {
      const fn = ['_claudemesh', ...(parent ? parent.split(' ') : [])].join('_').replace(/-/g, '_');
      const start = zsh.indexOf(`\n${fn}() {\n`);
      expect(start, `zsh function ${fn}`).toBeGreaterThan(-1);
      const body = zsh.slice(start, zsh.indexOf('\n}\n', start));
      expect(body).toContain('_arguments');
      for (const flag of help.flags) expect(body, `${fn} completes ${flag}`).toMatch(new RegExp(`['{,]${flag.replace(/[-]/g, '\\-')}[\\[,}']`));
      for (const c of help.commands) {
        for (const w of [c.name, ...c.aliases]) expect(body, `${fn} offers ${w}`).toMatch(new RegExp(`\\n\\s+'${w}:`));
        expect(body).toMatch(new RegExp(`\\(${[c.name, ...c.aliases].join('\\|')}\\) _claudemesh${parent ? `_${parent.replace(/[ -]/g, '_')}` : ''}_${c.name.replace(/-/g, '_')} && ret=0`));
      }
    }
    // a flag that takes a value says so (message, no completion); one that does not, does not
    expect(zsh).toMatch(/\{-p,--priority\}'\[now \| next \| low \(default next\)\]:priority: '/);
    expect(zsh).toMatch(/'--json\[machine-readable output\]'/);
  });

  const zshBin = which('zsh');
  (zshBin ? it : it.skip)(`zsh: parses the script (zsh -n)${zshBin ? '' : ' — skipped: zsh not installed on this machine'}`, async () => {
    const file = join(dir, '_claudemesh');
    writeFileSync(file, scripts.zsh);
    await run(zshBin!, ['-n', file]);
  });

  it('fish: complete -c claudemesh lines for every verb, subcommand and flag', () => {
    const fish = scripts.fish;
    expect(quotesBalanced(fish, /\\'/g)).toBe(true);
    for (const [parent, help] of helpTree) {
      const at = parent ? `__claudemesh_at ${parent}` : '__fish_use_subcommand';
      for (const c of help.commands) {
        for (const w of [c.name, ...c.aliases]) expect(fish, `fish: ${at} -a ${w}`).toContain(`complete -c claudemesh -n '${at}' -a ${w} -d `);
        expect(fish).toContain(`'${parent}:${c.name}'`);
      }
      for (const flag of help.flags) {
        const spelled = flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`;
        expect(fish.split('\n').some((l) => l.startsWith(`complete -c claudemesh -n '${at}' `) && l.includes(spelled)), `fish: ${at} ${flag}`).toBe(true);
      }
    }
    expect(fish).toMatch(/-n '__claudemesh_at send' -s p -l priority -x -d 'now \| next \| low/);
    expect(fish).toMatch(/-n '__claudemesh_at send' -l json -d 'machine-readable output'/);
  });

  const fishBin = which('fish');
  (fishBin ? it : it.skip)(`fish: parses the script (fish --no-execute)${fishBin ? '' : ' — skipped: fish not installed on this machine'}`, async () => {
    const file = join(dir, 'claudemesh.fish');
    writeFileSync(file, scripts.fish);
    await run(fishBin!, ['--no-execute', file]);
  });

  it('rejects an unknown shell, and --help says how to install', async () => {
    const bad = await cli(['completions', 'powershell']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown shell "powershell"; use one of: bash, zsh, fish/);
    const help = await cli(['completions', '--help']);
    expect(help.stdout).toContain('claudemesh completions bash > ~/.local/share/bash-completion/completions/claudemesh');
    expect(help.stdout).toContain('claudemesh completions fish > ~/.config/fish/completions/claudemesh.fish');
  });
});

describe('completion generators over a plain tree', () => {
  /** A commander tree with a hidden command and a hidden option, as nest-commander builds one. */
  function commanderTree(): Command {
    const root = new Command('tool');
    const box = new Command('box').description('Boxes\nsecond line').alias('bx');
    box.addCommand(new Command('pack').description("Pack it's contents").option('-s, --size <n>', 'how big [1..9]').option('--dry', 'do not').argument('<what...>'));
    box.addCommand(new Command('secret').description('not shown'), { hidden: true });
    root.addCommand(box);
    const quiet = new Command('quiet').description('Shh');
    quiet.addOption(new Option('--internal', 'hidden').hideHelp());
    quiet.option('--level [n]', 'optional value');
    root.addCommand(quiet);
    return root;
  }

  it('fromCommander keeps what --help shows: names, aliases, first description lines, flags, value-taking, arguments; no hidden ones', () => {
    const tree = fromCommander(commanderTree());
    const box = tree.children.find((c) => c.name === 'box')!;
    expect(box).toMatchObject({ aliases: ['bx'], description: 'Boxes' });
    expect(names(box)).toEqual(['pack', 'help']);
    const pack = box.children[0]!;
    expect(pack.arguments).toEqual(['<what...>']);
    expect(pack.options).toEqual([
      { short: '-s', long: '--size', takesValue: true, description: 'how big [1..9]', flags: '-s, --size <n>' },
      { long: '--dry', takesValue: false, description: 'do not', flags: '--dry' },
      { short: '-h', long: '--help', takesValue: false, description: 'display help for command', flags: '-h, --help' },
    ]);
    const quiet = tree.children.find((c) => c.name === 'quiet')!;
    expect(quiet.options.map((o) => [o.long, o.takesValue])).toEqual([
      ['--level', true],
      ['--help', false],
    ]);
    expect(walk(tree).map((n) => n.path.join(' '))).toEqual(['', 'box', 'box pack', 'box help', 'quiet', 'help']);
  });

  it('quotes descriptions for each shell', async () => {
    const tree = fromCommander(commanderTree());
    expect(zshScript(tree)).toContain(`'box:Boxes'`);
    expect(zshScript(tree)).toContain(`'pack:Pack it'\\''s contents'`);
    expect(zshScript(tree)).toContain(`{-s,--size}'[how big \\[1..9\\]]:size: '`);
    expect(fishScript(tree)).toContain(`-a pack -d 'Pack it\\'s contents'`);
    const dir = mkdtempSync(join(tmpdir(), 'cmh-completions-unit-'));
    try {
      const file = join(dir, 'tool.bash');
      writeFileSync(file, bashScript(tree));
      await run('bash', ['-n', file]);
      const [bx, size, hidden] = await complete(file, [['tool', 'bx', 'p'], ['tool', 'box', 'pack', '--s'], ['tool', 'box', 's']], '_tool');
      expect([bx, size, hidden]).toEqual([['pack'], ['--size'], []]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
