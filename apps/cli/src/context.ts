import { claudemeshHome, findMesh, loadMeshes, MeshClient, wsUrlOf, type StoredMesh } from '@claudemesh/core';
import { cryptoReady, fromB64u, parseIdentity } from '@claudemesh/crypto';

/** Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 nothing joined / mesh not found. */
export const EXIT = { ok: 0, failure: 1, usage: 2, noMesh: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
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

export async function connectTo(mesh: StoredMesh): Promise<MeshClient> {
  await cryptoReady();
  const client = new MeshClient({
    url: wsUrlOf(mesh.broker_url),
    meshId: mesh.mesh_id,
    identity: parseIdentity(mesh.identity),
    ...(mesh.mesh_key ? { meshKey: fromB64u(mesh.mesh_key) } : {}),
    peerType: mesh.peer_type,
    reconnect: false,
    clientName: 'claudemesh-cli',
  });
  await client.connect();
  return client;
}

export function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}
