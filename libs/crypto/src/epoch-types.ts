/**
 * Key epochs (docs/crypto.md, "Key epochs"): the shapes shared by manifests, seals and messages.
 * Field names of wire objects are the snake_case names that are signed.
 */

/** Reasons defined by v1; readers accept any reason of the right form, since it never changes verification. */
export const EPOCH_REASONS = ['create', 'member_added', 'member_left', 'member_removed', 'scheduled', 'manual'] as const;
export type KnownEpochReason = (typeof EPOCH_REASONS)[number];
// The intersection keeps editor completion for the known reasons while admitting later ones.
export type EpochReason = KnownEpochReason | (string & Record<never, never>);

/** One epoch of one scope: who may hold its key, who made it, and which epoch it follows. */
export interface EpochManifest {
  v: 1;
  mesh_id: string;
  /** `mesh` (the key of `@group` and `*`) or `topic:<topic name>`. */
  scope: string;
  /** 1 for the first key of a scope, then +1 per rotation. */
  epoch: number;
  /** manifestHash of the previous epoch's manifest; null exactly for epoch 1. */
  prev_epoch_hash: string | null;
  /** Member public keys (lowercase hex, ascending, no duplicates) allowed to hold and seal the key. */
  members: string[];
  reason: EpochReason;
  /** The creator's ed25519 public key; it made the key, so it is one of the members. */
  created_by: string;
  /** Epoch milliseconds on the creator's clock; informational. */
  created_at: number;
  /** base64url HKDF commitment to the epoch key, so every holder can check it got the creator's key. */
  key_commitment: string;
}

export interface SignedEpochManifest {
  manifest: EpochManifest;
  /** created_by's ed25519 signature over epochManifestString(manifest). */
  sig: string;
}

/** One member's copy of an epoch key. */
export interface EpochSeal {
  /** The member it is sealed to (ed25519 hex; the box goes to its x25519 form). */
  recipient: string;
  /** The member who sealed it and signs for it. */
  sealer: string;
  /** base64url of crypto_box_seal(epoch key), 80 bytes. */
  sealed: string;
  /** sealer's signature over epochSealString. */
  sig: string;
}

/**
 * An earlier epoch's key shared with a member who joined after it (a topic whose history is shared,
 * docs/crypto.md "Shared history"): a seal of epoch `epoch` to a recipient its manifest does not list,
 * authorised by the later epoch `via_epoch`, which lists both the recipient and the sealer.
 */
export interface EpochHistorySeal extends EpochSeal {
  via_epoch: number;
}

/** A message under an epoch key (body_version 2); the sender and message id travel beside it. */
export interface EpochMessage {
  nonce: string;
  ciphertext: string;
  /** sender's signature over associated data ‖ 0x0A ‖ nonce ‖ ciphertext. */
  sig: string;
}

/**
 * An epoch ready for use: a checked manifest with its hash and the key it commits to. Built once per
 * epoch (epochContext, openEpochSeal, firstEpoch, nextEpoch) so hashing a large member list is not
 * repeated per message or per seal.
 */
export interface EpochContext {
  readonly manifest: EpochManifest;
  readonly manifestHash: string;
  readonly epochKey: Uint8Array;
  /** AEAD key of messages, derived from the epoch key; the raw epoch key encrypts nothing. */
  readonly messageKey: Uint8Array;
  readonly members: ReadonlySet<string>;
}

/** The outcome of verifying a manifest; never throws for malformed input. */
export type ManifestCheck =
  | { ok: true; manifest: EpochManifest; hash: string }
  | { ok: false; code: 'E_MANIFEST_INVALID' | 'E_BAD_SIGNATURE' | 'E_MANIFEST_CHAIN' | 'E_MANIFEST_UNAUTHORIZED'; message: string };
