import type { EpochHistorySeal, EpochReason, EpochSeal, SignedEpochManifest } from '@claudemesh/crypto';
import { ProtocolError, type EpochRotateDetails } from '../protocol/v1/errors.js';
import type { EpochKeyring, IngestResult } from './epoch-keyring.js';
import { EPOCH_LIMITS, type EpochDue } from '../protocol/v1/epochs.js';
import type { EpochPage } from './mesh-client.js';
import type { EpochEvent } from './types.js';
import { changed, reaction, rotationInFlight, shared, startPublishing } from './rotation-state.js';
import { DRAIN_WAIT_MS, drainedUnder } from './send-window.js';

export { rotationInFlight };

/**
 * What syncing and publishing epochs need of a client. MeshClient (the WebSocket: epoch_get,
 * epoch_publish) and MeshApi (REST with an API key whose member holds its keypair: GET and POST
 * /topics/:name/epochs, topic scopes only) both have it, so one sync and one rotation serve both.
 */
export interface EpochTransport {
  getEpochs(scope: string, afterEpoch?: number): Promise<EpochPage>;
  /** `sent` is called once the publish is on its way (a transport that orders publishes calls it). */
  publishEpoch(signed: SignedEpochManifest, seals?: readonly EpochSeal[], o?: { sent?: () => void }): Promise<{ scope: string; epoch: number; manifestHash: string }>;
  addSeals(scope: string, epoch: number, seals: ReadonlyArray<EpochSeal | EpochHistorySeal>): Promise<unknown>;
  /**
   * True when the broker keeps this transport's order of an `epoch_publish` and the sealed sends of
   * its scope (docs/protocol.md §5.6 "Publish order": one WebSocket connection): a send sealed under
   * the new epoch once the publish is sent is stored after it, and sends already out before it. A
   * rotation then holds no send; without it (REST) sends wait for the publish's answer.
   */
  readonly ordersPublishes?: boolean;
}

/**
 * Publishes an epoch this member built with every seal it made: the first
 * EPOCH_LIMITS.maxSealsPerFrame with the manifest (one compare-and-set), the rest in `epoch_seal`
 * batches of the same size right after, so an epoch of up to EPOCH_LIMITS.maxMembers members fits
 * the frame limits. Rejects as publishEpoch does; a failed later batch leaves those members
 * `missing`, for any keyed member to seal (the daemon's sweep does).
 */
export async function publishPending(client: EpochTransport, signed: SignedEpochManifest, seals: readonly EpochSeal[], o: { sent?: () => void } = {}): Promise<void> {
  const per = EPOCH_LIMITS.maxSealsPerFrame;
  await client.publishEpoch(signed, seals.slice(0, per), o);
  for (let i = per; i < seals.length; i += per) await client.addSeals(signed.manifest.scope, signed.manifest.epoch, seals.slice(i, i + per));
}

/** How often a rotation is rebuilt on top of a newer epoch before giving up (each loss means another member rotated). */
const MAX_REBUILDS = 8;

/** Feeds one page of `epoch_get` into a keyring: the manifests as signed, the seals with their epoch. */
export function ingestPage(ring: EpochKeyring, page: EpochPage): IngestResult {
  return ring.ingest(
    page.scope,
    page.manifests.map((m) => ({ manifest: m.manifest, sig: m.sig })),
    page.seals.map(({ epoch, ...seal }) => ({ epoch, seal })),
  );
}

/**
 * Feeds one epoch push (MeshClient's `epoch` event: a new epoch with this member's seal, or a seal
 * made for it later) into a keyring, so that what is sent under that epoch opens without a sync.
 */
export function ingestEvent(ring: EpochKeyring, e: EpochEvent): IngestResult {
  const seal = e.seal;
  return ring.ingest(
    e.scope,
    e.manifest ? [{ manifest: e.manifest.manifest, sig: e.manifest.sig }] : [],
    seal ? [{ epoch: seal.epoch, seal: { recipient: seal.recipient, sealer: seal.sealer, sealed: seal.sealed, sig: seal.sig, ...(seal.via_epoch !== undefined ? { via_epoch: seal.via_epoch } : {}) } }] : [],
  );
}

/**
 * Ingests the pages of a scope's epochs after `after` until the last one (or a refusal). Returns what
 * they did together, and what the last page said of the current epoch (`missing`, `rotate`).
 */
async function ingestFrom(
  client: Pick<EpochTransport, 'getEpochs'>, ring: EpochKeyring, scope: string, after: number,
): Promise<IngestResult & { missing: string[]; rotate?: EpochRotateDetails }> {
  const total: IngestResult & { missing: string[]; rotate?: EpochRotateDetails } = { verified: [], opened: [], refused: [], missing: [] };
  for (;;) {
    const page = await client.getEpochs(scope, after);
    const result = ingestPage(ring, page);
    total.verified.push(...result.verified);
    total.opened.push(...result.opened);
    total.refused.push(...result.refused);
    total.missing = page.missing ?? [];
    if (page.rotate) total.rotate = page.rotate;
    else delete total.rotate;
    const last = page.manifests.at(-1)?.manifest.epoch;
    if (!page.hasMore || last === undefined || result.refused.length > 0) return total;
    after = last;
  }
}

