import { LIMITS } from '@claudemesh/core';
import { repoTagDisabledByEnv, repoTagFor } from './repo-tag.js';
import { meshTags, tagFileSignature } from './tag-file.js';

/** One tag as `peer tag list` and the MCP `list_tags` tool show it. */
export interface TagEntry {
  tag: string;
  /** True for `repo:<name>` taken from the git remote of the workspace (`from`), not kept in tags.json. */
  derived: boolean;
  from?: string;
}

export interface TagView {
  tags: TagEntry[];
  /** Whether sessions started in a git work tree add `repo:<name>` (off: `peer tag repo off` or CLAUDEMESH_REPO_TAG=off). */
  repo_tag: boolean;
}

/**
 * The tags of a mesh as a session started in `cwd` advertises them: the kept ones, then the derived
 * `repo:` one. `cwd` null derives nothing: the daemon's session serves every workspace at once.
 */
export function tagView(home: string, meshId: string, cwd: string | null, env: NodeJS.ProcessEnv = process.env): TagView {
  const kept = meshTags(home, meshId);
  const on = kept.repo_tag && !repoTagDisabledByEnv(env);
  const tags: TagEntry[] = kept.tags.map((tag) => ({ tag, derived: false }));
  const derived = on && cwd !== null ? repoTagFor(cwd) : null;
  if (derived && !kept.tags.includes(derived.tag)) tags.push({ tag: derived.tag, derived: true, from: derived.from });
  return { tags, repo_tag: on };
}

/** What goes into `set_tags`: at most the protocol's limit (the kept ones are capped below it already; a derived one past it is left out). */
export function advertisedTags(view: TagView): string[] {
  return view.tags.map((t) => t.tag).slice(0, LIMITS.maxTagsPerSession);
}

/** What SessionTags needs of a mesh client. */
export interface TagSetter {
  setTags(tags: readonly string[]): Promise<void>;
}

/**
 * Keeps one long-lived session's advertised tags equal to tags.json (plus the derived `repo:` tag):
 * the daemon's sessions and the push-pipe's. The SDK advertises them again after every reconnect;
 * this sends `set_tags` when the wanted set changes.
 */
export class SessionTags {
  /** The set last handed to the client; null after a failed send, so the next apply sends again. */
  private applied: string[] | null = [];
  private sending: Promise<void> = Promise.resolve();
  private seen: string;

  constructor(
    private readonly home: string,
    private readonly meshId: string,
    private readonly client: TagSetter,
    /** The session's workspace (the push-pipe's cwd), or null for none (the daemon). */
    private readonly cwd: string | null,
    private readonly log: (line: string) => void,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.seen = tagFileSignature(home);
  }

  /** What this session advertises (the last set handed to the client). */
  get current(): readonly string[] {
    return this.applied ?? [];
  }

  view(): TagView {
    return tagView(this.home, this.meshId, this.cwd, this.env);
  }

  /**
   * Reads the tags again and hands a changed set to the client. Resolves when the broker took the
   * last set sent (a client still connecting sends it once connected: callers that must answer
   * meanwhile race this against a timeout). Throws when tags.json is unusable.
   */
  apply(): Promise<void> {
    this.seen = tagFileSignature(this.home);
    const wanted = advertisedTags(this.view());
    const applied = this.applied;
    if (applied && wanted.length === applied.length && wanted.every((t, i) => t === applied[i])) return this.sending;
    this.applied = wanted;
    const sending = this.client.setTags(wanted);
    this.sending = sending;
    sending.catch((error: unknown) => {
      this.log(`tags not advertised (${wanted.join(', ') || 'none'}): ${(error as Error).message}`);
      if (this.sending === sending) {
        this.applied = null;
        this.sending = Promise.resolve();
      }
    });
    return sending;
  }

  /** Re-applies when tags.json changed since the last look (cheap: one stat); for a timer. */
  poll(): void {
    if (tagFileSignature(this.home) === this.seen) return;
    try {
      this.apply().catch(() => undefined);
    } catch (error) {
      this.log((error as Error).message);
    }
  }
}
