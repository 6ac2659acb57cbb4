import { GroupName } from '@claudemesh/core';
import { Command, CommandRunner, SubCommand } from 'nest-commander';
import { withBackend } from '../backend.js';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';

function groupOf(raw: string | undefined): string {
  const name = (raw ?? '').replace(/^@/, '');
  if (!GroupName.safeParse(name).success) throw new CliError(`"${raw}" is not a group name (1–64 of a-z 0-9 _ -, e.g. reviewers)`, EXIT.usage);
  return name;
}

@Gated({ resource: 'group', verb: 'join', peers: ([g]) => [g && `@${g.replace(/^@/, '')}`] })
@SubCommand({ name: 'join', arguments: '<group>', description: 'Join @group: receive what is sent to it' })
export class GroupJoinCommand extends MeshVerb {
  async run([raw]: string[], options: CommonOptions): Promise<void> {
    const group = groupOf(raw);
    const mesh = selectMesh(options.mesh);
    await withBackend((b) => b.group(mesh, group, true));
    print(options.json ?? false, { group, joined: true }, `joined @${group}; messages to @${group} now reach you`);
  }
}

@Gated({ resource: 'group', verb: 'leave', peers: ([g]) => [g && `@${g.replace(/^@/, '')}`] })
@SubCommand({ name: 'leave', arguments: '<group>', description: 'Leave @group' })
export class GroupLeaveCommand extends MeshVerb {
  async run([raw]: string[], options: CommonOptions): Promise<void> {
    const group = groupOf(raw);
    const mesh = selectMesh(options.mesh);
    await withBackend((b) => b.group(mesh, group, false));
    print(options.json ?? false, { group, joined: false }, `left @${group}`);
  }
}

@Command({ name: 'group', description: 'Groups (@name) you belong to', subCommands: [GroupJoinCommand, GroupLeaveCommand] })
export class GroupCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
