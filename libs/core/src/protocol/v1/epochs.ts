import { z } from 'zod';
import { EpochMs, PubkeyHex, Signature, b64uBytes } from './primitives.js';

/**
 * Key epochs on the wire (docs/protocol.md §5.6, docs/crypto.md "Key epochs"). The broker orders and
 * stores manifests and seals; it never holds an epoch key. These schemas check the form; the
 * manifest's own rules (member order, creator among members, chain link, signature) are checked by
 * verifyManifest in @claudemesh/crypto, at the broker and again by every recipient.
 */
export const EPOCH_LIMITS = Object.freeze({
  /**
   * Members one manifest may list at this broker: 1 000 keys are about 67 KB of JSON, so a publish
   * with a full batch of seals, and an `epochs` page with its `missing` list, both fit one frame.
   * Below the crypto library's MAX_EPOCH_MEMBERS (10 000), which a frame could not carry.
   */
  maxMembers: 1000,
  /** Seals in one epoch_publish or epoch_seal (about 370 bytes each); the rest follow in epoch_seal frames. */
  maxSealsPerFrame: 256,
  /** Manifest bytes (as stored) in one `epochs` answer; at least one manifest is always sent. */
  maxPageManifestBytes: 128 * 1024,
});

/** `mesh` or `topic:<topic name>`. */
export const EpochScope = z.string().regex(/^(mesh|topic:[a-z0-9][a-z0-9_-]{0,63})$/, 'expected "mesh" or "topic:<topic name>"');
export const EpochNumber = z.number().int().min(1).max(2 ** 31 - 1);
const Hash32 = b64uBytes(32);

/** The signed fields, as docs/crypto.md defines them; order, uniqueness and the creator's presence are verifyManifest's checks. */
export const EpochManifestSchema = z.strictObject({
  v: z.literal(1),
  mesh_id: z.string().min(1).max(2048),
  scope: EpochScope,
  epoch: EpochNumber,
  prev_epoch_hash: Hash32.nullable(),
  members: z.array(PubkeyHex).min(1).max(EPOCH_LIMITS.maxMembers),
  reason: z.string().regex(/^[a-z][a-z_]{0,31}$/, 'expected ^[a-z][a-z_]{0,31}$'),
  created_by: PubkeyHex,
  created_at: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  key_commitment: Hash32,
});
export const SignedEpochManifestSchema = z.strictObject({ manifest: EpochManifestSchema, sig: Signature });

/** One member's copy of an epoch key: a sealed box (32-byte key + 48) signed by its sealer. */
export const EpochSealSchema = z.strictObject({
  recipient: PubkeyHex,
  sealer: PubkeyHex,
  sealed: b64uBytes(80),
  sig: Signature,
  /**
   * A history seal (docs/crypto.md "Shared history"): this epoch's key shared, in a topic whose
   * history is `shared`, with a member who joined at the later epoch `via_epoch`, which lists it and
   * the sealer. `epoch_seal` only.
   */
  via_epoch: EpochNumber.optional(),
});

/** Seals of one frame: one per recipient, so a frame never says two things about one member. */
export const EpochSeals = z
  .array(EpochSealSchema)
  .max(EPOCH_LIMITS.maxSealsPerFrame)
  .refine((s) => new Set(s.map((x) => x.recipient)).size === s.length, 'at most one seal per recipient');

/** A seal as the broker hands it out: with the epoch it opens. */
export const StoredEpochSeal = z.object({
  epoch: EpochNumber,
  recipient: PubkeyHex,
  sealer: PubkeyHex,
  sealed: b64uBytes(80),
  sig: Signature,
  /** A history seal: shared under this later epoch. */
  via_epoch: EpochNumber.optional(),
});

/** A manifest as stored and served: exactly what its creator signed, with when the broker accepted it. */
export const StoredEpochManifest = z.object({
  manifest: EpochManifestSchema,
  sig: Signature,
  manifest_hash: Hash32,
  accepted_at: EpochMs,
});

