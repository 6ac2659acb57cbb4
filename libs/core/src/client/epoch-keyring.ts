import {
  CryptoError,
  decryptEpochMessage,
  decryptEpochMessageText,
  encryptEpochMessage,
  epochContext,
  firstEpoch,
  fromB64u,
  manifestHash,
  nextEpoch,
  openEpochSeal,
  openHistorySeal,
  sealEpochKey,
  sealHistoryKey,
  toB64u,
  verifyManifest,
  type EpochContext,
  type EpochHistorySeal,
  type EpochManifest,
  type EpochMessage,
  type EpochReason,
  type EpochSeal,
  type Identity,
  type NewEpoch,
  type SignedEpochManifest,
} from '@claudemesh/crypto';

/**
 * A member client's key epochs (docs/crypto.md, "Key epochs"): the verified chain of manifests of
 * each scope, and the epoch keys this member could open. The broker only orders and stores epochs;
 * everything it hands over is checked here before a key is used: each manifest against the one
 * before it (never a shortcut from a later epoch), each seal against its verified manifest. The
 * keyring is pure (no I/O): the client feeds it what the broker sent and publishes what it builds.
 */

/** Rotation by volume and age when no member change forces one (the defaults). */
export interface RotationPolicy {
  everyMessages: number;
  everyMs: number;
}
export const DEFAULT_ROTATION: RotationPolicy = { everyMessages: 100, everyMs: 7 * 24 * 3600 * 1000 };

/** Why a keyring refuses to act: no verified epoch yet, or an epoch whose key this member lacks. */
export class EpochKeyError extends Error {
  constructor(
    readonly code: 'E_NO_EPOCH' | 'E_NO_KEY' | 'E_EPOCH_FORK',
    message: string,
  ) {
    super(message);
    this.name = 'EpochKeyError';
  }
}

/** A seal as the broker hands it over: the epoch it belongs to travels beside it. */
export interface EpochSealOf {
  epoch: number;
  /** An ordinary seal of `epoch`, or a history seal of it (with `via_epoch`). */
  seal: EpochSeal | EpochHistorySeal;
}

/** What one ingest did: epochs newly verified, keys newly opened, and what was refused (and why). */
export interface IngestResult {
  verified: number[];
  opened: number[];
  refused: Array<{ epoch: number | null; code: string; message: string }>;
}

/** A rotation built but not yet accepted by the broker: publish `signed` with `seals`, then `accept`. */
export interface PendingEpoch extends NewEpoch {
  seals: EpochSeal[];
}

/** The plain data of a keyring, for a caller that persists it (it holds epoch keys: store it private). */
export interface KeyringSnapshot {
  v: 1;
  scopes: Record<string, { chain: SignedEpochManifest[]; keys: Record<string, string> }>;
}

/**
 * Where a store of a keyring stands (`changesSince`): per scope, how many manifests of its chain
 * and which epochs' keys the store holds. Start with an empty map.
 */
export type KeyringMark = Map<string, { chain: number; keys: Set<number> }>;

interface ScopeState {
  /** Verified manifests, epoch 1 first (index = epoch − 1), as signed. */
  chain: SignedEpochManifest[];
  hashes: string[];
  contexts: Map<number, EpochContext>;
  /** This member's next epoch, sent to the broker and not answered yet (`propose`). */
  proposal?: PendingEpoch;
}

export interface EpochKeyringOptions {
  me: Identity;
  meshId: string;
  /**
   * Keys that may create an epoch of a scope without being members of the one before, and seal
   * without being members of it: asked at each check. For epoch 1 they are the only possible
   * creators: whoever may create the scope (a public topic's, the mesh's members; a private topic's
   * members); for later epochs the owners and admins.
   */
  authorities?: (scope: string, epoch: number) => readonly string[];
}

export class EpochKeyring {
  private readonly scopes = new Map<string, ScopeState>();

  constructor(private readonly opts: EpochKeyringOptions) {}

  private authorities(scope: string, epoch: number): readonly string[] {
    return this.opts.authorities?.(scope, epoch) ?? [];
  }

  private state(scope: string): ScopeState {
    let s = this.scopes.get(scope);
    if (!s) {
      s = { chain: [], hashes: [], contexts: new Map() };
      this.scopes.set(scope, s);
    }
    return s;
  }

