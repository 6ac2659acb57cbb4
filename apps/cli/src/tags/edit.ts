import { LIMITS, PeerTag } from '@claudemesh/core';
import { EXIT } from '../exit-codes.js';
import { updateMeshTags } from './tag-file.js';
import { tagView } from './session-tags.js';

/** A tag edit that cannot be done; `exitCode` as docs/cli.md "Exit codes" (2 usage, 4 not found). */
export class TagEditError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const TAG_RULE = 'a tag is name or name:value, lowercase: the name a-z 0-9 - (starting with a letter, ≤ 32), the value also . _ / @ + (≤ 128); e.g. role:reviewer, repo:billing, lang:go';

/** Every word checked against the protocol's tag schema (§5.7) before anything is written; duplicates dropped. */
export function parseTags(words: readonly string[]): string[] {
  if (words.length === 0) throw new TagEditError(`name at least one tag; ${TAG_RULE}`, EXIT.usage);
  for (const w of words) if (!PeerTag.safeParse(w).success) throw new TagEditError(`"${w}" is not a tag; ${TAG_RULE}`, EXIT.usage);
  return [...new Set(words)];
}

/** Adds tags to a mesh's kept set; returns those that were not there yet. */
export function addTags(home: string, meshId: string, tags: readonly string[]): string[] {
  const added: string[] = [];
  updateMeshTags(home, meshId, (cur) => {
    for (const t of tags) if (!cur.tags.includes(t) && !added.includes(t)) added.push(t);
    const next = [...cur.tags, ...added];
    if (next.length > LIMITS.maxTagsPerSession) {
      throw new TagEditError(`a session advertises at most ${LIMITS.maxTagsPerSession} tags and this would make ${next.length}; remove some first: claudemesh peer tag remove <tag…>`, EXIT.usage);
    }
    return { ...cur, tags: next };
  });
  return added;
}

/**
 * Removes kept tags; nothing changes unless every one is kept. A derived `repo:` tag is not kept:
 * removing it says how to turn derivation off instead.
 */
export function removeTags(home: string, meshId: string, tags: readonly string[], cwd: string | null, env: NodeJS.ProcessEnv = process.env): string[] {
  updateMeshTags(home, meshId, (cur) => {
    const missing = tags.filter((t) => !cur.tags.includes(t));
    if (missing.length > 0) {
      const derived = tagView(home, meshId, cwd, env).tags.find((e) => e.derived && missing.includes(e.tag));
      if (derived) {
        throw new TagEditError(`${derived.tag} is derived from the git remote of ${derived.from}, not kept; to stop deriving it: claudemesh peer tag repo off (or CLAUDEMESH_REPO_TAG=off)`, EXIT.usage);
      }
      const yours = cur.tags.length > 0 ? `yours: ${cur.tags.join(', ')}` : 'you keep none';
      throw new TagEditError(`no tag ${missing.join(', ')} to remove; ${yours} (claudemesh peer tag list)`, EXIT.notFound);
    }
    return { ...cur, tags: cur.tags.filter((t) => !tags.includes(t)) };
  });
  return [...tags];
}

/** Turns the derived `repo:` tag on or off for a mesh; returns whether that changed anything. */
export function setRepoTag(home: string, meshId: string, on: boolean): boolean {
  let changed = false;
  updateMeshTags(home, meshId, (cur) => {
    changed = cur.repo_tag !== on;
    return { ...cur, repo_tag: on };
  });
  return changed;
}
