import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A mesh message: `t<id>` for a topic message, `d<id>` for a DM. */
export type MeshRef = `t${string}` | `d${string}`;

/** Ids remembered per list (dedupe, relayed, threads): far more than a restart can redeliver. */
const KEEP = 2000;
const FLUSH_MS = 100;

/** A chat user allowed to talk to the mesh (docs/gateways.md §3). */
export interface LinkedUser {
  /** The surface's user id. */
  user: string;
  /** Who they are on the mesh: a member's display name (a member linked themselves) or a name an admin gave. */
  name: string;
  /** True when `name` is a member of the mesh (that member issued the code). */
  member: boolean;
  /** The surface's name of them when they linked. */
  surface_name: string;
  linked_at: number;
  /** The display name of the member who issued the code. */
  by: string;
  /** Their one-to-one chat with the bot, when they linked there: where a `direct` topic mapping reaches them. */
  direct_chat?: string;
}

/** A code a member issued and nobody used yet; only its hash is kept. */
export interface PendingLink {
  code_sha256: string;
  name: string;
  member: boolean;
  expires_at: number;
  by: string;
}

interface Kept {
  v: 1;
  seen: string[];
  relayed: string[];
  links: Record<string, LinkedUser>;
  pending: PendingLink[];
  cursors: Record<string, string>;
  /** `chat|surface message id` ↔ mesh message id, both ways, newest last. */
  threads: Array<[string, string]>;
  secrets: Record<string, string>;
}

/**
 * What a gateway keeps across restarts in its home (`gateway/state.json`, 0600, replaced in one
 * rename): the surface ids it has taken (dedupe), the mesh messages it has relayed to the chat,
 * links, pending codes, per-topic cursors and the thread map. Lists are bounded (the newest KEEP).
 */
export class GatewayState {
  private readonly file: string;
  private kept: Kept;
  private seenSet: Set<string>;
  private relayedSet: Set<string>;
  private timer: NodeJS.Timeout | null = null;

  constructor(home: string) {
    this.file = join(home, 'gateway', 'state.json');
    let kept: Partial<Kept> = {};
    try {
      kept = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<Kept>;
    } catch {
      // First start.
    }
    this.kept = { v: 1, seen: kept.seen ?? [], relayed: kept.relayed ?? [], links: kept.links ?? {}, pending: kept.pending ?? [], cursors: kept.cursors ?? {}, threads: kept.threads ?? [], secrets: kept.secrets ?? {} };
    this.seenSet = new Set(this.kept.seen);
    this.relayedSet = new Set(this.kept.relayed);
  }

  seen(dedupeId: string): boolean {
    return this.seenSet.has(dedupeId);
  }

  markSeen(dedupeId: string): void {
    remember(this.kept.seen, this.seenSet, dedupeId);
    this.soon();
  }

  relayed(meshMessageId: string): boolean {
    return this.relayedSet.has(meshMessageId);
  }

  /** Written at once: the chat has it, and a restart must not send it again. */
  markRelayed(meshMessageId: string): void {
    remember(this.kept.relayed, this.relayedSet, meshMessageId);
    this.flush();
  }

  link(user: string): LinkedUser | undefined {
    return this.kept.links[user];
  }

  links(): LinkedUser[] {
    return Object.values(this.kept.links);
  }

  setLink(l: LinkedUser): void {
    this.kept.links[l.user] = l;
    this.flush();
  }

  unlink(user: string): boolean {
    if (!(user in this.kept.links)) return false;
    delete this.kept.links[user];
    this.flush();
    return true;
  }

  addPending(p: PendingLink): void {
    const now = Date.now();
    this.kept.pending = [...this.kept.pending.filter((x) => x.expires_at > now && x.code_sha256 !== p.code_sha256), p].slice(-100);
    this.flush();
  }

  /** The pending link with this code hash, removed (a code is used once); undefined when unknown or expired. */
  takePending(codeSha256: string): PendingLink | undefined {
    const now = Date.now();
    const found = this.kept.pending.find((p) => p.code_sha256 === codeSha256 && p.expires_at > now);
    this.kept.pending = this.kept.pending.filter((p) => p.expires_at > now && p !== found);
    this.flush();
    return found;
  }

  pendingCount(): number {
    const now = Date.now();
    return this.kept.pending.filter((p) => p.expires_at > now).length;
  }

  cursor(topic: string): string | undefined {
    return this.kept.cursors[topic];
  }

  setCursor(topic: string, id: string): void {
    this.kept.cursors[topic] = id;
    this.soon();
  }

  /**
   * Notes that a chat message and a mesh message are the same conversation turn. A mesh message is
   * `t<id>` (a topic message) or `d<id>` (a DM): the two are numbered apart.
   */
  pair(chat: string, surfaceMessageId: string, meshRef: MeshRef): void {
    this.kept.threads.push([`${chat}|${surfaceMessageId}`, meshRef]);
    if (this.kept.threads.length > KEEP) this.kept.threads.splice(0, this.kept.threads.length - KEEP);
    this.soon();
  }

  meshRefOf(chat: string, surfaceMessageId: string): MeshRef | undefined {
    const key = `${chat}|${surfaceMessageId}`;
    return this.kept.threads.findLast(([k]) => k === key)?.[1] as MeshRef | undefined;
  }

  /** Where a mesh message was said or shown in the chats: [chat, surface message id] pairs. */
  surfaceOf(meshRef: MeshRef): Array<{ chat: string; messageId: string }> {
    return this.kept.threads.filter(([, m]) => m === meshRef).map(([k]) => {
      const at = k.indexOf('|');
      return { chat: k.slice(0, at), messageId: k.slice(at + 1) };
    });
  }

  secret(meshId: string): string | undefined {
    return this.kept.secrets[meshId];
  }

  setSecret(meshId: string, secret: string): void {
    this.kept.secrets[meshId] = secret;
    this.flush();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.kept), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  private soon(): void {
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }
}

function remember(list: string[], set: Set<string>, id: string): void {
  if (set.has(id)) return;
  list.push(id);
  set.add(id);
  if (list.length > KEEP) for (const old of list.splice(0, list.length - KEEP)) set.delete(old);
}
