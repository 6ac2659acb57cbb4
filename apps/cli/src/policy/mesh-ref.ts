import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GateRequest } from './rules.js';

/**
 * The mesh a verb is about, as the policy matches it: the joined mesh the selector names (by id,
 * name or unique id prefix, as `--mesh` does; the only one without a selector), else the selector
 * as typed (a mesh being created, or one the verb will fail to find), else null.
 */
export function meshRef(home: string, selector: string | undefined): GateRequest['mesh'] {
  let meshes: Array<{ mesh_id: string; mesh_name: string }> = [];
  try {
    meshes = readdirSync(join(home, 'meshes'))
      .filter((n) => n.endsWith('.json'))
      .map((n) => JSON.parse(readFileSync(join(home, 'meshes', n), 'utf8')) as { mesh_id: string; mesh_name: string })
      .filter((m) => typeof m.mesh_id === 'string' && typeof m.mesh_name === 'string');
  } catch {
    // no mesh joined (or an unreadable file, which the verb itself reports)
  }
  const matches = selector ? meshes.filter((m) => m.mesh_id === selector || m.mesh_name === selector || m.mesh_id.startsWith(selector)) : meshes;
  if (matches.length === 1) return { name: matches[0]!.mesh_name, id: matches[0]!.mesh_id };
  return selector ? { name: selector, id: null } : null;
}