/**
 * Brings a keyring up to the broker's newest epoch of a scope: the pages after what it verified (from
 * the epoch before when it still lacks the current key, so that seal comes too). Returns what all
 * pages did together and the members the broker says lack a seal of the current epoch.
 */
export async function syncEpochs(client: Pick<EpochTransport, 'getEpochs'>, ring: EpochKeyring, scope: string): Promise<IngestResult & { missing: string[]; rotate?: EpochRotateDetails }> {
  const after = ring.currentEpoch(scope);
  return ingestFrom(client, ring, scope, after > 0 && ring.context(scope, after) === null ? after - 1 : after);
}

/**
 * Fetches again, from the first epoch that lists this member on, the pages that carry the history
 * seals shared with it (docs/crypto.md "Shared history"): for a member who synced before a member
 * shared the earlier epochs. Known manifests are only compared; new seals are opened.
 */
export async function syncHistory(client: Pick<EpochTransport, 'getEpochs'>, ring: EpochKeyring, scope: string): Promise<IngestResult> {
  const first = ring.firstListed(scope);
  if (first <= 1) return { verified: [], opened: [], refused: [] };
  return ingestFrom(client, ring, scope, first - 1);
}

/**
 * Makes and publishes the next epoch of a scope for `members` (this member added). When another
 * member's rotation was accepted first (E_EPOCH_CONFLICT), fetches it and builds on top of it, so
 * concurrent rotations end as consecutive epochs and nothing waits on a lost race. Returns the epoch.
 */
export async function publishRotation(client: EpochTransport, ring: EpochKeyring, scope: string, o: { members: readonly string[]; reason: EpochReason }): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const pending = ring.rotate(scope, o);
    try {
      await publishPending(client, pending.signed, pending.seals);
      ring.accept(scope, pending);
      return pending.signed.manifest.epoch;
    } catch (error) {
      if (!(error instanceof ProtocolError && error.code === 'E_EPOCH_CONFLICT') || attempt >= MAX_REBUILDS) throw error;
      const synced = await syncEpochs(client, ring, scope);
      if (synced.refused.length > 0) throw new ProtocolError('E_EPOCH_CONFLICT', `the broker's newer epoch of ${scope} does not verify: ${synced.refused[0]!.message}`);
    }
  }
}

/**
 * The reaction to E_EPOCH_STALE on a send, shared by topics and the mesh scope: syncs the scope
 * (E_EPOCH_CONFLICT when the broker's epochs do not verify; `label` names the scope), then, when
 * the refusal carried `rotate` and the synced current epoch is the one refused (no other member
 * rotated meanwhile), publishes the next epoch for `rotate.reason`. Who it lists: this client's own
 * view of who may hold the key (`members`), minus the members the broker says departed. The
 * broker's word can only take members out here, never put a key of its choosing in: a joiner is
 * listed because this client's member list shows it, not because the broker named it.
 * Returns whether it rotated; either way the caller seals again under a fresh id.
 */
export async function syncAfterStale(
  client: EpochTransport, ring: EpochKeyring, scope: string, refused: ProtocolError, members: () => Promise<readonly string[]>, label: string = scope,
): Promise<boolean> {
  // Sealed under this keyring's own proposed epoch and refused before the broker took its publish
  // (a publish held back by a rate limit, or lost with the connection): the publish's answer decides.
  await rotationInFlight(ring, scope);
  const current = refused.details.current_epoch;
  const rotate = refused.details.rotate;
  // Refused for an epoch this keyring already holds the key of (its own rotation, made ahead of the
  // schedule, was accepted while the post was in flight): nothing to fetch, seal again.
  if (!rotate && current !== undefined && current > 0 && ring.currentEpoch(scope) >= current && ring.context(scope, current) !== null) return false;
  // Several sends refused at once (a window of posts in flight) share one reaction: one sync, at
  // most one rotation. Each rotating on its own would stack epochs N+1, N+2, … one per refusal.
  // A rotation made ahead of the schedule (rotateAhead) holds the same slot.
  return shared(ring, `${scope}\n${current ?? ''}`, async (): Promise<boolean> => {
    const synced = await syncEpochs(client, ring, scope);
    if (synced.refused.length > 0) throw new ProtocolError('E_EPOCH_CONFLICT', `the broker's epochs of ${label} do not verify: ${synced.refused[0]!.message}`);
    if (!rotate || ring.currentEpoch(scope) !== current) return false;
    const departed = new Set(rotate.departed);
    const listed = (await members()).filter((k) => !departed.has(k));
    const rotated = await rotateOnce(client, ring, scope, listed, rotate.reason);
    if (rotated && rotate.share_history) {
      // A topic whose history is shared: the joiners this client lists get the earlier epochs too.
      // Best effort: the send goes on, and any member of the new epoch may share later.
      const mine = new Set(listed);
      await shareHistory(client, ring, scope, ring.currentEpoch(scope), rotate.joined.filter((k) => mine.has(k))).catch(() => 0);
    }
    return rotated;
  });
}

