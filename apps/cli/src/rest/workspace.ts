import { claudemeshHome, loadMeshes, type MeshApi, type StoredMesh } from '@claudemesh/core';
import { CliError, EXIT, selectMesh } from '../context.js';
import { withRestKey } from './ephemeral-key.js';
import { safeLine, safeText } from '../terminal-text.js';

export interface MeshResult<T> {
  mesh: StoredMesh;
  value: T;
}

/** Mesh fields added to each row of a view that spans meshes. */
export const meshFields = (mesh: StoredMesh): { mesh_id: string; mesh_name: string } => ({ mesh_id: mesh.mesh_id, mesh_name: mesh.mesh_name });

/**
 * The workspace views (`me …`) read every joined mesh at once (or only `--mesh`), each with its own
 * read-only key minted and revoked for the run. A mesh that fails is reported on stderr and sets
 * the exit code, while the others are still shown; when every mesh fails, the first error is thrown.
 */
export async function acrossMeshes<T>(selector: string | undefined, verb: string, work: (api: MeshApi, mesh: StoredMesh) => Promise<T>): Promise<Array<MeshResult<T>>> {
  const home = claudemeshHome();
  const meshes = selector ? [selectMesh(selector)] : loadMeshes(home);
  if (meshes.length === 0) throw new CliError(`no mesh joined under ${home}; run: claudemesh join '<invite link>' --name <you>`, EXIT.noMesh);
  const settled = await Promise.allSettled(meshes.map((mesh) => withRestKey(mesh, { verb, capabilities: ['read'] }, (api) => work(api, mesh))));
  const results: Array<MeshResult<T>> = [];
  const failures: Array<{ mesh: StoredMesh; error: unknown }> = [];
  settled.forEach((s, i) => (s.status === 'fulfilled' ? results.push({ mesh: meshes[i]!, value: s.value }) : failures.push({ mesh: meshes[i]!, error: s.reason })));
  if (failures.length > 0 && (results.length === 0 || meshes.length === 1)) {
    if (failures.length === 1) throw failures[0]!.error;
    throw new CliError(failures.map((f) => `"${safeLine(f.mesh.mesh_name)}": ${(f.error as Error).message}`).join('\n'), exitOf(failures[0]!.error));
  }
  for (const f of failures) process.stderr.write(`claudemesh: mesh "${safeLine(f.mesh.mesh_name)}" left out: ${safeText((f.error as Error).message)}\n`);
  if (failures.length > 0) process.exitCode = exitOf(failures[0]!.error);
  return results;
}

const exitOf = (error: unknown): number => (error instanceof CliError ? error.exitCode : EXIT.failure);
