import { Command, CommandRunner, Option } from 'nest-commander';
import { connectTo, print, selectMesh } from '../context.js';

interface PeersOptions {
  mesh?: string;
  json?: boolean;
}

@Command({ name: 'peers', description: 'List the members of a mesh with their presence' })
export class PeersCommand extends CommandRunner {
  async run(_args: string[], options: PeersOptions): Promise<void> {
    const client = await connectTo(selectMesh(options.mesh));
    try {
      const peers = await client.listPeers();
      const text = peers
        .map((p) => {
          const s = p.sessions[0];
          const state = p.online ? `online${s ? ` ${s.status}${s.summary ? ` — ${s.summary}` : ''}` : ''}` : 'offline';
          return `${p.display_name.padEnd(20)} ${p.peer_type.padEnd(9)} ${p.role.padEnd(6)} ${state}  ${p.member_pubkey.slice(0, 16)}…`;
        })
        .join('\n');
      print(options.json ?? false, peers, text || '(no members)');
    } finally {
      await client.close();
    }
  }

  @Option({ flags: '-m, --mesh <mesh>', description: 'mesh name or id (needed when several are joined)' })
  parseMesh(value: string): string {
    return value;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}