/**
 * Shared history (docs/crypto.md "Shared history"): seals every earlier epoch this keyring holds to
 * `recipients`, members listed in the verified epoch `via` whom those epochs do not list, and sends
 * them with `epoch_seal` (one batch per epoch and frame). Returns how many it sent (a recipient that
 * has a seal of an epoch already keeps it); the broker refuses them (E_FORBIDDEN) unless the topic's
 * history is `shared`.
 */
export async function shareHistory(client: Pick<EpochTransport, 'addSeals'>, ring: EpochKeyring, scope: string, via: number, recipients: readonly string[]): Promise<number> {
  let sent = 0;
  const per = EPOCH_LIMITS.maxSealsPerFrame;
  for (const { epoch, seals } of ring.historyFor(scope, via, recipients)) {
    for (let i = 0; i < seals.length; i += per) {
      const batch = seals.slice(i, i + per);
      await client.addSeals(scope, epoch, batch);
      sent += batch.length;
    }
  }
  return sent;
}

/**
 * Rotation ahead of the schedule (docs/protocol.md §5.6 "Scheduled rotation"): an ack said the
 * epoch this keyring sends under nears its scheduled rotation (`epoch_due`), so the next epoch is
 * published now, in the background, and no send waits for a refusal. It lists the members of the
 * epoch it replaces, as this keyring verified them, and asks nobody: the broker refuses a post
 * under an epoch that lists the wrong members (E_EPOCH_STALE with `rotate`, handled by
 * syncAfterStale with the caller's own member list), so an epoch whose posts are stored lists the
 * right ones. Asking for the member list first cost a round trip while the room under the old epoch
 * ran out, and the sends then waited for it. It holds syncAfterStale's slot for that epoch: a send
 * refused meanwhile waits for it rather than rotating again. Started once per keyring, scope and
 * epoch; null when not started (the keyring is past that epoch, lacks its key, or a reaction for it
 * runs). Never rejects: a lost race means another member rotated (synced), and any other failure (a
 * member revoked since, which the broker refuses to list) is left to the refusal at the bound,
 * which rotates then.
 */
export function rotateAhead(client: EpochTransport, ring: EpochKeyring, scope: string, due: EpochDue): Promise<boolean> | null {
  if (ring.currentEpoch(scope) !== due.epoch || ring.context(scope, due.epoch) === null) return null;
  const listed = ring.currentManifest(scope)?.members;
  if (!listed) return null;
  const key = `${scope}\n${due.epoch}`;
  if (reaction(ring, key)) return null;
  return shared(ring, key, async () => {
    // Not racing this keyring's own sends under the epoch being replaced: unless the broker orders
    // them before the publish (ordersPublishes), it would refuse any of them stored after the new
    // epoch as stale. (They fit: sealedSendSlot keeps to the room.)
    if (client.ordersPublishes !== true) await drainedUnder(ring, scope, due.epoch, DRAIN_WAIT_MS);
    return rotateOnce(client, ring, scope, listed, 'scheduled');
  }).catch(() => false);
}

/**
 * Epoch 1 of a scope that has none, made once however many sends ask at the same time: the first
 * asker builds and publishes it, the others wait for that; when another member's epoch 1 was
 * accepted first (E_EPOCH_CONFLICT), it is synced instead (an epoch 1 is never built on top of one).
 */
export async function ensureFirstEpoch(client: EpochTransport, ring: EpochKeyring, scope: string, members: () => Promise<readonly string[]>): Promise<void> {
  if (ring.currentEpoch(scope) > 0) return;
  await shared(ring, `${scope}\n0`, async () => (ring.currentEpoch(scope) > 0 ? false : rotateOnce(client, ring, scope, await members(), 'create')));
}

/**
 * Publishes the next epoch of a scope once: true when it was accepted; false when another member's
 * was accepted first (that one is synced, and answers the same need, so nothing is built on top).
 */
async function rotateOnce(client: EpochTransport, ring: EpochKeyring, scope: string, members: readonly string[], reason: EpochReason): Promise<boolean> {
  const pending = ring.rotate(scope, { members, reason });
  const published = startPublishing(ring, scope);
  // Over a transport that orders publishes, sends seal under the new epoch once its publish is out.
  const sent = client.ordersPublishes === true ? (): void => {
    ring.propose(scope, pending);
    changed(ring, scope);
  } : undefined;
  try {
    await publishPending(client, pending.signed, pending.seals, sent ? { sent } : {});
  } catch (error) {
    ring.withdraw(scope, pending);
    if (!(error instanceof ProtocolError && error.code === 'E_EPOCH_CONFLICT')) throw error;
    await syncEpochs(client, ring, scope);
    return false;
  } finally {
    published();
  }
  ring.accept(scope, pending);
  return true;
}
