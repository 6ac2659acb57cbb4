import { CryptoError, isCryptoError } from '@claudemesh/crypto';
import { ProtocolError } from '../protocol/v1/errors.js';
import type { ReceiptPolicy } from '../protocol/v1/primitives.js';
import type { ServerFrameMap } from '../protocol/v1/server-frames.js';
import { newClientId } from './client-id.js';
import { EpochKeyError, type EpochKeyring } from './epoch-keyring.js';
import { ensureFirstEpoch, publishRotation, rotateAhead, syncAfterStale, syncEpochs } from './epoch-sync.js';
import { sealedSendSlot, type SendSlot } from './send-window.js';
import type { MeshClient } from './mesh-client.js';
import { inboundOf } from './open-push.js';
import { meshMembersWithKeys } from './topic-crypto.js';
import type { Ack, InboundMessage } from './types.js';

/**
 * `@group` and `*` messages under the mesh scope's key epochs (docs/protocol.md §5.2 `send`,
 * body_version 2; docs/crypto.md "Group and broadcast messages under epochs"): sealing a send under
 * the current epoch, creating and rotating that epoch when needed, and opening what arrives.
 */

export const MESH_SCOPE = 'mesh';

/** Stale-epoch refusals followed before giving up (each means a member rotated or left meanwhile). */
const MAX_STALE_RETRIES = 4;

/** Why a push shows no message: it does not verify (refused), or its epoch's key has not reached this member. */
export type UnopenedReason = 'does_not_verify' | 'waiting_for_key' | 'does_not_open';

/** A push that did not open, with why; `reason` 'does_not_verify' is a forged or re-labelled message. */
export class UnopenedPushError extends Error {
  constructor(
    readonly reason: UnopenedReason,
    message: string,
  ) {
    super(message);
    this.name = 'UnopenedPushError';
  }
}

export interface MeshSendOptions {
  id?: string;
  receipts?: ReceiptPolicy;
}

async function syncOrRefuse(client: MeshClient, ring: EpochKeyring, scope: string): Promise<void> {
  const synced = await syncEpochs(client, ring, scope);
  if (synced.refused.length > 0) throw new ProtocolError('E_EPOCH_CONFLICT', `the broker's epochs of ${scope} do not verify: ${synced.refused[0]!.message}`);
}

/**
 * The mesh-scope half of a MeshClient holding a keyring. `changed` runs after the ring learned or
 * made an epoch (an application persists it then).
 */
export class MeshSealing {
  private ring: EpochKeyring | null;
  private readonly load: (() => Promise<EpochKeyring>) | null = null;
  private loading: Promise<EpochKeyring> | null = null;

  constructor(
    private readonly client: MeshClient,
    /** The keyring, or how to load it once connected (first asked at the first send or epoch push that needs it). */
    keyring: EpochKeyring | ((client: MeshClient) => Promise<EpochKeyring>),
    private readonly changed: () => void = () => undefined,
    /** Whether this member may create the mesh scope's epoch 1 (owner or admin). */
    private readonly mayCreate: () => boolean = () => false,
  ) {
    if (typeof keyring === 'function') {
      this.ring = null;
      this.load = () => keyring(client);
    } else {
      this.ring = keyring;
    }
  }

  /** The keyring, loading it on first use; a failed load is tried again at the next use. */
  private async keyring(): Promise<EpochKeyring> {
    if (this.ring) return this.ring;
    this.loading ??= this.load!().then(
      (ring) => (this.ring = ring),
      (error: unknown) => {
        this.loading = null;
        throw error;
      },
    );
    return this.loading;
  }

  /** Brings the ring up to the broker's mesh epochs. */
  async sync(): Promise<void> {
    await syncOrRefuse(this.client, await this.keyring(), MESH_SCOPE);
    this.changed();
  }

  /** True when a push can be opened without loading or fetching anything first. */
  canOpenNow(frame: ServerFrameMap['push']): boolean {
    return frame.key_epoch === undefined || (this.ring !== null && this.ring.context(MESH_SCOPE, frame.key_epoch) !== null);
  }

  /** Loads the ring and fetches the mesh epochs when a push names one it lacks; errors stay silent (the open reports them). */
  async prepareOpen(frame: ServerFrameMap['push']): Promise<void> {
    if (this.canOpenNow(frame)) return;
    try {
      const ring = await this.keyring();
      if (frame.key_epoch !== undefined && ring.context(MESH_SCOPE, frame.key_epoch) === null) await this.sync();
    } catch {
      // The open says why: the key is still missing.
    }
  }

  /**
   * Sends `@group` or `*` under the mesh's current epoch; syncs first when the ring holds none,
   * creates epoch 1 when the broker has none and this member may, and otherwise sends under the
   * mesh key through `legacy` (only while the mesh has no epoch). On E_EPOCH_STALE it rotates
   * (with `rotate`) or syncs, then seals again under a fresh client id: a refused send was not stored.
   */
  async send(to: string, plaintext: string | Uint8Array, options: MeshSendOptions, legacy: (id: string) => Promise<Ack>): Promise<Ack> {
    const ring = await this.keyring();
    // At most SEALED_SEND_WINDOW of this keyring's mesh-scope sends in flight, as for a topic's posts.
    const slot = await sealedSendSlot(ring, MESH_SCOPE);
    try {
      return await this.sendUnder(ring, to, plaintext, options, legacy, slot);
    } finally {
      slot.release();
    }
  }

