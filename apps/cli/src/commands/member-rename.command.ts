import { DisplayName, ProtocolError, claudemeshHome, renameMember, saveMesh } from '@claudemesh/core';
import { cryptoReady, parseIdentity } from '@claudemesh/crypto';
import { SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';

/**
 * `member rename <new-name>` (also `whoami rename`): takes another display name in the mesh. The
 * broker applies it at once (protocol §8.3): peers address you by the new name, the old one is free.
 * The mesh file here is updated too, so whoami and the next join hint agree.
 */
@Gated({ resource: 'member', verb: 'rename' })
@SubCommand({ name: 'rename', arguments: '<new-name>', description: 'Take another display name in the mesh (others see it at once)' })
export class MemberRenameCommand extends MeshVerb {
  async run([name]: string[], options: CommonOptions): Promise<void> {
    const parsed = DisplayName.safeParse(name);
    if (!parsed.success) throw new CliError(`"${name}" is not a display name: ${parsed.error.issues[0]?.message ?? 'invalid'}`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    await cryptoReady();
    let member;
    try {
      member = await renameMember(mesh.broker_url, parseIdentity(mesh.identity), mesh.mesh_id, parsed.data);
    } catch (error) {
      if (error instanceof ProtocolError && error.code === 'E_NAME_TAKEN') {
        throw new CliError(`the display name ${parsed.data} is taken in "${mesh.mesh_name}" [E_NAME_TAKEN]\n  next: pick another (see who is there: claudemesh peer list)`, EXIT.failure);
      }
      if (error instanceof TypeError && /fetch failed/.test(error.message)) throw new CliError(`cannot reach the broker at ${mesh.broker_url}; check it runs, then retry (claudemesh doctor)`, EXIT.unreachable);
      throw error;
    }
    const before = mesh.display_name;
    saveMesh(claudemeshHome(), { ...mesh, display_name: member.display_name });
    print(
      options.json ?? false,
      { mesh_id: mesh.mesh_id, mesh_name: mesh.mesh_name, previous: before, member },
      before === member.display_name ? `you already are ${before} in "${mesh.mesh_name}"` : `renamed: you are ${member.display_name} in "${mesh.mesh_name}" (was ${before}); peers address you by the new name from now on`,
    );
  }
}

/** The same verb under whoami, where people look for their name (the gate is inherited). */
@SubCommand({ name: 'rename', arguments: '<new-name>', description: 'Take another display name in the mesh (same as: member rename)' })
export class WhoamiRenameCommand extends MemberRenameCommand {}
