import { Injectable } from '@nestjs/common';
import type { Command, CommanderError, Option } from 'commander';
import { InjectCommander } from 'nest-commander';
import { didYouMean, suggest } from './did-you-mean.js';

/** The root commander command nest-commander built from cli.module.ts (to apply the rules to). */
@Injectable()
export class CommandTree {
  constructor(@InjectCommander() readonly root: Command) {}
}

/**
 * Commands that have subcommands and still act on their own when none is named (`mesh invite`
 * issues an invite; `mesh invite list` lists them). Such a command registers itself here from its
 * setCommand; any other command with subcommands is a plain group that shows its help.
 */
export const runsItself = new WeakSet<Command>();

/** A usage error as the rules report it: one message, the command it happened in, exit 2. */
export interface UsageFailure {
  message: string;
  /** e.g. `claudemesh peer`: where `--help` shows the right spelling. */
  command: string;
}

/**
 * The one rule for how the command tree treats what it cannot run (docs/cli.md "Exit codes"):
 * every usage error — an unknown command or subcommand, an unknown option, a missing or extra
 * argument — exits 2 with one message on stderr (commander's own copy is silenced), with "did you
 * mean" when something is close; asking for help (`--help`, a bare command group such as
 * `claudemesh peer`, or bare `claudemesh`) prints it on stdout and exits 0. Applied to every node of
 * the live tree, so verbs added later follow it without doing anything.
 */
export function applyUsageRules(root: Command, onUsage: (failure: UsageFailure) => never, onExit: (code: number) => never): void {
  const visit = (cmd: Command): void => {
    cmd.exitOverride((err: CommanderError) => {
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return onExit(0);
      return onUsage({ message: plain(err.message), command: pathOf(cmd) });
    });
    cmd.configureOutput({ outputError: () => undefined });
    if (cmd.commands.length > 0) groupRules(cmd, onUsage);
    else if (!acceptsUnknown(cmd)) cmd.allowExcessArguments(false);
    for (const child of cmd.commands) visit(child);
  };
  visit(root);
}

/**
 * A command with subcommands does nothing of its own (unless it is in `runsItself`): bare, it shows
 * its help; anything else on its line is an unknown command (checked before options, so `peer lst
 * --json` names the typo). A default subcommand (`me` → `me show`) runs only when nothing that looks
 * like a command was typed.
 */
function groupRules(cmd: Command, onUsage: (failure: UsageFailure) => never): void {
  // What nest-commander attached: the command's own run(), for a command that acts by itself.
  const own = runsItself.has(cmd) ? (cmd as unknown as { _actionHandler: ((args: unknown[]) => void | Promise<void>) | null })._actionHandler : null;
  cmd.allowUnknownOption(true);
  // `claudemesh help <verb>` stays (an action handler would drop commander's implicit help command);
  // the groups never had one, and their completions list none.
  if (!cmd.parent) cmd.addHelpCommand(true);
  const unknown = (word: string): never => {
    const names = cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    return onUsage({ message: `unknown command "${word}" for ${pathOf(cmd)}${didYouMean(suggest(word, names))}`, command: pathOf(cmd) });
  };
  const isChild = (word: string) => cmd.commands.some((c) => c.name() === word || c.aliases().includes(word));
  cmd.action(() => {
    const option = cmd.args.find((a) => a.startsWith('-'));
    // `peer --json list`: commander stops at the unknown option, so the command is still on the line.
    const child = cmd.args.find(isChild);
    if (child !== undefined) {
      return onUsage({ message: `unknown option "${option ?? ''}" before the command; options go after it: ${pathOf(cmd)} ${child} ${option ?? ''}`.trimEnd(), command: pathOf(cmd) });
    }
    const word = firstOperand(cmd.args, cmd.commands.flatMap((c) => c.options));
    if (word !== undefined) return unknown(word);
    if (option !== undefined) return onUsage({ message: `unknown option "${option}" for ${pathOf(cmd)}`, command: pathOf(cmd) });
    if (own) return own(cmd.processedArgs);
    cmd.outputHelp();
    return undefined;
  });
  cmd.hook('preSubcommand', (parent, sub) => {
    const word = firstOperand(parent.args, sub.options);
    const named = word !== undefined && (sub.name() === word || sub.aliases().includes(word));
    if (word !== undefined && !named && sub.registeredArguments.length === 0) unknown(word);
  });
}

/** The first word that is neither an option nor the value of one (`me --mesh team lst` → `lst`). */
function firstOperand(args: readonly string[], options: readonly Option[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-')) return arg;
    if (arg.includes('=')) continue;
    const known = options.find((o) => o.long === arg || o.short === arg);
    if (known && (known.required || known.optional)) i++;
  }
  return undefined;
}

/** Commands that pass what they do not know on (launch → claude, the status line → Claude Code's extras). */
function acceptsUnknown(cmd: Command): boolean {
  return (cmd as unknown as { _allowUnknownOption?: boolean })._allowUnknownOption === true;
}

function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return ['claudemesh', ...names].join(' ');
}

/** commander's "error: unknown option '--x'\n(Did you mean --y?)" as one line in our style. */
function plain(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (?:one of )?(.+)\?\)$/, '; did you mean $1?')
    .replace(/^too many arguments for '([^']*)'\. Expected (\d+) arguments? but got (\d+)\.$/, 'too many arguments for $1 (expected $2, got $3)')
    .replace(/'([^']*)'/g, '"$1"');
}
