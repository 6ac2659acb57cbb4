import { EpochKeyring, MeshClient, loadMeshes, wsUrlOf } from '@claudemesh/core';
import { cryptoReady, fromB64u, parseIdentity } from '@claudemesh/crypto';
import { keyringAuthorities } from '../../src/topic-keyring.js';

/**
 * An SDK member made from a CLI home's stored keys (its first mesh), connected, with a keyring of
 * its own in memory (not the CLI's file): what the e2e specs use beside real CLI runs.
 */
export async function sdkMemberOf(home: string): Promise<{ client: MeshClient; ring: EpochKeyring; meshId: string; key: string }> {
  await cryptoReady();
  const [mesh] = loadMeshes(home);
  const identity = parseIdentity(mesh!.identity);
  const client = new MeshClient({
    url: wsUrlOf(mesh!.broker_url),
    meshId: mesh!.mesh_id,
    identity,
    ...(mesh!.mesh_key ? { meshKey: fromB64u(mesh!.mesh_key) } : {}),
    peerType: mesh!.peer_type,
    reconnect: false,
    clientName: 'sdk-test',
  });
  await client.connect();
  const ring = new EpochKeyring({ me: identity, meshId: mesh!.mesh_id, authorities: keyringAuthorities(await client.listPeers()) });
  return { client, ring, meshId: mesh!.mesh_id, key: identity.publicKey };
}
