import { claudemeshHome, loadMeshes } from '@claudemesh/core';
import { createInterface } from 'node:readline/promises';
import { Command, CommandRunner, Option } from 'nest-commander';
import { shellQuote } from '../claude/shell-quote.js';
import { CliError, EXIT } from '../context.js';
import { defaultDisplayName } from '../identity/default-name.js';
import { confirmYes, hasTerminal } from '../policy/prompt.js';
import { JoinCommand } from './join.command.js';
import { LaunchCommand } from './launch.command.js';
import { isSchemeLink, schemeLinkToInvite } from '../url-scheme/link.js';
import { previewInvite, previewLines } from '../url-scheme/link-preview.js';
import { safeLine } from '../terminal-text.js';

interface OpenOptions {
  yes?: boolean;
  name?: string;
}

/** What `claudemesh <link>` means: a link in the first position (main.ts routes it here). */
export const LINK_PATTERN = /^(ic:\/\/join\/|claudemesh:\/\/|https?:\/\/[^\s]+\/(join#|i\/|e\/))/i;

/**
 * `claudemesh <invite link> [-y] [--name n] [-- claude args…]`: joins the mesh (or finds it
 * already joined) and starts Claude Code with the channel. A clicked `claudemesh://` link lands
 * here through the URL handler, so any web page can start it: before joining or launching it
 * resolves the invite (nothing is enrolled), shows the broker, mesh and inviter, and goes on only
 * on a typed `yes`. Without a terminal to ask on it refuses and says how to join explicitly; -y
 * (never passed by the URL handler) is the person's answer given in advance. The display name is
 * asked on the terminal (default: the OS user name, made unique); with -y it is --name or that default.
 */
@Command({
  name: 'open',
  arguments: '<link> [claude-args...]',
  description: 'Join a mesh from a link and launch Claude Code (what `claudemesh <link>` runs); shows who invites you and asks first',
  allowUnknownOptions: true,
})
export class OpenLinkCommand extends CommandRunner {
  async run([link, ...claudeArgs]: string[], options: OpenOptions): Promise<void> {
    if (!link || !LINK_PATTERN.test(link)) throw new CliError('usage: claudemesh <invite link> [-y] [--name <you>]', EXIT.usage);
    // claudemesh://… (from a browser, through the registered URL handler) maps onto an invite form.
    const invite = isSchemeLink(link) ? schemeLinkToInvite(link) : link;
    if (!options.yes && !hasTerminal()) {
      throw new CliError(
        `this link would join a mesh and start Claude Code, which needs a yes typed on a terminal; nothing was done\n  next: to join explicitly: claudemesh join ${shellQuote(invite)} --name <you>, then: claudemesh launch`,
        EXIT.usage,
      );
    }
    const preview = await previewInvite(invite, process.env['CLAUDEMESH_BROKER']);
    const joined = loadMeshes(claudemeshHome()).find((m) => m.mesh_id === preview.meshId);
    if (!options.yes) {
      process.stderr.write(`${previewLines(preview, joined?.display_name ?? null).join('\n')}\n`);
      const question = joined ? 'Start Claude Code with this mesh?' : `Join "${safeLine(preview.meshName)}" and start Claude Code?`;
      if (!(await confirmYes(question))) throw new CliError('not confirmed: nothing was joined or started', EXIT.usage);
    }
    if (joined) process.stderr.write(`claudemesh: already joined "${safeLine(joined.mesh_name)}" as ${safeLine(joined.display_name)}; launching\n`);
    else await new JoinCommand().run([invite], await this.name(options));
    // An email join still waiting for its mesh key has no mesh to launch into yet.
    if (process.exitCode === EXIT.pending) return;
    await new LaunchCommand().run(claudeArgs);
  }

  /** --name, else asked on the terminal (default: the OS user name), else join's own default. */
  private async name(options: OpenOptions): Promise<{ name?: string }> {
    if (options.name) return { name: options.name };
    if (options.yes || !hasTerminal()) return {};
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const fallback = defaultDisplayName();
    const name = (await rl.question(`your display name in the mesh [${fallback}]: `)).trim() || fallback;
    rl.close();
    return { name };
  }

  @Option({ flags: '-y, --yes', description: 'no prompts: you have checked the link and answer yes in advance' })
  parseYes(): boolean {
    return true;
  }

  @Option({ flags: '-n, --name <name>', description: 'your display name in the mesh' })
  parseName(value: string): string {
    return value;
  }
}
