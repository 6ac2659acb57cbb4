import { listMembers, revokeMember } from '@claudemesh/core';
import { parseIdentity } from '@claudemesh/crypto';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { removedMemberWarning } from '../mesh-key-warning.js';
import { withRestKey } from '../rest/ephemeral-key.js';
import { signedCall } from '../rest/signed-call.js';
import { presenceText } from '../rest/topic-format.js';
import { MemberRenameCommand } from './member-rename.command.js';
import { MemberScopeCommand } from './member-scope.command.js';
import { safeLine } from '../terminal-text.js';

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

interface RevokeOptions extends CommonOptions {
  yes?: boolean;
}

/**
 * `member revoke <member>` (alias `remove`): owner or admin. The broker closes the member's
 * sessions and refuses its key from then on (protocol §8.2); the mesh key it holds stays valid
 * until key epochs exist, which the verb says on stderr.
 */
@Gated<RevokeOptions>({ resource: 'member', verb: 'revoke', peers: ([who]) => [who], confirm: true })
@SubCommand({ name: 'revoke', aliases: ['remove'], arguments: '<member>', description: 'Remove a member from the mesh, by name or member key (owner or admin)' })
export class MemberRevokeCommand extends MeshVerb<RevokeOptions> {
  async run([who]: string[], options: RevokeOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    if (!options.yes) throw new CliError(`this removes ${who} from "${mesh.mesh_name}" for good (a new invite is the only way back); re-run with -y to confirm`, EXIT.usage);
    if (mesh.role === 'member') throw new CliError(`you are a member of "${mesh.mesh_name}"; only its owner or an admin removes members\n  next: ask its owner (claudemesh peer list shows who that is)`, EXIT.failure);
    const hints = { E_FORBIDDEN: 'the owner cannot be removed, and only the owner removes an admin' };
    const { members } = await signedCall(mesh, (id) => listMembers(mesh.broker_url, id, mesh.mesh_id), hints);
    const target = members.find((m) => m.member_pubkey === who) ?? members.find((m) => m.display_name === who);
    if (!target) throw new CliError(`no member ${who} in "${mesh.mesh_name}" [E_NOT_FOUND]\n  next: see who is there: claudemesh member list`, EXIT.notFound);
    if (target.member_pubkey === parseIdentity(mesh.identity).publicKey) throw new CliError(`that is you; to forget "${mesh.mesh_name}" on this machine: claudemesh mesh leave`, EXIT.usage);
    const name = safeLine(target.display_name);
    const already = target.revoked;
    if (!already) await signedCall(mesh, (id) => revokeMember(mesh.broker_url, id, mesh.mesh_id, target.member_pubkey), hints);
    print(
      options.json ?? false,
      { member_pubkey: target.member_pubkey, display_name: target.display_name, role: target.role, revoked: true, already_revoked: already },
      already
        ? `${name} was already removed from "${mesh.mesh_name}"`
        : `removed ${name} (${target.role}, ${target.member_pubkey.slice(0, 16)}…) from "${mesh.mesh_name}": its sessions were closed and the broker refuses its key from now on`,
    );
    process.stderr.write(removedMemberWarning(name));
  }

  @Option({ flags: '-y, --yes', description: 'do not ask' })
  parseYes(): boolean {
    return true;
  }
}

@Command({ name: 'member', description: 'Members of a mesh, humans and agents: list with presence, rename yourself, scope (what one may do), remove (owner/admin)', subCommands: [MemberListCommand, MemberRenameCommand, MemberScopeCommand, MemberRevokeCommand] })
export class MemberCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
