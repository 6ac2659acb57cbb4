import { meshClientFor } from './mesh-client-for.js';
import { claudemeshHome, findMesh, loadMeshes, MeshClient, type StoredMesh } from '@claudemesh/core';
import { cryptoReady } from '@claudemesh/crypto';
import { CommandRunner, Option } from 'nest-commander';
import { EXIT } from './exit-codes.js';
import { LocalStore } from './store/local-store.js';
import { safeText } from './terminal-text.js';
import { netCause } from './net-cause.js';

export { EXIT };

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
  }
}

export interface CommonOptions {
  mesh?: string;
  json?: boolean;
}

/** Every verb that talks about a mesh takes --mesh and --json. */
export abstract class MeshVerb<O extends CommonOptions = CommonOptions> extends CommandRunner {
  abstract override run(args: string[], options: O): Promise<void>;

  @Option({ flags: '-m, --mesh <mesh>', description: 'mesh name or id (needed when several are joined)' })
  parseMesh(value: string): string {
    return value;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}

export function selectMesh(selector: string | undefined): StoredMesh {
  const home = claudemeshHome();
  const mesh = findMesh(home, selector);
  if (mesh) return mesh;
  const joined = loadMeshes(home);
  if (joined.length === 0) throw new CliError(`no mesh joined under ${home}; run: claudemesh join '<invite link>' --name <you>`, EXIT.noMesh);
  throw new CliError(
    `${selector ? `no single mesh matches "${selector}"` : 'several meshes joined'}; pass --mesh with one of: ${joined.map((m) => `${m.mesh_name} (${m.mesh_id})`).join(', ')}`,
    EXIT.noMesh,
  );
}

/**
 * Opens a connection to a mesh. Every push this connection receives is written to the local inbox
 * before the SDK confirms it `delivered` (a listener that throws leaves it unconfirmed), so a verb
 * that connects for another reason — a send, a peer list — never swallows a message.
 */
export async function connectTo(mesh: StoredMesh, options: { reconnect?: boolean; clientName?: string } = {}): Promise<MeshClient> {
  await cryptoReady();
  const store = LocalStore.open(claudemeshHome());
  const client = meshClientFor(mesh, { reconnect: options.reconnect ?? false, clientName: options.clientName ?? 'claudemesh-cli', history: store });
  client.on('message', (m) => void store.addInbound(mesh.mesh_id, m));
  const close = client.close.bind(client);
  client.close = async () => {
    try {
      await close();
    } finally {
      store.close();
    }
  };
  try {
    await client.connect();
  } catch (error) {
    store.close();
    const cause = netCause(error, mesh.broker_url);
    if (cause) throw new CliError(`cannot reach the broker: ${cause.text}; check it runs, then retry (claudemesh doctor)`, EXIT.unreachable);
    throw error;
  }
  return client;
}

/**
 * A verb's answer: `value` exactly as JSON with --json, else `text` for a person, with any control
 * sequence in it made visible (terminal-text.ts), whoever put it there.
 */
export function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${safeText(text)}\n`);
}