  /**
   * Takes manifests (in epoch order, possibly overlapping what is known) and seals addressed to this
   * member. A manifest for a known epoch must be the one already verified (another one is a fork the
   * broker presented: refused, E_EPOCH_FORK); a new one must follow the last verified one. The first
   * refusal ends the chain (nothing after it can be linked); seals of unverified epochs wait for a
   * later ingest that brings their manifest.
   */
  ingest(scope: string, manifests: readonly SignedEpochManifest[], seals: readonly EpochSealOf[] = []): IngestResult {
    const s = this.state(scope);
    const result: IngestResult = { verified: [], opened: [], refused: [] };
    // Malformed ones last: verifyManifest refuses them with the reason.
    const order = (m: SignedEpochManifest): number => epochOf(m) ?? Number.POSITIVE_INFINITY;
    for (const signed of [...manifests].sort((a, b) => order(a) - order(b))) {
      const epoch = epochOf(signed);
      if (epoch !== null && epoch <= s.chain.length) {
        if (hashOrNull(signed.manifest) !== s.hashes[epoch - 1]) {
          result.refused.push({ epoch, code: 'E_EPOCH_FORK', message: `epoch ${epoch} differs from the manifest already verified` });
          break;
        }
        continue;
      }
      const previous = s.chain.at(-1)?.manifest ?? null;
      const previousHash = s.hashes.at(-1);
      const check = verifyManifest(signed, {
        previous, authorities: this.authorities(scope, epoch ?? s.chain.length + 1), ...(previousHash !== undefined ? { previousHash } : {}),
      });
      if (!check.ok) {
        result.refused.push({ epoch, code: check.code, message: check.message });
        break;
      }
      if (check.manifest.mesh_id !== this.opts.meshId || check.manifest.scope !== scope) {
        result.refused.push({ epoch: check.manifest.epoch, code: 'E_MANIFEST_CHAIN', message: 'the manifest is of another mesh or scope' });
        break;
      }
      s.chain.push({ manifest: check.manifest, sig: signed.sig });
      s.hashes.push(check.hash);
      result.verified.push(check.manifest.epoch);
    }
    for (const { epoch, seal } of seals) {
      if (s.contexts.has(epoch) || seal.recipient !== this.opts.me.publicKey) continue;
      const manifest = s.chain[epoch - 1]?.manifest;
      if (!manifest) continue;
      const via = (seal as Partial<EpochHistorySeal>).via_epoch;
      // A history seal waits until the epoch it is shared under is verified too.
      if (via !== undefined && !s.chain[via - 1]) continue;
      try {
        // The manifests and hashes as verifyManifest returned them: the seal need not check them again.
        s.contexts.set(epoch, via === undefined
          ? openEpochSeal(seal, { manifest, manifestHash: s.hashes[epoch - 1]!, recipient: this.opts.me, authorities: this.authorities(scope, epoch) })
          : openHistorySeal({ ...seal, via_epoch: via }, {
            shared: { manifest, manifestHash: s.hashes[epoch - 1]! }, via: { manifest: s.chain[via - 1]!.manifest, manifestHash: s.hashes[via - 1]! },
            recipient: this.opts.me, authorities: this.authorities(scope, via),
          }));
        result.opened.push(epoch);
      } catch (err) {
        result.refused.push({ epoch, code: err instanceof CryptoError ? err.code : 'E_DECRYPT', message: (err as Error).message });
      }
    }
    return result;
  }

  /** The first verified epoch of a scope that lists this member (0 when none): where its history seals are shared under. */
  firstListed(scope: string): number {
    const index = this.scopes.get(scope)?.chain.findIndex((m) => m.manifest.members.includes(this.opts.me.publicKey)) ?? -1;
    return index + 1;
  }

  /** The last verified epoch of a scope (0 when none). */
  currentEpoch(scope: string): number {
    return this.scopes.get(scope)?.chain.length ?? 0;
  }

  currentManifest(scope: string): EpochManifest | null {
    return this.scopes.get(scope)?.chain.at(-1)?.manifest ?? null;
  }

  /** The epoch ready for use, when this member holds its key. */
  context(scope: string, epoch: number): EpochContext | null {
    return this.scopes.get(scope)?.contexts.get(epoch) ?? null;
  }

  /**
   * The next epoch of a scope (the first when none is verified) with a fresh key and a seal for every
   * member, this one included. Kept apart until the broker accepts it (`accept`); on a conflict the
   * caller ingests the newer manifests and builds again.
   */
  rotate(scope: string, o: { members: readonly string[]; reason: EpochReason; now?: number }): PendingEpoch {
    const members = [...new Set([...o.members, this.opts.me.publicKey])];
    const previous = this.currentManifest(scope);
    const made = previous === null
      ? firstEpoch({ meshId: this.opts.meshId, scope, members, creator: this.opts.me, ...(o.now === undefined ? {} : { now: o.now }) })
      : nextEpoch(previous, { members, reason: o.reason, creator: this.opts.me, ...(o.now === undefined ? {} : { now: o.now }) });
    const seals = made.context.manifest.members.map((member) => sealEpochKey(made.context, member, this.opts.me));
    return { ...made, seals };
  }

