import { claudemeshHome, joinMesh, loadMeshes, saveMesh, type PeerType } from '@claudemesh/core';
import { cryptoReady, generateIdentity, parseInviteLink, serializeIdentity, toB64u } from '@claudemesh/crypto';
import { Command, CommandRunner, Option } from 'nest-commander';
import { CliError, EXIT, print } from '../context.js';

interface JoinOptions {
  name?: string;
  peerType?: PeerType;
  json?: boolean;
}

@Command({ name: 'join', arguments: '<invite>', description: 'Join a mesh with an invite link (ic://join/… or https://…/join#…)' })
export class JoinCommand extends CommandRunner {
  async run([link]: string[], options: JoinOptions): Promise<void> {
    await cryptoReady();
    let parsed;
    try {
      parsed = parseInviteLink(link!);
    } catch {
      throw new CliError('that is not a claudemesh invite link; ask the mesh owner for a fresh one', EXIT.usage);
    }
    const { invite, meshKey } = parsed;
    const name = options.name ?? process.env['USER'] ?? 'peer';
    const already = loadMeshes(claudemeshHome()).find((m) => m.mesh_id === invite.payload.mesh_id);
    if (already) throw new CliError(`already joined "${already.mesh_name}" as ${already.display_name}; to join again, first run: claudemesh mesh leave ${already.mesh_name} -y`, EXIT.usage);
    const identity = generateIdentity();
    const joined = await joinMesh(invite.payload.broker_url, { invite, identity, displayName: name, peerType: options.peerType ?? 'ai' });
    const file = saveMesh(claudemeshHome(), {
      v: 1,
      mesh_id: joined.mesh_id,
      mesh_name: joined.mesh_name,
      broker_url: invite.payload.broker_url,
      display_name: joined.member.display_name,
      role: joined.member.role,
      peer_type: joined.member.peer_type,
      identity: serializeIdentity(identity),
      ...(meshKey ? { mesh_key: toB64u(meshKey) } : {}),
      joined_at: Date.now(),
    });
    print(
      options.json ?? false,
      { mesh_id: joined.mesh_id, mesh_name: joined.mesh_name, member: joined.member, file },
      `joined "${joined.mesh_name}" as ${joined.member.display_name} (${joined.member.role}); keys saved to ${file}\nnext: claudemesh peer list · claudemesh send <name> <text> · claudemesh inbox`,
    );
  }

  @Option({ flags: '-n, --name <name>', description: 'your display name in the mesh' })
  parseName(value: string): string {
    return value;
  }

  @Option({ flags: '--peer-type <type>', description: 'ai | human | connector (default ai)' })
  parsePeerType(value: string): PeerType {
    if (value !== 'ai' && value !== 'human' && value !== 'connector') throw new CliError('--peer-type must be ai, human or connector', EXIT.usage);
    return value;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}
