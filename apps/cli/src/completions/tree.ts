/**
 * The command tree the completion scripts are generated from: a plain object, so the generators
 * are pure functions that tests can feed directly. `fromCommander` builds it from the live
 * commander tree nest-commander made, so the scripts can never lag behind cli.module.ts.
 */
export interface CompletionOption {
  /** e.g. `--mesh`; absent for a short-only flag */
  long?: string;
  /** e.g. `-m` */
  short?: string;
  /** whether the flag consumes a value (`--mesh <mesh>`, `--x [y]`) */
  takesValue: boolean;
  description: string;
  /** as declared, e.g. `-p, --priority <priority>` (the skill's reference shows the value's name) */
  flags?: string;
}

export interface CompletionNode {
  name: string;
  aliases: string[];
  description: string;
  options: CompletionOption[];
  /** positional arguments as commander prints them: `<to>`, `[file]`, `<text...>` */
  arguments: string[];
  children: CompletionNode[];
}

/** The slice of commander's API that is read (commander's `Command` satisfies it). */
export interface CommanderLike {
  name(): string;
  aliases(): string[];
  description(): string;
  readonly registeredArguments: readonly { name(): string; required: boolean; variadic: boolean }[];
  createHelp(): {
    visibleCommands(cmd: CommanderLike): CommanderLike[];
    visibleOptions(cmd: CommanderLike): { long?: string; short?: string; required: boolean; optional: boolean; description: string; flags?: string }[];
  };
}

/**
 * Walks a commander command and its visible subcommands. Hidden commands and options are left out
 * the way `--help` leaves them out (commander's own Help.visibleCommands / visibleOptions, which
 * also add the implicit `help` command and `-h, --help`).
 */
export function fromCommander(cmd: CommanderLike): CompletionNode {
  const help = cmd.createHelp();
  return {
    name: cmd.name(),
    aliases: [...cmd.aliases()],
    description: firstLine(cmd.description()),
    options: help.visibleOptions(cmd).map((o) => ({
      ...(o.long ? { long: o.long } : {}),
      ...(o.short ? { short: o.short } : {}),
      takesValue: o.required || o.optional,
      description: firstLine(o.description),
      ...(o.flags ? { flags: o.flags } : {}),
    })),
    arguments: cmd.registeredArguments.map((a) => {
      const term = `${a.name()}${a.variadic ? '...' : ''}`;
      return a.required ? `<${term}>` : `[${term}]`;
    }),
    children: help.visibleCommands(cmd).map((child) => fromCommander(child)),
  };
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

/** Every command below the root with its path of canonical names (root first, excluded). */
export function walk(root: CompletionNode): Array<{ path: string[]; node: CompletionNode }> {
  const out: Array<{ path: string[]; node: CompletionNode }> = [];
  const visit = (node: CompletionNode, path: string[]): void => {
    out.push({ path, node });
    for (const child of node.children) visit(child, [...path, child.name]);
  };
  visit(root, []);
  return out;
}

/** Flags of a command as typed on the command line (long and short spellings). */
export function flagWords(node: CompletionNode): string[] {
  return node.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined));
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];