/** docs/protocol.md §5.6 "Rotation": why the current epoch must be rotated before the next send. */
export const EpochRotate = z.object({
  reason: z.enum(['member_removed', 'member_left', 'member_added', 'scheduled']),
  departed: z.array(PubkeyHex).max(EPOCH_LIMITS.maxMembers),
  joined: z.array(PubkeyHex).max(EPOCH_LIMITS.maxMembers),
  /** A topic whose history is `shared`, with joiners: whoever rotates also seals them the earlier epochs it holds. */
  share_history: z.literal(true).optional(),
});

/**
 * docs/protocol.md §5.6 "Scheduled rotation": beside the ack of a message stored under a scope's
 * current epoch when that epoch is near its scheduled rotation, so the sender rotates in the
 * background before the broker refuses a send. `remaining_messages`: messages the epoch still takes
 * (0: the next is refused); `due_at`: when its age bound passes. Null where that bound is off.
 */
export const EpochDue = z.object({
  epoch: EpochNumber,
  remaining_messages: z.number().int().nonnegative().nullable(),
  due_at: z.number().int().nonnegative().nullable(),
});
export type EpochDue = z.output<typeof EpochDue>;

/**
 * A page of a scope's epochs, as `epochs` (WebSocket) and `GET /api/v1/topics/:name/epochs` (REST)
 * answer it: manifests in order, the caller's own seals, and (for a member listed in the current
 * epoch) the members still without a seal.
 */
export const EpochsPage = z.object({
  scope: EpochScope,
  /** The scope's newest epoch; 0 when it has none. */
  current_epoch: z.number().int().nonnegative(),
  manifests: z.array(StoredEpochManifest),
  seals: z.array(StoredEpochSeal),
  missing: z.array(PubkeyHex).optional(),
  /**
   * For a member listed in the current epoch, when that epoch lists the wrong members (a revoked or
   * departed member, a joiner): what a sender would be told with E_EPOCH_STALE. A keyed member may
   * rotate at once rather than wait for the next sender (docs/protocol.md §5.6).
   */
  rotate: EpochRotate.optional(),
  /** More manifests follow: ask again after the last epoch of this page. */
  has_more: z.boolean(),
});
/** `GET /api/v1/topics/:name/epochs`: the manifests after this epoch (default 0: from the first). */
export const EpochsQuery = z.strictObject({ after_epoch: z.coerce.number().int().min(0).max(2 ** 31 - 1).default(0) });

/** `POST /api/v1/topics/:name/epochs`: epoch_publish without its type and req_id; the manifest's scope is the topic's. */
export const PublishEpochBody = z.strictObject({ manifest: SignedEpochManifestSchema, seals: EpochSeals });
/** `POST /api/v1/topics/:name/epochs/:epoch/seals`: epoch_seal's seals (scope and epoch are in the path). */
export const AddEpochSealsBody = z.strictObject({ seals: EpochSeals });
/** What a publish answers, as epoch_ack: the accepted epoch and its manifest hash. */
export const EpochAck = z.object({ scope: EpochScope, epoch: EpochNumber, manifest_hash: Hash32 });
/** What adding seals answers: how many were stored (a recipient's first seal of an epoch stays; a later one is not stored). */
export const EpochSealsAdded = z.object({ scope: EpochScope, epoch: EpochNumber, stored: z.number().int().nonnegative() });
/** `:epoch` in `POST /api/v1/topics/:name/epochs/:epoch/seals`. */
export const EpochParam = z.coerce.number().int().min(1).max(2 ** 31 - 1);

export type EpochScope = z.output<typeof EpochScope>;
export type EpochsPage = z.output<typeof EpochsPage>;
export type StoredEpochSeal = z.output<typeof StoredEpochSeal>;
export type StoredEpochManifest = z.output<typeof StoredEpochManifest>;
