import { PeerTag } from '@claudemesh/core';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../claude/atomic-file.js';
import { withFileLock } from '../policy/file-lock.js';

/**
 * `$CLAUDEMESH_HOME/tags.json` (0600): the tags this member's sessions advertise, per mesh, and
 * whether a session started in a git work tree adds `repo:<name>` (docs/cli.md "Tags"). A file,
 * not local.db: it is the member's configuration, so `backup` carries it with the other top-level
 * JSON files, and the daemon and the push-pipe notice a change by its stat alone.
 *
 *   { "version": 1, "meshes": { "<mesh id>": { "tags": ["role:reviewer"], "repo_tag": false } } }
 */
export const TAG_FILE = 'tags.json';

export interface MeshTags {
  /** Added with `peer tag add` (or the MCP tools), in the order added. */
  tags: string[];
  /** False once `peer tag repo off` turned derivation off for this mesh; absent = on. */
  repo_tag?: boolean;
}

interface TagFileData {
  version: 1;
  meshes: Record<string, MeshTags>;
}

/** tags.json is there but unusable; the message says how to repair it. */
export class TagFileError extends Error {}

export const tagFilePath = (home: string): string => join(home, TAG_FILE);

function read(home: string): TagFileData {
  const path = tagFilePath(home);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, meshes: {} };
    throw new TagFileError(`${path} cannot be read: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new TagFileError(`${path} is not valid JSON (${(error as Error).message}); fix it, or delete it and add your tags again`);
  }
  const d = data as Partial<TagFileData> | null;
  if (!d || typeof d !== 'object' || d.version !== 1 || !d.meshes || typeof d.meshes !== 'object') {
    throw new TagFileError(`${path} is not a claudemesh tag file (version 1); fix it, or delete it and add your tags again`);
  }
  for (const [meshId, entry] of Object.entries(d.meshes)) {
    const bad = !entry || !Array.isArray(entry.tags) || entry.tags.some((t) => !PeerTag.safeParse(t).success) || (entry.repo_tag !== undefined && typeof entry.repo_tag !== 'boolean');
    if (bad) throw new TagFileError(`${path}: the entry of mesh ${meshId} is malformed (tags: lowercase name or name:value, repo_tag: true/false); fix it, or delete it and add your tags again`);
  }
  return d as TagFileData;
}

/** What is kept for one mesh (none, derivation on, when the file or the entry is absent). */
export function meshTags(home: string, meshId: string): Required<MeshTags> {
  const entry = read(home).meshes[meshId];
  return { tags: [...(entry?.tags ?? [])], repo_tag: entry?.repo_tag ?? true };
}

/**
 * Changes one mesh's entry under a lock (the CLI and a push-pipe's tools may write at once) and
 * writes the file whole, in one rename. `change` may throw to leave it untouched.
 */
export function updateMeshTags(home: string, meshId: string, change: (current: Required<MeshTags>) => Required<MeshTags>): Required<MeshTags> {
  return withFileLock(`${tagFilePath(home)}.lock`, () => {
    const data = read(home);
    const current = data.meshes[meshId];
    const next = change({ tags: [...(current?.tags ?? [])], repo_tag: current?.repo_tag ?? true });
    const entry: MeshTags = { tags: next.tags, ...(next.repo_tag ? {} : { repo_tag: false }) };
    if (entry.tags.length === 0 && entry.repo_tag === undefined) delete data.meshes[meshId];
    else data.meshes[meshId] = entry;
    writeFileAtomic(tagFilePath(home), `${JSON.stringify(data, null, 2)}\n`, 0o600);
    return next;
  });
}

/** Changes whenever the file is replaced or edited: what the daemon and the push-pipe poll. */
export function tagFileSignature(home: string): string {
  try {
    const st = statSync(tagFilePath(home));
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}