  /**
   * Seals under `pending` (the next epoch) from now on, before the broker answered its publish: for
   * a transport that keeps the order of a connection's publish and sends (docs/protocol.md §5.6
   * "Publish order"), once the publish is on its way. Ended by `accept` or `withdraw`; ignored once
   * another epoch N+1 is verified. Not in snapshots, and never opens messages (`context`).
   */
  propose(scope: string, pending: PendingEpoch): void {
    if (pending.signed.manifest.epoch === this.currentEpoch(scope) + 1) this.state(scope).proposal = pending;
  }

  /** The publish of `pending` was refused: seal under the current epoch again. */
  withdraw(scope: string, pending: PendingEpoch): void {
    const s = this.scopes.get(scope);
    if (s?.proposal === pending) delete s.proposal;
  }

  /** The proposed epoch (`propose`) when one stands, else null. */
  proposedEpoch(scope: string): number | null {
    const s = this.scopes.get(scope);
    const epoch = s?.proposal?.signed.manifest.epoch;
    return epoch !== undefined && epoch === s!.chain.length + 1 ? epoch : null;
  }

  /** The epoch the next `encrypt` seals under: the proposed one, else the current one. */
  sendingEpoch(scope: string): number {
    return this.proposedEpoch(scope) ?? this.currentEpoch(scope);
  }

  /** Records an epoch this member built once the broker accepted it: verified like any other. */
  accept(scope: string, pending: PendingEpoch): void {
    const s = this.state(scope);
    if (s.proposal === pending) delete s.proposal;
    const { refused } = this.ingest(scope, [pending.signed]);
    if (refused.length > 0) throw new EpochKeyError('E_EPOCH_FORK', `epoch ${pending.signed.manifest.epoch} no longer follows the chain: ${refused[0]!.message}`);
    s.contexts.set(pending.context.manifest.epoch, pending.context);
  }

  /**
   * Shared history (docs/crypto.md "Shared history"): for each member of `recipients` listed in the
   * verified epoch `via` (this member listed too), history seals of every earlier epoch this keyring
   * holds and whose manifest does not list that member. By epoch, for `epoch_seal` batches.
   */
  historyFor(scope: string, via: number, recipients: readonly string[]): Array<{ epoch: number; seals: EpochHistorySeal[] }> {
    const s = this.scopes.get(scope);
    const grant = s?.chain[via - 1]?.manifest;
    if (!s || !grant) throw new EpochKeyError('E_NO_EPOCH', `epoch ${via} of ${scope} is not verified here`);
    const verified = { manifest: grant, manifestHash: s.hashes[via - 1]! };
    const to = recipients.filter((k) => grant.members.includes(k) && k !== this.opts.me.publicKey);
    const out: Array<{ epoch: number; seals: EpochHistorySeal[] }> = [];
    for (let epoch = 1; epoch < via; epoch++) {
      const context = s.contexts.get(epoch);
      if (!context) continue;
      const seals = to.filter((k) => !context.members.has(k)).map((k) => sealHistoryKey(context, verified, k, this.opts.me));
      if (seals.length > 0) out.push({ epoch, seals });
    }
    return out;
  }

  /** Seals of a held epoch for members of it that lack one (the re-sealing every keyed member does). */
  resealFor(scope: string, epoch: number, recipients: readonly string[]): EpochSeal[] {
    const context = this.requireKey(scope, epoch);
    return recipients.filter((r) => context.members.has(r)).map((r) => sealEpochKey(context, r, this.opts.me));
  }

  /** Encrypts under the current epoch (or the proposed one, `propose`): its number travels beside the message. `target` (`@name`, `*`): the mesh scope only. */
  encrypt(scope: string, messageId: string, plaintext: string | Uint8Array, target?: string): { epoch: number; message: EpochMessage } {
    const proposed = this.proposedEpoch(scope);
    const epoch = proposed ?? this.currentEpoch(scope);
    if (epoch === 0) throw new EpochKeyError('E_NO_EPOCH', `no key epoch for ${scope} yet`);
    const context = proposed !== null ? this.scopes.get(scope)!.proposal!.context : this.requireKey(scope, epoch);
    return { epoch, message: encryptEpochMessage({ context, sender: this.opts.me, messageId, plaintext, ...(target !== undefined ? { target } : {}) }) };
  }

  /** Opens a message of a held epoch; E_NO_KEY means "waiting for a key from a member". */
  decrypt(scope: string, epoch: number, sender: string, messageId: string, message: EpochMessage): string {
    return decryptEpochMessageText(message, { context: this.requireKey(scope, epoch), sender, messageId });
  }