  private async sendUnder(ring: EpochKeyring, to: string, plaintext: string | Uint8Array, options: MeshSendOptions, legacy: (id: string) => Promise<Ack>, slot: SendSlot): Promise<Ack> {
    if (ring.currentEpoch(MESH_SCOPE) === 0) await this.sync();
    for (let attempt = 0; ; attempt++) {
      const id = attempt === 0 && options.id !== undefined ? options.id : newClientId();
      try {
        if (ring.currentEpoch(MESH_SCOPE) === 0) {
          if (!this.mayCreate()) return await legacy(id);
          await ensureFirstEpoch(this.client, ring, MESH_SCOPE, () => meshMembersWithKeys(this.client));
          this.changed();
        }
        if (!ring.currentManifest(MESH_SCOPE)!.members.includes(this.client.memberPubkey) && this.mayCreate()) {
          // A joiner the current epoch does not list yet: an owner or admin makes the next one itself.
          await publishRotation(this.client, ring, MESH_SCOPE, { members: await meshMembersWithKeys(this.client), reason: 'member_added' });
          this.changed();
        }
        // Not under an epoch this client is replacing right now (rotateAhead: the broker would refuse
        // it), nor past the room its epoch has left while the next one is being made.
        await slot.ready();
        const epoch = ring.sendingEpoch(MESH_SCOPE);
        if (ring.proposedEpoch(MESH_SCOPE) === null && ring.context(MESH_SCOPE, epoch) === null) await this.sync();
        let sealed;
        try {
          sealed = ring.encrypt(MESH_SCOPE, id, plaintext, to);
        } catch (error) {
          if (error instanceof EpochKeyError && error.code === 'E_NO_KEY') throw new ProtocolError('E_FORBIDDEN', `no key of mesh epoch ${epoch} has reached this member yet: wait for a member to seal it, then send`);
          if (isCryptoError(error) && error.code === 'E_SENDER_UNAUTHORIZED') throw new ProtocolError('E_FORBIDDEN', `this member is not listed in mesh epoch ${epoch}: an owner, an admin or a listed member publishes the next epoch`);
          throw error;
        }
        slot.sealed(sealed.epoch);
        let ack: Ack;
        try {
          ack = await this.client.sendFrame({
            type: 'send', id, to, body_version: 2, key_epoch: sealed.epoch, nonce: sealed.message.nonce, ciphertext: sealed.message.ciphertext, sig: sealed.message.sig,
            ...(options.receipts ? { receipts: options.receipts } : {}),
          });
        } catch (error) {
          slot.answered();
          throw error;
        }
        slot.answered(ack.epoch_due);
        // Near the scheduled rotation: the next epoch is made in the background, so no send waits for it.
        if (ack.epoch_due) void rotateAhead(this.client, ring, MESH_SCOPE, ack.epoch_due)?.then((rotated) => rotated && this.changed());
        return ack;
      } catch (error) {
        if (!(error instanceof ProtocolError) || attempt >= MAX_STALE_RETRIES) throw error;
        if (error.code === 'E_EPOCH_STALE') {
          // As topicSendEncrypted: sync, and publish the next epoch when the broker asks (`rotate`).
          await syncAfterStale(this.client, ring, MESH_SCOPE, error, () => meshMembersWithKeys(this.client), 'the mesh scope');
          this.changed();
        } else if (error.code === 'E_EPOCH_REQUIRED') {
          await this.sync();
        } else {
          throw error;
        }
      }
    }
  }

  /**
   * Opens a body_version 2 push with the ring, for its sender, client id, epoch and target. Throws
   * UnopenedPushError: 'waiting_for_key' when the epoch's key has not reached this member,
   * 'does_not_verify' when the message is not what it claims (another target, epoch, sender or id,
   * or altered), 'does_not_open' for anything else.
   */
  open(frame: ServerFrameMap['push']): InboundMessage {
    if (frame.key_epoch === undefined || frame.sig === undefined || frame.kind === 'dm') throw new UnopenedPushError('does_not_verify', 'not a body_version 2 group or broadcast message');
    if (!this.ring) throw new UnopenedPushError('waiting_for_key', `the keyring is not loaded (mesh epoch ${frame.key_epoch})`);
    let body: Uint8Array;
    try {
      body = this.ring.decryptBytes(MESH_SCOPE, frame.key_epoch, frame.from.member_pubkey, frame.client_id, { nonce: frame.nonce, ciphertext: frame.ciphertext, sig: frame.sig }, frame.to);
    } catch (error) {
      if (error instanceof EpochKeyError && error.code === 'E_NO_KEY') throw new UnopenedPushError('waiting_for_key', `waiting for a key from a member (mesh epoch ${frame.key_epoch})`);
      if (error instanceof CryptoError && (error.code === 'E_BAD_SIGNATURE' || error.code === 'E_SENDER_UNAUTHORIZED' || error.code === 'E_FIELD_INVALID')) {
        throw new UnopenedPushError('does_not_verify', `does not verify for its sender, mesh epoch ${frame.key_epoch}, id and target ${frame.to}: ${error.message}`);
      }
      throw new UnopenedPushError('does_not_open', (error as Error).message);
    }
    return inboundOf(frame, body);
  }
}
