import { Command } from 'nest-commander';
import { MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { WhoamiRenameCommand } from './member-rename.command.js';
import { runsItself } from '../usage-rules.js';

/** `whoami`: who you are in the selected mesh, from local state only. */
@Command({ name: 'whoami', description: 'Your name, role and keys in a mesh; whoami rename <new-name> changes the name', subCommands: [WhoamiRenameCommand] })
export class WhoamiCommand extends MeshVerb {
  // Bare `whoami` answers; `whoami rename` is its one subcommand (usage-rules.ts).
  override setCommand(command: Parameters<MeshVerb['setCommand']>[0]): this {
    runsItself.add(command);
    return super.setCommand(command);
  }

  async run(_args: string[], options: CommonOptions): Promise<void> {
    const m = selectMesh(options.mesh);
    const info = { mesh_id: m.mesh_id, mesh_name: m.mesh_name, display_name: m.display_name, role: m.role, peer_type: m.peer_type, member_pubkey: m.identity.public_key, broker_url: m.broker_url, has_mesh_key: Boolean(m.mesh_key) };
    print(options.json ?? false, info, `${m.display_name} (${m.role}, ${m.peer_type}) in "${m.mesh_name}" on ${m.broker_url}\nmember key ${m.identity.public_key}`);
  }
}
