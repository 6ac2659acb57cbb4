import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { DisplayName, MemberRole, PeerType, PubkeyHex, Uuid } from '../protocol/v1/primitives.js';

/**
 * A joined mesh as stored on a peer under CLAUDEMESH_HOME/meshes/<mesh_id>.json (mode 0600):
 * the member identity's seed and the mesh key live here and nowhere else.
 */
export const StoredMesh = z.object({
  v: z.literal(1),
  mesh_id: Uuid,
  mesh_name: z.string(),
  broker_url: z.string(),
  display_name: DisplayName,
  role: MemberRole,
  peer_type: PeerType,
  identity: z.object({ v: z.literal(1), seed: z.string(), public_key: PubkeyHex }),
  mesh_key: z.string().optional(),
  joined_at: z.number().int(),
});
export type StoredMesh = z.infer<typeof StoredMesh>;

export function claudemeshHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env['CLAUDEMESH_HOME'] ?? join(homedir(), '.claudemesh'));
}

export function saveMesh(home: string, mesh: StoredMesh): string {
  const dir = join(home, 'meshes');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${mesh.mesh_id}.json`);
  writeFileSync(file, `${JSON.stringify(StoredMesh.parse(mesh), null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export function loadMeshes(home: string): StoredMesh[] {
  const dir = join(home, 'meshes');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const out: StoredMesh[] = [];
  for (const name of names) {
    const parsed = StoredMesh.safeParse(JSON.parse(readFileSync(join(dir, name), 'utf8')));
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}

/** Finds a joined mesh by id, name or unique id prefix; with one mesh joined, no selector is needed. */
export function findMesh(home: string, selector?: string): StoredMesh | null {
  const meshes = loadMeshes(home);
  if (!selector) return meshes.length === 1 ? meshes[0]! : null;
  const matches = meshes.filter((m) => m.mesh_id === selector || m.mesh_name === selector || m.mesh_id.startsWith(selector));
  return matches.length === 1 ? matches[0]! : null;
}
