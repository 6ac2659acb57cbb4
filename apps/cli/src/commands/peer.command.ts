import type { PeerInfo } from '@claudemesh/core';
import { Command, CommandRunner, SubCommand } from 'nest-commander';
import { MeshVerb, print, withMesh, type CommonOptions } from '../context.js';

/** `peer list`: every member with presence; humans, agents and connectors side by side. */
@SubCommand({ name: 'list', aliases: ['ls'], description: 'List the members of a mesh with their presence' })
export class PeerListCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const peers = await withMesh(options.mesh, (client) => client.listPeers());
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
