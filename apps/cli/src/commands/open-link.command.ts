import { createInterface } from 'node:readline/promises';
import { Command, CommandRunner, Option } from 'nest-commander';
import { CliError, EXIT } from '../context.js';
import { defaultDisplayName } from '../identity/default-name.js';
import { JoinCommand } from './join.command.js';
import { LaunchCommand } from './launch.command.js';
import { isSchemeLink, schemeLinkToInvite } from '../url-scheme/link.js';

interface OpenOptions {
  yes?: boolean;
  name?: string;
}

/** What `claudemesh <link>` means: a link in the first position (main.ts routes it here). */
export const LINK_PATTERN = /^(ic:\/\/join\/|claudemesh:\/\/|https?:\/\/[^\s]+\/(join#|i\/|e\/))/i;

/**
 * `claudemesh <invite link> [-y] [--name n] [-- claude args…]`: joins the mesh (or finds it
 * already joined) and starts Claude Code with the channel. Without -y, on a terminal, it asks for
 * the display name first; with -y or without a terminal it takes --name or the OS user name (made unique).
 */
@Command({
  name: 'open',
  arguments: '<link> [claude-args...]',
  description: 'Join a mesh from a link and launch Claude Code (what `claudemesh <link>` runs)',
  allowUnknownOptions: true,
})
export class OpenLinkCommand extends CommandRunner {
  async run([link, ...claudeArgs]: string[], options: OpenOptions): Promise<void> {
    if (!link || !LINK_PATTERN.test(link)) throw new CliError('usage: claudemesh <invite link> [-y] [--name <you>]', EXIT.usage);
    let name = options.name;
    if (!name && !options.yes && process.stdin.isTTY && process.stdout.isTTY) {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const fallback = defaultDisplayName();
      name = (await rl.question(`your display name in the mesh [${fallback}]: `)).trim() || fallback;
      rl.close();
    }
    try {
      // claudemesh://… (from a browser, through the registered URL handler) maps onto an invite form.
      const invite = isSchemeLink(link) ? schemeLinkToInvite(link) : link;
      await new JoinCommand().run([invite], { ...(name ? { name } : {}) });
    } catch (error) {
      // Joined before: launching is still what the link is for.
      if (!(error instanceof CliError && /already joined/.test(error.message))) throw error;
      process.stderr.write(`claudemesh: ${error.message.split(';')[0]}; launching\n`);
    }
    // An email join still waiting for its mesh key has no mesh to launch into yet.
    if (process.exitCode === EXIT.pending) return;
    await new LaunchCommand().run(claudeArgs);
  }

  @Option({ flags: '-y, --yes', description: 'no prompts' })
  parseYes(): boolean {
    return true;
  }

  @Option({ flags: '-n, --name <name>', description: 'your display name in the mesh' })
  parseName(value: string): string {
    return value;
  }
}
