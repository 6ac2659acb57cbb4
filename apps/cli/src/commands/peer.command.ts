import { claudemeshHome } from '@claudemesh/core';
import { Command, CommandRunner, SubCommand } from 'nest-commander';
import { withBackend } from '../backend.js';
import { MeshVerb, selectMesh, type CommonOptions } from '../context.js';
import { peersText, staleLine } from '../format.js';
import { Gated } from '../gated.js';
import { LocalStore } from '../store/local-store.js';
import { PeerTagCommand } from './peer-tags.command.js';
import { PeerVerifyCommand } from './peer-verify.command.js';
import { PeerBlockCommand, PeerGrantCommand, PeerGrantsCommand, PeerRevokeCommand, PeerUnblockCommand } from './peer-grants.command.js';

/** `peer list`: every member with presence; humans, agents and connectors side by side. */
@Gated({ resource: 'peer', verb: 'list' })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'List the members of a mesh with their presence' })
export class PeerListCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const { peers, stale } = await withBackend((b) => b.peers(mesh));
    if (stale) process.stderr.write(staleLine(stale));
    const store = LocalStore.open(claudemeshHome());
    let verified: Set<string>;
    try {
      verified = new Set(store.verifiedPeers(mesh.mesh_id).map((v) => v.member_pubkey));
    } finally {
      store.close();
    }
    process.stdout.write(peersText(peers, options.json ?? false, verified));
  }
}

@Command({ name: 'peer', description: 'Peers of a mesh', subCommands: [PeerListCommand, PeerVerifyCommand, PeerGrantsCommand, PeerGrantCommand, PeerRevokeCommand, PeerBlockCommand, PeerUnblockCommand, PeerTagCommand] })
export class PeerCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}

@Command({ name: 'peers', description: 'Alias of: peer list' })
export class PeersAliasCommand extends PeerListCommand {}