  /** Opens a mesh-scope message (`@group`, `*`) to bytes, checked for its target too; E_NO_KEY as decrypt. */
  decryptBytes(scope: string, epoch: number, sender: string, messageId: string, message: EpochMessage, target?: string): Uint8Array {
    return decryptEpochMessage(message, { context: this.requireKey(scope, epoch), sender, messageId, ...(target !== undefined ? { target } : {}) });
  }

  /**
   * Why the scope needs a new epoch before the next send, or null: a member of the current epoch
   * is no longer a member (`member_removed`: the key must not reach anything new), a new member
   * is not in it (`member_added`: a seal goes only to members of the manifest), or the epoch is
   * past the policy's message count or age (`scheduled`).
   */
  rotationDue(scope: string, o: { members: readonly string[]; sentInEpoch: number; now?: number; policy?: RotationPolicy }): EpochReason | null {
    const current = this.currentManifest(scope);
    if (current === null) return 'create';
    const now = new Set(o.members);
    if (current.members.some((m) => !now.has(m))) return 'member_removed';
    if (o.members.some((m) => !current.members.includes(m))) return 'member_added';
    const policy = o.policy ?? DEFAULT_ROTATION;
    if (o.sentInEpoch >= policy.everyMessages || (o.now ?? Date.now()) - current.created_at >= policy.everyMs) return 'scheduled';
    return null;
  }

  snapshot(): KeyringSnapshot {
    const scopes: KeyringSnapshot['scopes'] = {};
    for (const [scope, s] of this.scopes) {
      scopes[scope] = { chain: [...s.chain], keys: Object.fromEntries([...s.contexts].map(([epoch, c]) => [String(epoch), toB64u(c.epochKey)])) };
    }
    return { v: 1, scopes };
  }

  /**
   * What this keyring holds beyond `mark` — the manifests past its chain lengths and the keys it
   * lacks — as a partial snapshot (each scope's `chain` a suffix, starting after the manifests the
   * mark counts), or null when nothing is new; `mark` is moved past it. A store appends the change
   * instead of writing the whole keyring again: chains only grow, so a store that holds every
   * change in order holds the keyring. A scope unchanged since the mark costs two comparisons.
   */
  changesSince(mark: KeyringMark): KeyringSnapshot | null {
    const scopes: KeyringSnapshot['scopes'] = {};
    for (const [scope, s] of this.scopes) {
      let m = mark.get(scope);
      if (!m) {
        m = { chain: 0, keys: new Set() };
        mark.set(scope, m);
      }
      if (m.chain === s.chain.length && m.keys.size === s.contexts.size) continue;
      const keys: Record<string, string> = {};
      for (const [epoch, c] of s.contexts) {
        if (m.keys.has(epoch)) continue;
        keys[String(epoch)] = toB64u(c.epochKey);
        m.keys.add(epoch);
      }
      scopes[scope] = { chain: s.chain.slice(m.chain), keys };
      m.chain = s.chain.length;
    }
    return Object.keys(scopes).length === 0 ? null : { v: 1, scopes };
  }

  /** Loads a snapshot, verifying it as if the broker had sent it (a stored key must match its manifest's commitment). */
  restore(snapshot: KeyringSnapshot): IngestResult[] {
    const results: IngestResult[] = [];
    for (const [scope, { chain, keys }] of Object.entries(snapshot.scopes)) {
      const result = this.ingest(scope, chain);
      const s = this.state(scope);
      for (const [epochText, key] of Object.entries(keys)) {
        const manifest = s.chain[Number(epochText) - 1]?.manifest;
        if (!manifest) continue;
        try {
          s.contexts.set(manifest.epoch, epochContext(manifest, fromB64u(key)));
        } catch (err) {
          result.refused.push({ epoch: manifest.epoch, code: err instanceof CryptoError ? err.code : 'E_KEY_INVALID', message: (err as Error).message });
        }
      }
      results.push(result);
    }
    return results;
  }

  private requireKey(scope: string, epoch: number): EpochContext {
    const context = this.context(scope, epoch);
    if (!context) throw new EpochKeyError('E_NO_KEY', `waiting for a key from a member for epoch ${epoch} of ${scope}`);
    return context;
  }
}

/** A manifest's epoch number, null when it has none (verifyManifest then says why). */
function epochOf(signed: SignedEpochManifest): number | null {
  const epoch = (signed as { manifest?: { epoch?: unknown } } | null)?.manifest?.epoch;
  return typeof epoch === 'number' && Number.isInteger(epoch) && epoch >= 1 ? epoch : null;
}

function hashOrNull(manifest: EpochManifest): string | null {
  try {
    return manifestHash(manifest);
  } catch {
    return null;
  }
}
