import type { EpochManifest } from '@claudemesh/crypto';
import type { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';

/** A scope's newest epoch, as the send paths check a sealed message against it. */
export interface CurrentEpoch {
  epoch: number;
  manifest: EpochManifest;
  manifestHash: string;
  /** When the broker accepted it (ms): the age bound of scheduled rotation counts from here. */
  acceptedAt: number;
}

/** Parsed manifests kept: one per scope in use is enough, the rest are read again. */
const MAX_CACHED = 2048;

/** An epoch this node just stored (EpochsService.publish), as the send paths' caches take it. */
export interface AcceptedEpoch extends CurrentEpoch {
  meshId: string;
  scope: string;
}

/** Who hears of the epochs accepted on this node, per database (a broker's send-path caches). */
const listeners = new WeakMap<object, Set<(e: AcceptedEpoch) => void>>();

/** Calls `listener` for every epoch accepted on this node through `ds` (for as long as `ds` lives). */
export function onEpochAccepted(ds: object, listener: (e: AcceptedEpoch) => void): void {
  let set = listeners.get(ds);
  if (!set) listeners.set(ds, (set = new Set()));
  set.add(listener);
}

/**
 * Tells the send paths of this node that `e` was stored as its scope's newest epoch, once its
 * transaction committed: the first message sealed under it then finds it in their caches instead of
 * reading it (the current epoch, its manifest, a count of 0 messages) — three round trips fewer
 * between a rotation and the sends waiting for it. Only a hint: the storing statement confirms the
 * epoch of every message, as for any cached epoch.
 */
export function epochAccepted(ds: object, e: AcceptedEpoch): void {
  for (const listener of listeners.get(ds) ?? []) listener(e);
}

/**
 * The current epoch of a scope for every sealed send. Which epoch is current is read from the
 * database each time (another node may have accepted a newer one); its manifest, immutable once
 * stored and up to 660 KB of JSON, is read and parsed once per epoch on this node, not per message.
 */
export class CurrentEpochs {
  private readonly manifests = new Map<string, { hash: string; manifest: EpochManifest }>();
  /** The current epoch of each scope as last read here (`${meshId}|${scope}`). */
  private readonly latest = new Map<string, CurrentEpoch>();

  constructor(private readonly ds: DataSource) {
    onEpochAccepted(ds, (e) => this.accepted(e));
  }

  /**
   * The current epoch of a scope. With `claimed` (the epoch a message was sealed under) equal to the
   * current epoch last read here, that one is answered without reading: the caller must then confirm
   * it in the transaction that stores the message (currentEpochSql) and forget() the scope when it
   * was not, which makes the next call read again.
   */
  async get(meshId: string, scope: string, claimed?: number): Promise<CurrentEpoch | null> {
    const scopeKey = `${meshId}|${scope}`;
    const known = this.latest.get(scopeKey);
    if (known && claimed === known.epoch) return known;
    const current = await this.read(meshId, scope);
    if (current) {
      if (!this.latest.has(scopeKey) && this.latest.size >= MAX_CACHED) this.latest.delete(this.latest.keys().next().value!);
      this.latest.set(scopeKey, current);
    } else {
      this.latest.delete(scopeKey);
    }
    return current;
  }

  /** An epoch accepted on this node becomes the one answered, for a scope this cache reads already (never an older one). */
  private accepted(e: AcceptedEpoch): void {
    const scopeKey = `${e.meshId}|${e.scope}`;
    const known = this.latest.get(scopeKey);
    if (!known || known.epoch >= e.epoch) return;
    const key = `${scopeKey}|${e.epoch}`;
    if (this.manifests.size >= MAX_CACHED) this.manifests.delete(this.manifests.keys().next().value!);
    this.manifests.set(key, { hash: e.manifestHash, manifest: e.manifest });
    this.latest.set(scopeKey, { epoch: e.epoch, manifest: e.manifest, manifestHash: e.manifestHash, acceptedAt: e.acceptedAt });
  }

  /** The scope's current epoch is not the one last read here: read it next time. */
  forget(meshId: string, scope: string): void {
    this.latest.delete(`${meshId}|${scope}`);
  }

  private async read(meshId: string, scope: string): Promise<CurrentEpoch | null> {
    const [row] = await rows<{ epoch: number; manifest_hash: string; created_at: Date }>(
      this.ds,
      'SELECT epoch, manifest_hash, created_at FROM epoch_manifests WHERE mesh_id = $1 AND scope = $2 ORDER BY epoch DESC LIMIT 1',
      [meshId, scope],
    );
    if (!row) return null;
    const epoch = Number(row.epoch);
    const key = `${meshId}|${scope}|${epoch}`;
    let cached = this.manifests.get(key);
    if (!cached || cached.hash !== row.manifest_hash) {
      const [stored] = await rows<{ manifest: string }>(this.ds, 'SELECT manifest FROM epoch_manifests WHERE mesh_id = $1 AND scope = $2 AND epoch = $3', [meshId, scope, epoch]);
      if (!stored) return null;
      cached = { hash: row.manifest_hash, manifest: JSON.parse(stored.manifest) as EpochManifest };
      if (this.manifests.size >= MAX_CACHED) this.manifests.delete(this.manifests.keys().next().value!);
      this.manifests.set(key, cached);
    }
    return { epoch, manifest: cached.manifest, manifestHash: row.manifest_hash, acceptedAt: new Date(row.created_at).getTime() };
  }
}

/**
 * A scalar subquery giving the current epoch of scope $`scopeParam` of mesh $`meshParam` (0 when
 * none), for the statement of a transaction that stores a sealed message, so confirming its epoch
 * costs no round trip of its own.
 */
export function currentEpochSql(meshParam: number, scopeParam: number): string {
  return `(SELECT COALESCE(max(epoch), 0) FROM epoch_manifests WHERE mesh_id = $${meshParam} AND scope = $${scopeParam})`;
}
