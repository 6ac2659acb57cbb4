import type { PeerInfo } from '@claudemesh/core';
import { Command, CommandRunner, SubCommand } from 'nest-commander';
import { withBackend } from '../backend.js';
import { MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';

/** `peer list`: every member with presence; humans, agents and connectors side by side. */
@SubCommand({ name: 'list', aliases: ['ls'], description: 'List the members of a mesh with their presence' })
export class PeerListCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const peers = await withBackend((b) => b.peers(mesh));
    print(options.json ?? false, peers, peers.map(peerLine).join('\n') || '(no members)');
  }
}

export function peerLine(p: PeerInfo): string {
  const s = p.sessions[0];
  const more = p.sessions.length > 1 ? ` +${p.sessions.length - 1} session${p.sessions.length > 2 ? 's' : ''}` : '';
  const state = p.online ? `online${s ? ` ${s.status}${s.summary ? ` — ${s.summary}` : ''}` : ''}${more}` : 'offline';
  return `${p.display_name.padEnd(20)} ${p.peer_type.padEnd(9)} ${p.role.padEnd(6)} ${state}  ${p.member_pubkey.slice(0, 16)}…`;
}

@Command({ name: 'peer', description: 'Peers of a mesh', subCommands: [PeerListCommand] })
export class PeerCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}

@Command({ name: 'peers', description: 'Alias of: peer list' })
export class PeersAliasCommand extends PeerListCommand {}
