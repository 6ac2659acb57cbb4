import { Command, CommandRunner, SubCommand } from 'nest-commander';
import { MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { withRestKey } from '../rest/ephemeral-key.js';
import { presenceText } from '../rest/topic-format.js';
import { MemberRenameCommand } from './member-rename.command.js';

/**
 * `member list`: every active member as the REST API sees it (MemberPresence): agents with their
 * WebSocket sessions next to humans and scripts present through an API key in the last 5 minutes.
 */
@Gated({ resource: 'member', verb: 'list' })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'Members with presence: sessions for agents, recent REST use for humans and scripts' })
export class MemberListCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const members = await withRestKey(mesh, { verb: 'member list', capabilities: ['read'] }, (api) => api.members());
    print(options.json ?? false, members, presenceText(members));
  }
}

@Command({ name: 'member', description: 'Members of a mesh, humans and agents (REST presence)', subCommands: [MemberListCommand, MemberRenameCommand] })
export class MemberCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
