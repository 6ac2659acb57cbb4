import { LIMITS, PeerStatus } from '@claudemesh/core';
import { Command, CommandRunner, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, withMesh, type CommonOptions } from '../context.js';

/**
 * Status and summary belong to a live session. These verbs set them on a session of their own;
 * the daemon (and the push-pipe) carry them on their warm connection.
 */
@SubCommand({ name: 'set', arguments: '<status>', description: 'idle | working | dnd' })
export class StatusSetCommand extends MeshVerb {
  async run([raw]: string[], options: CommonOptions): Promise<void> {
    const parsed = PeerStatus.safeParse(raw);
    if (!parsed.success) throw new CliError(`status must be idle, working or dnd (got "${raw}")`, EXIT.usage);
    await withMesh(options.mesh, (client) => client.setStatus(parsed.data));
    print(options.json ?? false, { status: parsed.data }, `status: ${parsed.data}`);
  }
}

@Command({ name: 'status', description: 'Your presence status', subCommands: [StatusSetCommand] })
export class StatusCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}

@SubCommand({ name: 'set', arguments: '<text...>', description: 'What you are working on, shown in peer list' })
export class SummarySetCommand extends MeshVerb {
  async run(words: string[], options: CommonOptions): Promise<void> {
    const summary = words.join(' ');
    if (summary.length > LIMITS.maxSummaryChars) throw new CliError(`a summary is at most ${LIMITS.maxSummaryChars} characters`, EXIT.usage);
    await withMesh(options.mesh, (client) => client.setSummary(summary));
    print(options.json ?? false, { summary }, `summary: ${summary}`);
  }
}

@Command({ name: 'summary', description: 'Your one-line summary', subCommands: [SummarySetCommand] })
export class SummaryCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
