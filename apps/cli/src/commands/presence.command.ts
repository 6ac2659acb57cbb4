import { LIMITS, PeerStatus } from '@claudemesh/core';
import { Command, CommandRunner, SubCommand } from 'nest-commander';
import { withBackend } from '../backend.js';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';

/**
 * Status and summary belong to live sessions. Through the daemon they stick to its warm session
 * (and are re-applied after every reconnect); without it they last as long as the verb's own
 * connection.
 */
@Gated({ resource: 'status', verb: 'set' })
@SubCommand({ name: 'set', arguments: '<status>', description: 'idle | working | dnd' })
export class StatusSetCommand extends MeshVerb {
  async run([raw]: string[], options: CommonOptions): Promise<void> {
    const parsed = PeerStatus.safeParse(raw);
    if (!parsed.success) throw new CliError(`status must be idle, working or dnd (got "${raw}")`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    await withBackend((b) => b.setStatus(mesh, parsed.data));
    print(options.json ?? false, { status: parsed.data }, `status: ${parsed.data}`);
  }
}

@Command({ name: 'status', description: 'Your presence status', subCommands: [StatusSetCommand] })
export class StatusCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}

@Gated({ resource: 'summary', verb: 'set' })
@SubCommand({ name: 'set', arguments: '<text...>', description: 'What you are working on, shown in peer list' })
export class SummarySetCommand extends MeshVerb {
  async run(words: string[], options: CommonOptions): Promise<void> {
    const summary = words.join(' ');
    if (summary.length > LIMITS.maxSummaryChars) throw new CliError(`a summary is at most ${LIMITS.maxSummaryChars} characters`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    await withBackend((b) => b.setSummary(mesh, summary));
    print(options.json ?? false, { summary }, `summary: ${summary}`);
  }
}

@Command({ name: 'summary', description: 'Your one-line summary', subCommands: [SummarySetCommand] })
export class SummaryCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
